"""The decision log through the store's public API, without a server: the writer (group
commit, plan records once, a bounded queue, health) and the readers, on SQLite and on a
real PostgreSQL.

The server's use of it (masked inputs, fingerprints, 503s) is tested in tests/serve."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kaskad.spec.common import ComponentRef
from kaskad.store import (
    DecisionLog,
    DecisionRecord,
    LogFull,
    NotFoundError,
    PlanRecord,
    ShadowRecord,
    StoreError,
    decision_detail,
    open_decision_log,
    read_decision_plans,
    read_decisions,
    read_shadow_decisions,
    rejection_shapes,
)

PLAN = "a" * 64
START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store")
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def log(location: str) -> Iterator[DecisionLog]:
    opened = DecisionLog(location)
    yield opened
    opened.close()


def decided(i: int) -> DecisionRecord:
    return DecisionRecord(
        decision_id=str(uuid.uuid4()),
        pipeline="aml",
        release="aml@1",
        plan_hash=PLAN,
        status="decided",
        input={"amount": i},
        output={"decision": "approve"},
        timings={"total": 0.5},
        at=START + dt.timedelta(seconds=i),
    )


def rejected(fingerprint: str, content_type: str, at: dt.datetime) -> DecisionRecord:
    return DecisionRecord(
        decision_id=str(uuid.uuid4()),
        pipeline="aml",
        release=None,
        plan_hash=PLAN,
        status="rejected",
        input=None,
        output=None,
        errors=[{"field": "day", "problem": f"bad at {at.isoformat()}"}],
        content_type=content_type,
        fingerprint=fingerprint,
        at=at,
    )


class Plan:
    hash = PLAN

    def all_components(self) -> list[ComponentRef]:
        return [ComponentRef("rules", "aml", "rules.yaml", "b" * 64)]


def test_records_are_committed_then_read_back(log: DecisionLog, location: str) -> None:
    plan = PlanRecord.of(Plan(), "aml", "aml@1")
    records = [decided(i) for i in range(20)]
    shadow = ShadowRecord(records[0].decision_id, "aml", "challenger", {"decision": "reject"})
    futures = [log.submit(plan), *map(log.submit, records), log.submit(shadow)]
    futures.append(log.submit(PlanRecord.of(Plan(), "aml", "aml@1")))  # the same plan again
    for future in futures:
        assert future.result(10) is None
    assert log.health() is None

    rows = read_decisions(location)
    assert [r["decision_id"] for r in rows] == [r.decision_id for r in records]
    assert rows[0]["input"] == {"amount": 0} and rows[0]["at"].tzinfo is not None
    assert [r["decision_id"] for r in read_decisions(location, [records[3].decision_id])] == [
        records[3].decision_id
    ]
    [stored] = read_shadow_decisions(location)
    assert (stored["shadow"], stored["decision"]) == ("challenger", "reject")
    plans = read_decision_plans(location)
    assert list(plans) == [PLAN]
    assert plans[PLAN]["components"] == [
        {"kind": "rules", "name": "aml", "source": "rules.yaml", "sha256": "b" * 64}
    ]

    detail = decision_detail(location, records[0].decision_id)
    assert detail["status"] == "decided" and detail["release"] == "aml@1"
    assert detail["components"] == plans[PLAN]["components"]
    assert detail["shadows"] == {"challenger": {"decision": "reject"}}
    with pytest.raises(NotFoundError, match="no decision 'nope'"):
        decision_detail(location, "nope")


def test_rejection_shapes_group_by_shape_newest_first(log: DecisionLog, location: str) -> None:
    minutes = [START + dt.timedelta(minutes=m) for m in range(4)]
    records = [
        rejected("json-shape", "application/json", minutes[0]),
        rejected("json-shape", "application/json", minutes[1]),
        rejected("xml-shape", "application/xml", minutes[2]),
        decided(0),
    ]
    for future in [log.submit(r) for r in records]:
        future.result(10)
    shapes = rejection_shapes(location)
    assert [(s.fingerprint, s.count) for s in shapes] == [("xml-shape", 1), ("json-shape", 2)]
    json_shape = shapes[1]
    assert (json_shape.first_at, json_shape.last_at) == (minutes[0], minutes[1])
    assert json_shape.problems == records[1].errors  # those of the latest
    assert rejection_shapes(location, since=minutes[2])[0].fingerprint == "xml-shape"
    assert rejection_shapes(location, pipeline="other") == []


def test_a_full_queue_refuses_at_once(tmp_path: Path) -> None:
    log = DecisionLog(str(tmp_path / "store"), queue_size=1)
    try:
        with pytest.raises(LogFull) as refused:
            for i in range(10_000):
                log.submit(decided(i))
        assert isinstance(refused.value, StoreError) and refused.value.code == "K604"
    finally:
        log.close()


def test_health_follows_the_store(pg_database: str) -> None:
    log = open_decision_log(pg_database)
    try:
        log.submit(decided(0)).result(10)
        assert log.health() is None
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("ALTER TABLE decisions RENAME TO decisions_away")
        with pytest.raises(Exception, match="decisions"):
            log.submit(decided(1)).result(10)
        assert log.health() == "the decision log's table is missing"
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("ALTER TABLE decisions_away RENAME TO decisions")
        assert log.health() is None  # recovers without traffic
    finally:
        log.close()
