"""The byte bound of the requests waiting for the decision log (``--queue-bytes``): while
the store is blocked and clients give up, large requests are refused with 503 (S530) and
``Retry-After`` instead of filling memory, and every accepted record is committed once the
store takes writes again."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kaskad.serve import ServeConfig
from kaskad.serve.budget import ByteBudget
from kaskad.serve.errors import ServeConfigError
from kaskad.store import read_decisions
from tests.serve.conftest import _free_port, start_server
from tests.serve.test_overload import _rss_kib

DECIDE = "/v1/pipelines/aml/decide"
PAD = 900 * 1024  # each request is about 0.9 MiB; the body limit is 1 MiB
QUEUE_BYTES = 4 << 20
REQUESTS = 160  # about 144 MiB sent while the store is blocked


def _big(n: int) -> dict[str, object]:
    return {"id": f"big-{n:04d}-" + "x" * PAD, "day": "2025-03-01", "kind": "cash_in"}


def _send(url: str, n: int) -> tuple[int, str]:
    """The status of request ``n`` ("gave up" when the client stopped waiting)."""
    try:
        r = httpx.post(url + DECIDE, json=_big(n), timeout=5)
    except httpx.TimeoutException:
        return n, "gave up"
    if r.status_code == 503:
        assert r.json()["code"] == "S530", r.text
        assert r.headers["retry-after"] == "1"
    return n, str(r.status_code)


@pytest.mark.slow
def test_blocked_store_keeps_memory_bounded_and_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(store, port, "--queue-bytes", str(QUEUE_BYTES), "--write-timeout", "60")
    try:
        for n in range(8):  # warm up with large bodies: the allocator's arenas exist
            assert _send(url, 10_000 + n)[1] == "200"
        before = _rss_kib(proc.pid)
        lock = sqlite3.connect(store / "kaskad.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # another process's long write: the writer waits
        try:
            with ThreadPoolExecutor(16) as pool:
                outcomes = dict(pool.map(lambda n: _send(url, n), range(REQUESTS)))
            during = _rss_kib(proc.pid)
        finally:
            lock.rollback()
            lock.close()
        deadline = time.monotonic() + 30
        while _send(url, 20_000)[1] != "200":  # the writer catches up
            assert time.monotonic() < deadline, "the store did not recover"
    finally:
        proc.terminate()
        proc.wait(30)
    counts = Counter(outcomes.values())
    assert counts["503"] > REQUESTS // 2, counts  # most are refused at once
    assert counts["gave up"] > 0, counts  # the rest wait for the blocked store
    assert set(counts) <= {"503", "gave up", "200"}, counts
    growth_mib = (during - before) / 1024
    assert growth_mib < 48, f"server RSS grew by {growth_mib:.0f} MiB during the fault"
    logged = {
        int(row["business_key"].split("-")[1])
        for row in read_decisions(str(store))
        if row["business_key"] and row["business_key"].startswith("big-")
    }
    accepted = {n for n, outcome in outcomes.items() if outcome != "503"}
    refused = {n for n, outcome in outcomes.items() if outcome == "503"}
    assert accepted <= logged  # every accepted request is committed, even abandoned ones
    assert not refused & logged  # a refused request left nothing behind


def test_budget_returns_bytes_only_when_records_are_durable() -> None:
    from concurrent.futures import Future

    budget = ByteBudget(100)
    assert budget.reserve(60) and not budget.reserve(41) and budget.reserve(40)
    pending: list[Future[None]] = [Future(), Future()]
    budget.release_after(60, pending)
    assert budget.used == 100  # the records still wait for the writer
    pending[0].set_result(None)
    assert budget.used == 100
    threading.Thread(target=pending[1].set_exception, args=(OSError("disk full"),)).start()
    deadline = time.monotonic() + 5
    while budget.used != 40:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    budget.release_after(40, [])
    assert budget.used == 0


def test_queue_bytes_below_the_body_limit_is_refused() -> None:
    with pytest.raises(ServeConfigError, match=r"queue_bytes \(1024\) is below the body limit"):
        ServeConfig({}, allow_anonymous=True, body_limit=2048, queue_bytes=1024)
