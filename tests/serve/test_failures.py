"""A step that fails for a record over HTTP: the fallback decision (or a problem with a
code and the decision id, never a bare 500), the failure in the decision log, metrics."""

from __future__ import annotations

from pathlib import Path

import httpx

from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import read_decisions
from tests.execute.failing_pipeline import build
from tests.serve.conftest import running

ERROR = "feature log_income: ValueError: income is missing"


def _config(tmp_path: Path, pipeline_fallback: bool) -> ServeConfig:
    path = build(tmp_path / "p", pipeline_fallback=pipeline_fallback)
    return ServeConfig(
        pipelines={"card": PipelineFile(path)},
        allow_anonymous=True,
        decision_log=str(tmp_path / "store"),
    )


def test_the_fallback_is_answered_and_the_failure_logged(tmp_path: Path) -> None:
    records = [
        {"id": "ok", "amount": 10.0, "income": 2.0},
        {"id": "no-income", "amount": 10.0},
    ]
    with running(_config(tmp_path, pipeline_fallback=True)) as url:
        ok = httpx.post(f"{url}/v1/pipelines/card/decide", json=records[0], timeout=30)
        failed = httpx.post(f"{url}/v1/pipelines/card/decide", json=records[1], timeout=30)
        batch = httpx.post(f"{url}/v1/pipelines/card/decide-batch", json=records * 40, timeout=30)
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
    assert ok.status_code == 200 and ok.json()["status"] == "decided"
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert (body["status"], body["decision"], body["reasons"]) == (
        "failed",
        "refer",
        ["step_failed"],
    )
    assert body["errors"] == [ERROR]
    [row] = read_decisions(str(tmp_path / "store"), [body["decision_id"]])
    assert row["status"] == "failed"
    assert row["errors"] == [
        {"field": None, "problem": "step_failed", "step": "feature log_income", "message": ERROR}
    ]
    assert row["output"] == body and "log_income" in row["timings"]
    # a list large enough for the batch executor fails the same records only
    items = batch.json()
    assert batch.status_code == 200
    assert [i["status"] for i in items] == ["decided", "failed"] * 40
    assert all(i["errors"] == [ERROR] and i["decision"] == "refer" for i in items[1::2])
    assert (
        'kaskad_step_failures_total{fallback="yes",pipeline="card",step="feature log_income"} 41.0'
        in metrics
    )


def test_without_a_fallback_a_problem_with_the_decision_id(tmp_path: Path) -> None:
    with running(_config(tmp_path, pipeline_fallback=False)) as url:
        r = httpx.post(
            f"{url}/v1/pipelines/card/decide", json={"id": "x", "amount": 1.0}, timeout=30
        )
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == "S510" and "feature log_income failed" in body["message"]
    assert body["decision"] is None and body["errors"] == [ERROR]
    [row] = read_decisions(str(tmp_path / "store"), [body["decision_id"]])
    assert row["status"] == "failed" and row["errors"][0]["message"] == ERROR
