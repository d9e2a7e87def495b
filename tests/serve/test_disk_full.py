"""A real I/O fault: the decision log's disk fills up, then has room again.

The store lives on a tiny tmpfs of its own (the tests run as root, so a folder's mode
cannot make it unwritable; a full file system can). While the disk is full, decisions
get 503 and ``/ready`` says not ready, no acknowledged decision is lost, and once room
is made decisions recover within seconds; the server's log names the fault. Skipped,
saying why, where tmpfs cannot be mounted (not root, or no ``CAP_SYS_ADMIN``).
"""

from __future__ import annotations

import errno
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import read_decisions
from tests.serve.conftest import AML, running

DECIDE = "/v1/pipelines/aml/decide"
CASH = {"id": "cash-hit", "day": "2025-03-01", "kind": "cash_in", "amount_rub": 1e6}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for the test (unmounted after)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the file system has no room left; the file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 4096, 512, 1):  # down to the last bytes
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


@pytest.mark.slow
def test_full_disk_gives_503_then_recovers(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = small_disk / "store"
    config = ServeConfig({"aml": PipelineFile(AML)}, allow_anonymous=True, decision_log=str(store))
    answered: list[str] = []
    with (
        caplog.at_level(logging.WARNING, "kaskad.store.decisions"),
        running(config) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):

        def decide() -> httpx.Response:
            r = client.post(DECIDE, json=CASH)
            if r.status_code == 200:
                answered.append(r.json()["decision_id"])
            return r

        for _ in range(20):
            assert decide().status_code == 200
        assert client.get("/ready").status_code == 200
        filler = _fill(small_disk)
        statuses = [decide().status_code for _ in range(200)]  # until the WAL has no room
        refused = statuses[statuses.index(503) :] if 503 in statuses else []
        assert refused, "the full disk never refused a decision"
        assert set(refused[-20:]) == {503}, statuses  # and keeps refusing while it is full
        failing = decide()
        assert failing.status_code == 503 and failing.json()["code"] == "S503"
        assert failing.headers["retry-after"] == "1"
        assert set(failing.json()) == {"code", "message", "error_id"}  # no internals
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["decision_log_error"] == "the store is full"

        filler.unlink()  # room again
        freed = time.monotonic()
        while decide().status_code != 200:
            assert time.monotonic() - freed < 5, "not recovered within 5 s of freeing room"
            time.sleep(0.1)
        recovered_s = time.monotonic() - freed
        assert client.get("/ready").status_code == 200
        for _ in range(10):
            assert decide().status_code == 200
    assert recovered_s < 5
    faults = [r.getMessage() for r in caplog.records if "cannot write to the store" in r.message]
    assert faults and "the store is full" in faults[0], caplog.text
    assert "full" in faults[0].split("):", 1)[1]  # the database's own words name the fault
    assert any("takes writes again" in r.message for r in caplog.records), caplog.text
    logged = {row["decision_id"] for row in read_decisions(str(store))}
    assert set(answered) <= logged  # every acknowledged decision is in the log
    assert len(logged & set(answered)) == len(answered)
