"""Keeping the log: erasure by business key, pruning, monthly partitions on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest

from kaskad.store import DecisionLog, DecisionRecord, Store, read_decisions, verify
from kaskad.store.decision_keeping import decisions_by_key, iter_decisions, prune
from tests.audit.conftest import Served
from tests.cli.test_cli import kaskad


@pytest.mark.slow
def test_erasure_keeps_the_decision_verifiable_and_is_audited(served_200: Served) -> None:
    key = str(served_200.records[3]["application_id"])
    [before] = decisions_by_key(served_200.location, key)
    assert before["input"] is not None and verify(before) == []

    result = kaskad(
        "decisions", "erase", key, "--reason", "request 2025-117", "--store", served_200.location
    )
    assert result.returncode == 0, result.stderr
    [after] = decisions_by_key(served_200.location, key)
    assert after["input"] is None and after["erased_at"] is not None
    assert after["business_key"].startswith("sha256:")
    assert after["output"] == before["output"]  # the decision is kept (with the key fields)
    assert after["record_sha256"] == before["record_sha256"] and verify(after) == []
    [entry] = served_200.store.audit_log(action="decisions.erase")
    assert entry.detail["decisions"] == [before["decision_id"]]
    assert key not in json.dumps(entry.detail)

    replayed = kaskad("decisions", "replay", before["decision_id"], "--store", served_200.location)
    assert replayed.returncode == 3 and "its input was erased" in replayed.stdout
    again = kaskad("decisions", "erase", key, "--reason", "again", "--store", served_200.location)
    assert again.returncode == 0 and "1 already erased" in again.stdout


@pytest.mark.slow
def test_a_changed_record_no_longer_verifies(served_200: Served) -> None:
    [row] = read_decisions(served_200.location, [served_200.ids[0]])
    changed = {**row, "output": {**row["output"], "decision": "tampered"}}
    assert verify(changed) == ["the record does not match its sha256: it was changed after logging"]


@pytest.mark.slow
def test_prune_deletes_before_a_time_and_is_audited(served_200: Served) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    result = prune(served_200.location, future, "records-officer", "credit")
    assert result.decisions == 200 and result.shadows == 200
    assert read_decisions(served_200.location) == []
    [entry] = served_200.store.audit_log(action="decisions.prune")
    assert entry.actor == "records-officer" and entry.detail["decisions"] == 200


def test_postgres_log_is_partitioned_by_month(pg_database: str) -> None:
    store = Store.open(pg_database)
    log = DecisionLog(pg_database)
    months = [dt.datetime(2025, m, 15, tzinfo=dt.UTC) for m in (1, 2, 3)]
    for i, at in enumerate(months * 3):
        record = DecisionRecord(
            f"d{i}", "credit", "loan_decision@1", "p" * 64, "decided", {"id": i}, {"x": i},
            at=at, business_key=f"A{i}",
        )  # fmt: skip
        log.submit(record).result()
    log.close()
    with psycopg.connect(pg_database) as conn:
        parts = dict(
            conn.execute(
                "SELECT c.relname, count(d.*) FROM pg_inherits i"
                " JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent AND p.relname = 'decisions'"
                " LEFT JOIN decisions d ON d.tableoid = c.oid GROUP BY c.relname"
            ).fetchall()
        )
    # the three months' rows were made in the default partition (no partition yet)
    assert parts["decisions_default"] == 9
    from kaskad.store.decision_keeping import prepare_months

    made = prepare_months(pg_database, months[0], months[-1])
    assert made == ["decisions_y2025m01", "decisions_y2025m02", "decisions_y2025m03"]
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM decisions_default").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM decisions_y2025m02").fetchone() == (3,)
    assert [r["decision_id"] for r in decisions_by_key(pg_database, "A4")] == ["d4"]
    assert sum(len(c) for c in iter_decisions(pg_database, chunk=2)) == 9

    result = prune(pg_database, dt.datetime(2025, 3, 1, tzinfo=dt.UTC), "records-officer")
    assert result.partitions_dropped == ("decisions_y2025m01", "decisions_y2025m02")
    assert result.decisions == 6
    assert [r["decision_id"] for r in read_decisions(pg_database)] == ["d2", "d5", "d8"]
    assert [e.detail["decisions"] for e in store.audit_log(action="decisions.prune")] == [6]
    store.close()
