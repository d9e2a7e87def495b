"""Writer faults: the decision log times out instead of waiting, recovers by itself once
the fault ends, logs each fault and recovery once, and ``/ready`` agrees with
``/decide`` throughout."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import read_decisions
from tests.serve.conftest import AML, running

CASH = {"id": "cash-hit", "day": "2025-03-01", "kind": "cash_in", "amount_rub": 1e6}
DECIDE = "/v1/pipelines/aml/decide"


def _config(store: str) -> ServeConfig:
    return ServeConfig(
        pipelines={"aml": PipelineFile(AML)},
        allow_anonymous=True,
        decision_log=store,
        write_timeout_s=0.3,
    )


ANSWERED: list[str] = []  # decision ids answered 200, to compare with the log


def _agree(client: httpx.Client) -> int:
    """``/decide``'s status, after checking that ``/ready`` tells the same."""
    decided = client.post(DECIDE, json=CASH)
    if decided.status_code == 200:
        ANSWERED.append(decided.json()["decision_id"])
    ready = client.get("/ready")
    assert (decided.status_code == 200) == (ready.status_code == 200), (decided.text, ready.text)
    if decided.status_code != 200:
        assert decided.status_code == 503 and decided.json()["code"] == "S503"
        assert set(decided.json()) == {"code", "message", "error_id"}
        assert ready.json()["decision_log_error"] == "the store is locked: writes time out"
    return decided.status_code


def _fault_then_recover(
    client: httpx.Client, hold: Callable[[], None], release: Callable[[], None]
) -> float:
    assert _agree(client) == 200
    hold()
    try:
        start = time.monotonic()
        assert _agree(client) == 503
        assert time.monotonic() - start < 3  # timed out, did not wait for the lock
        assert _agree(client) == 503
    finally:
        release()
    ended = time.monotonic()
    while _agree(client) != 200:
        assert time.monotonic() - ended < 2, "not recovered within 2 s"
        time.sleep(0.05)
    return time.monotonic() - ended


@pytest.mark.slow
def test_sqlite_writer_times_out_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store"
    ANSWERED.clear()
    holder: list[sqlite3.Connection] = []

    def hold() -> None:  # another process's long write transaction
        conn = sqlite3.connect(store / "kaskad.db", isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        holder.append(conn)

    def release() -> None:
        holder.pop().rollback()

    with (
        caplog.at_level(logging.WARNING, "kaskad.store.decisions"),
        running(_config(str(store))) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        _fault_then_recover(client, hold, release)
        _fault_then_recover(client, hold, release)  # a second fault is noticed again
    faults = [r for r in caplog.records if "cannot write to the store" in r.message]
    recoveries = [r for r in caplog.records if "takes writes again" in r.message]
    assert len(faults) == 2 and len(recoveries) == 2, caplog.text
    logged = [r["decision_id"] for r in read_decisions(str(store))]
    assert sorted(logged) == sorted(ANSWERED)  # every 200 logged, no 503 logged


@pytest.mark.slow
def test_postgres_locked_table_times_out_and_recovers(pg_database: str) -> None:
    ANSWERED.clear()
    holder: list[psycopg.Connection[tuple[object, ...]]] = []

    def hold() -> None:
        conn = psycopg.connect(pg_database)
        conn.execute("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE")
        holder.append(conn)

    def release() -> None:
        conn = holder.pop()
        conn.rollback()
        conn.close()

    with running(_config(pg_database)) as url, httpx.Client(base_url=url, timeout=30) as client:
        _fault_then_recover(client, hold, release)
    logged = [r["decision_id"] for r in read_decisions(pg_database)]
    assert sorted(logged) == sorted(ANSWERED)
