"""The run log on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kaskad.errors import NotFoundError, StoreError
from kaskad.store import Store
from kaskad.store.api import RunRecord

START = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def add_run(store: Store, pipeline: str = "loan_decision", **overrides: Any) -> RunRecord:
    values: dict[str, Any] = {
        "pipeline": pipeline,
        "plan_hash": "a" * 64,
        "input": "applications.parquet",
        "output": "decisions.parquet",
        "status": "completed",
        "rows_in": 10_000_000_000,  # more than 32 bits hold
        "decided": 9_999_999_990,
        "rejected": 10,
        "decisions": {"approve": 9_000_000_000, "reject": 999_999_990},
        "rejections": {"channel": {"not an allowed value": 10}},
        "rules": {"aml.cash_1m": {"hit": 5, "pass": 9_999_999_980, "unknown": 5}},
        "started_at": START,
        "finished_at": START + dt.timedelta(minutes=20),
        "duration_s": 1200.0,
        "actor": "ops@batch",
    }
    values.update(overrides)
    return store.add_run(**values)


def test_runs_are_kept_and_listed_newest_first(store: Store) -> None:
    first = add_run(store)
    failed = add_run(
        store, status="failed", error="in.jsonl: line 8, column amount: cannot read 'x' as float"
    )
    other = add_run(store, "aml_screening", release="aml_screening@2")
    assert first.id < failed.id < other.id
    assert first.rows_in == 10_000_000_000 and first.rows_per_s == pytest.approx(
        10_000_000_000 / 1200
    )
    assert first.started_at == START and first.finished_at.tzinfo is not None
    assert first.rejections == {"channel": {"not an allowed value": 10}}
    assert [r.id for r in store.list_runs()] == [other.id, failed.id, first.id]
    assert store.list_runs(pipeline="loan_decision") == [failed, first]
    assert store.list_runs(limit=1) == [other]
    assert store.get_run(failed.id) == failed
    assert failed.status == "failed" and failed.error is not None and "line 8" in failed.error
    assert other.release == "aml_screening@2"
    assert store.audit_log() == []  # runs are a log of their own, not registry changes


def test_run_errors(store: Store) -> None:
    with pytest.raises(NotFoundError, match="there is no run 42"):
        store.get_run(42)
    with pytest.raises(StoreError, match="run status must be one of completed, failed"):
        add_run(store, status="half-done")
    with pytest.raises(StoreError, match="decisions cannot be stored as JSON"):
        add_run(store, decisions={"approve": float("nan")})
    assert store.list_runs() == []
