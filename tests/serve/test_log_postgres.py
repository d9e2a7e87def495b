"""The decision log on a real PostgreSQL, and ``/ready`` following its health."""

from __future__ import annotations

import httpx
import psycopg

from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import read_decision_plans, read_decisions
from tests.serve.conftest import AML, CASH, running

DECIDE = "/v1/pipelines/aml/decide"


def _rename(url: str, old: str, new: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")


def test_postgresql_log_and_readiness_follow_the_store(pg_database: str) -> None:
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True, decision_log=pg_database
    )
    answered = []
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as client:
        first = client.post(DECIDE, json=CASH)
        assert first.status_code == 200, first.text
        answered.append(first.json()["decision_id"])
        assert client.get("/ready").status_code == 200

        # the table is gone (a failed migration, an operator's mistake): nothing can be logged
        _rename(pg_database, "decisions", "decisions_away")
        refused = client.post(DECIDE, json=CASH)
        assert refused.status_code == 503 and refused.json()["code"] == "S503"
        assert refused.headers["retry-after"]
        assert set(refused.json()) == {"code", "message", "error_id"}  # no SQL, no values
        assert "INSERT" not in refused.text and "cash" not in refused.text
        ready = client.get("/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "decision log failing"
        assert ready.json()["decision_log_error"] == "the decision log's table is missing"
        assert "127.0.0.1" not in ready.text and "postgres" not in ready.text

        # back: readiness recovers by itself (no decision needed), then decisions are logged
        _rename(pg_database, "decisions_away", "decisions")
        assert client.get("/ready").status_code == 200
        again = client.post(DECIDE, json=CASH)
        assert again.status_code == 200, again.text
        answered.append(again.json()["decision_id"])

    rows = read_decisions(pg_database)
    assert [r["decision_id"] for r in rows] == answered
    assert {r["plan_hash"] for r in rows} == set(read_decision_plans(pg_database))
    assert rows[0]["at"].tzinfo is not None
