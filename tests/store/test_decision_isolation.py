"""A record the store refuses fails alone: the rest of its commit group is logged."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from kaskad.store import read_decisions
from kaskad.store.decisions import DecisionLog, DecisionRecord, RecordRefused

POISON = "\ud800"  # a lone surrogate: no UTF-8 form, no database can store it


def _record(i: int, poison: bool = False) -> DecisionRecord:
    value = POISON if poison else f"v{i}"
    return DecisionRecord(f"d-{i}", "aml", None, "h", "decided", {"x": value}, {"y": i})


def _flood(location: str) -> None:
    log = DecisionLog(location, queue_size=8192)
    poison_at = 2_345
    outcomes: dict[int, BaseException | None] = {}
    lock = threading.Lock()
    try:

        def client(k: int) -> None:
            for i in range(k, 4_000, 16):
                done: Future[None] = log.submit(_record(i, i == poison_at))
                error = done.exception(timeout=60)
                with lock:
                    outcomes[i] = error

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(client, range(16)))
        assert log.health() is None
    finally:
        log.close()
    failed = {i: e for i, e in outcomes.items() if e is not None}
    assert list(failed) == [poison_at], {i: repr(e) for i, e in list(failed.items())[:5]}
    assert isinstance(failed[poison_at], RecordRefused)
    assert failed[poison_at].code == "K606"
    logged = {row["decision_id"] for row in read_decisions(location)}
    assert logged == {f"d-{i}" for i in range(4_000) if i != poison_at}


@pytest.mark.slow
def test_poison_record_fails_alone_on_sqlite(tmp_path: Path) -> None:
    _flood(str(tmp_path / "store"))


@pytest.mark.slow
def test_poison_record_fails_alone_on_postgres(pg_database: str) -> None:
    _flood(pg_database)


@pytest.mark.parametrize("poison", [True, False])
def test_a_single_record_group_is_answered(tmp_path: Path, poison: bool) -> None:
    log = DecisionLog(str(tmp_path / "store"))
    try:
        error = log.submit(_record(1, poison)).exception(timeout=30)
    finally:
        log.close()
    assert isinstance(error, RecordRefused) if poison else error is None
