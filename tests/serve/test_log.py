"""The durable decision log: masked inputs, full outputs, rejections with fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx

from kaskad import compile_pipeline
from kaskad.serve import PipelineFile, ServeConfig
from kaskad.serve.decision_log import shape_fingerprint
from kaskad.store import read_decision_plans, read_decisions
from tests.serve.conftest import AML, running

CASH = {"id": "cash-hit", "day": "2025-03-01", "kind": "cash_in", "amount_rub": 1e6}


def test_credit_decision_is_logged_with_sensitive_fields_masked(
    example_dir: Path, tmp_path: Path
) -> None:
    record = json.loads((example_dir / "data" / "applications.jsonl").read_text().splitlines()[0])
    passport = record["applicant"]["passport_number"]
    config = ServeConfig(
        pipelines={"credit": PipelineFile(example_dir / "pipeline.yaml")},
        allow_anonymous=True,
        decision_log=str(tmp_path / "store"),
        unkeyed_masking=True,  # the sha256 form is checked below
    )
    with running(config) as url:
        r = httpx.post(f"{url}/v1/pipelines/credit/decide", json=record, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    [row] = read_decisions(str(tmp_path / "store"), [body["decision_id"]])
    assert row["status"] == "decided"
    assert row["pipeline"] == "credit"
    assert row["plan_hash"] == body["plan_hash"]
    assert row["at"].tzinfo is not None
    masked = row["input"]["applicant"]["passport_number"]
    assert masked == "sha256:" + hashlib.sha256(passport.encode()).hexdigest()
    assert passport not in json.dumps(row, default=str)
    assert row["input"]["applicant"]["income"] == record["applicant"]["income"]
    assert row["output"]["decision"] == body["decision"]
    assert row["output"] == body
    assert row["timings"] and all(v >= 0 for v in row["timings"].values())
    assert row["errors"] == []
    # accepted requests keep their content type and shape too (the format sentinel)
    assert row["content_type"] == "application/json"
    assert row["fingerprint"] == shape_fingerprint(json.dumps(record).encode(), "json")
    # the plan hash leads to every component's content hash, the models' included
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    components = read_decision_plans(str(tmp_path / "store"))[row["plan_hash"]]["components"]
    assert {(c["kind"], c["name"], c["sha256"]) for c in components} == {
        (c.kind, c.name, c.sha256) for c in plan.all_components()
    }
    assert {"credit_pd", "fraud", "credit_pd_v2"} <= {c["name"] for c in components}


def test_each_plan_is_recorded_once(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True, decision_log=store
    )
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as c:
        for i in range(5):
            assert c.post("/v1/pipelines/aml/decide", json={**CASH, "id": str(i)}).is_success
    with running(config) as url:  # a restart records nothing new for the same plan
        assert httpx.post(f"{url}/v1/pipelines/aml/decide", json=CASH).is_success
    plans = read_decision_plans(store)
    assert len(plans) == 1
    [(plan_hash, row)] = plans.items()
    assert {d["plan_hash"] for d in read_decisions(store)} == {plan_hash}
    assert row["pipeline"] == "aml" and row["release"] is None


def test_rejections_are_logged_with_content_type_and_fingerprint(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True, decision_log=store
    )
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as c:
        xml = c.post(
            "/v1/pipelines/aml/decide",
            content=b"<op><day>March</day><kind>wire</kind></op>",
            headers={"content-type": "application/xml"},
        )
        wrong = c.post("/v1/pipelines/aml/decide", json={"operation": {"day": 1}})
        broken = c.post(
            "/v1/pipelines/aml/decide",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        plain = c.post(
            "/v1/pipelines/aml/decide", content=b"day=1", headers={"content-type": "text/plain"}
        )
        ok = c.post("/v1/pipelines/aml/decide", json=CASH)
    assert [x.status_code for x in (xml, wrong, broken, plain, ok)] == [422, 422, 422, 415, 200]
    ids = [x.json()["decision_id"] for x in (xml, wrong, broken, plain, ok)]
    rows = {row["decision_id"]: row for row in read_decisions(store)}
    assert set(rows) == set(ids)
    logged = [rows[i] for i in ids]
    assert [r["status"] for r in logged] == ["rejected"] * 4 + ["decided"]
    assert [r["content_type"] for r in logged[:4]] == [
        "application/xml",
        "application/json",
        "application/json",
        "text/plain",
    ]
    prints = [r["fingerprint"] for r in logged[:4]]
    assert all(p and len(p) == 64 for p in prints)
    assert len(set(prints)) == 4  # XML, wrong JSON shape, broken JSON, plain text differ
    assert all(r["errors"] for r in logged[:4])
    assert logged[1]["input"] == {"operation": {"day": 1}}


def test_fingerprint_depends_on_layout_not_values() -> None:
    a = shape_fingerprint(json.dumps({"x": 1, "y": {"z": "a"}}).encode(), "json")
    b = shape_fingerprint(json.dumps({"y": {"z": "b"}, "x": 2}).encode(), "json")
    c = shape_fingerprint(json.dumps({"x": 1, "y": {"w": "a"}}).encode(), "json")
    d = shape_fingerprint(b"<r><x>1</x><y><z>a</z></y></r>", "xml")
    assert a == b
    assert len({a, c, d}) == 3
