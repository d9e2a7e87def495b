"""Shadow challengers run after the reply and are stored by the champion's decision_id."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaskad import RecordExecutor, compile_pipeline
from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import read_shadow_decisions
from tests.execute.test_shadow import build
from tests.serve.conftest import running


def _stored(store: Path, decision_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        rows = read_shadow_decisions(str(store), [decision_id])
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_credit_shadow_is_stored_after_the_reply(example_dir: Path, tmp_path: Path) -> None:
    record = json.loads((example_dir / "data" / "applications.jsonl").read_text().splitlines()[0])
    path = example_dir / "pipeline.yaml"
    store = tmp_path / "store"
    config = ServeConfig(
        pipelines={"credit": PipelineFile(path)},
        allow_anonymous=True,
        decision_log=str(store),
        unkeyed_masking=True,
    )
    with running(config) as url:
        r = httpx.post(f"{url}/v1/pipelines/credit/decide", json=record, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert not [k for k in body if k.startswith("shadow.")]
        [row] = _stored(store, body["decision_id"], 1)
        metrics = httpx.get(f"{url}/metrics").text
    # the champion's model outputs and step times are observed, not the shadow's
    assert 'kaskad_score_count{output="pd",pipeline="credit"} 1.0' in metrics
    assert 'kaskad_score_count{output="fraud_score",pipeline="credit"} 1.0' in metrics
    assert 'kaskad_step_duration_seconds_count{pipeline="credit",step="credit_pd"} 1.0' in metrics
    assert 'kaskad_step_duration_seconds_count{pipeline="credit",step="antifraud"} 1.0' in metrics
    expected = RecordExecutor(compile_pipeline(path)).decide(record).output
    assert row["shadow"] == "credit_pd_v2"
    assert row["error"] is None
    assert row["output"]["pd"] == expected["shadow.credit_pd_v2.pd"]
    assert row["decision"] == expected["shadow.credit_pd_v2.decision"]
    assert body["decision"] == expected["decision"]


def test_failing_shadow_leaves_the_reply_200_and_stores_the_error(tmp_path: Path) -> None:
    path = build(tmp_path)
    store = tmp_path / "store"
    config = ServeConfig(
        pipelines={"p": PipelineFile(path)}, allow_anonymous=True, decision_log=str(store)
    )
    with running(config) as url:
        r = httpx.post(f"{url}/v1/pipelines/p/decide", json={"id": "c", "amount": 9000.0})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["decision"] == "review"
        rows = {row["shadow"]: row for row in _stored(store, body["decision_id"], 2)}
    assert "challenger feature exploded" in rows["fragile"]["error"]
    assert rows["fragile"]["decision"] is None
    assert rows["strict"]["error"] is None and rows["strict"]["decision"] == "review"


def test_full_shadow_queue_skips_and_counts(tmp_path: Path) -> None:
    path = build(tmp_path)
    config = ServeConfig(
        pipelines={"p": PipelineFile(path)},
        allow_anonymous=True,
        decision_log=str(tmp_path / "store"),
        shadow_queue_size=1,
    )
    with running(config) as url, httpx.Client(base_url=url, timeout=30) as client:
        for i in range(30):
            r = client.post("/v1/pipelines/p/decide", json={"id": str(i), "amount": 9000.0})
            assert r.status_code == 200, r.text
        metrics = client.get("/metrics").text
    skipped = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("kaskad_shadow_skipped_total{")
    )
    ran = {row["decision_id"] for row in read_shadow_decisions(str(tmp_path / "store"))}
    # every decision's shadows either ran (and were stored) or were counted as skipped
    assert len(ran) + skipped == 30
    assert len(ran) >= 1


@pytest.mark.parametrize("count", [3, 20])  # one by one, and as a frame (batch_threshold 8)
def test_decide_batch_shadows_run_after_the_reply(
    example_dir: Path, tmp_path: Path, count: int
) -> None:
    lines = (example_dir / "data" / "applications.jsonl").read_text().splitlines()[:count]
    records = [json.loads(line) for line in lines]
    path = example_dir / "pipeline.yaml"
    store = tmp_path / "store"
    config = ServeConfig(
        pipelines={"credit": PipelineFile(path)},
        allow_anonymous=True,
        decision_log=str(store),
        unkeyed_masking=True,
        batch_threshold=8,
    )
    with running(config) as url:
        r = httpx.post(f"{url}/v1/pipelines/credit/decide-batch", json=records, timeout=60)
        assert r.status_code == 200, r.text
        bodies = r.json()
        assert not [k for body in bodies for k in body if k.startswith("shadow.")]
        stored = {b["decision_id"]: _stored(store, b["decision_id"], 1) for b in bodies}
    executor = RecordExecutor(compile_pipeline(path))
    for record, body in zip(records, bodies, strict=True):
        expected = executor.decide(record).output
        [row] = stored[body["decision_id"]]
        assert row["shadow"] == "credit_pd_v2" and row["error"] is None
        assert row["output"]["pd"] == expected["shadow.credit_pd_v2.pd"]
        assert row["decision"] == expected["shadow.credit_pd_v2.decision"]
        assert body["decision"] == expected["decision"]
