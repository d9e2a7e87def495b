from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaskad.serve import PipelineFile, ServeConfig, ServeConfigError, create_app
from tests.serve.conftest import ADMIN_KEY, AML, running

GOLDEN = AML.parent
RECORDS = [json.loads(line) for line in (GOLDEN / "input.jsonl").read_text().splitlines()]
EXPECTED = [json.loads(line) for line in (GOLDEN / "expected.jsonl").read_text().splitlines()]
P2P = RECORDS[5]

XML_P2P = """<?xml version="1.0"?>
<operation>
  <id>p2p-three-same-day</id>
  <day>2025-03-01</day>
  <kind>transfer</kind>
  <amount_rub>10.0</amount_rub>
  <transactions>
    <item><day>2025-03-01</day><counterparty_type>individual</counterparty_type></item>
    <item><day>2025-03-01</day><counterparty_type>individual</counterparty_type></item>
    <item><day>2025-03-01</day><counterparty_type>individual</counterparty_type></item>
    <item><day>2025-03-02</day><counterparty_type>individual</counterparty_type></item>
  </transactions>
</operation>"""

DECIDE = "/v1/pipelines/aml/decide"
XML = {"Content-Type": "application/xml"}


def _strip(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("decision_id", "duration_ms")}


def test_decide_json_gives_the_golden_decision(client: httpx.Client) -> None:
    r = client.post(DECIDE, json=P2P)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == EXPECTED[5]["decision"]
    assert {k: body[k] for k in EXPECTED[5]} == EXPECTED[5]
    assert len(body["decision_id"]) == 36 and body["plan_hash"] and body["release"] is None


def test_xml_body_gives_the_same_decision_as_json(client: httpx.Client) -> None:
    as_json = client.post(DECIDE, json=P2P).json()
    as_xml = client.post(DECIDE, content=XML_P2P, headers=XML)
    assert as_xml.status_code == 200, as_xml.text
    assert _strip(as_xml.json()) == _strip(as_json)


def test_wrong_shape_json_is_422_naming_the_fields(client: httpx.Client) -> None:
    r = client.post(DECIDE, json={"day": "March", "kind": "wire", "amount_rub": "a lot"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"id", "day", "kind", "amount_rub"} <= fields
    by_field = {e["field"]: (e["expected"], e["got"]) for e in r.json()["errors"]}
    assert by_field["id"] == ("a value", "nothing")
    assert by_field["day"] == ("a date as YYYY-MM-DD", "text 'March'")
    assert by_field["kind"] == ("one of the schema's allowed values", "'wire'")
    assert by_field["amount_rub"] == ("float", "text 'a lot'")
    assert client.post(DECIDE, json=[1, 2]).status_code == 422


def test_a_value_of_the_wrong_type_is_not_also_reported_missing(client: httpx.Client) -> None:
    r = client.post(DECIDE, json={"id": 5, "kind": "cash_in"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "field": "id",
            "problem": "expected string, got number 5",
            "expected": "string",
            "got": "number 5",
        }
    ]


def test_xml_with_bad_values_is_422_naming_the_fields(client: httpx.Client) -> None:
    xml = "<operation><id>x</id><amount_rub>many</amount_rub></operation>"
    r = client.post(DECIDE, content=xml, headers=XML)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["amount_rub"]


@pytest.mark.parametrize(
    "body",
    [
        "<operation><id>x</id>",  # malformed
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<operation><id>&b;</id></operation>",  # entity expansion
        '<?xml version="1.0"?><!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<operation><id>&x;</id></operation>",  # external entity
    ],
)
def test_malformed_or_unsafe_xml_is_422(client: httpx.Client, body: str) -> None:
    r = client.post(DECIDE, content=body, headers=XML)
    assert r.status_code == 422
    assert r.json()["code"] == "S422" and "root:" not in r.text


def test_malformed_json_422_unsupported_type_415_oversize_413(client: httpx.Client) -> None:
    r = client.post(DECIDE, content=b'{"id": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "malformed JSON" in r.json()["errors"][0]["problem"]
    r = client.post(DECIDE, content=b"id=1", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    big = {**P2P, "padding": "x" * (65 * 1024)}
    assert client.post(DECIDE, json=big).status_code == 413


def test_keys_401_and_403(aml_url: str) -> None:
    with httpx.Client(base_url=aml_url, timeout=10) as anon:
        assert anon.post(DECIDE, json=P2P).status_code == 401
        wrong = {"Authorization": "Bearer not-a-key"}
        assert anon.post(DECIDE, json=P2P, headers=wrong).status_code == 401
        assert anon.post(DECIDE, json=P2P, headers={"X-API-Key": ADMIN_KEY}).status_code == 200
        assert anon.get("/metrics").status_code == 401
        assert anon.get("/health").status_code == 200


def test_decide_key_cannot_read_metrics(client: httpx.Client) -> None:
    assert client.get("/metrics").status_code == 403


def test_unknown_pipeline_is_404(client: httpx.Client) -> None:
    r = client.post("/v1/pipelines/nope/decide", json=P2P)
    assert r.status_code == 404 and r.json()["code"] == "S404" and "aml" in r.json()["message"]


def test_health_ready_and_metrics(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and "aml" in ready["pipelines"]
    client.post(DECIDE, json=RECORDS[0])  # cash_1m hits
    client.post(DECIDE, json=RECORDS[3])  # cash_1m unknown
    client.post(DECIDE, json={"id": "x", "kind": "wire"})
    client.post(DECIDE, content=b"id=x", headers={"Content-Type": "text/plain"})
    client.post(DECIDE, content=b'{"id": ', headers={"Content-Type": "application/json"})
    text = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).text
    assert 'kaskad_requests_total{endpoint="decide",pipeline="aml",status="200"}' in text
    assert 'kaskad_rule_hits_total{pipeline="aml",rule="aml.cash_1m"}' in text
    assert 'kaskad_rule_unknowns_total{pipeline="aml",rule="aml.cash_1m"}' in text
    assert 'kaskad_rejections_total{field="kind",pipeline="aml",reason="schema"}' in text
    assert 'reason="unsupported_media_type"' in text
    assert 'kaskad_rejections_total{field="(record)",pipeline="aml",reason="unparsable"}' in text
    assert 'kaskad_step_duration_seconds_bucket{le="0.001",pipeline="aml",step="aml"}' in text
    assert 'kaskad_decisions_total{decision="report",pipeline="aml"}' in text
    assert "kaskad_request_duration_seconds_bucket" in text


@pytest.mark.parametrize("count", [3, 30])
def test_decide_batch_equals_individual_decides(client: httpx.Client, count: int) -> None:
    records = (RECORDS * 4)[:count]
    batch = client.post("/v1/pipelines/aml/decide-batch", json=records)
    assert batch.status_code == 200
    one_by_one = [client.post(DECIDE, json=r).json() for r in records]
    got = [_strip(b) for b in batch.json()]
    want = [_strip(o) for o in one_by_one]
    for o in want:  # a 422 body adds code/message around the same result
        o.pop("code", None), o.pop("message", None)
    assert got == want


def test_no_keys_refuses_to_start_unless_anonymous_is_explicit() -> None:
    with pytest.raises(ServeConfigError):
        create_app(ServeConfig(pipelines={"aml": PipelineFile(AML)}))
    config = ServeConfig(pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True)
    with running(config) as url:
        assert httpx.post(url + DECIDE, json=P2P, timeout=10).status_code == 200


def test_credit_example_with_models(example_dir: Path) -> None:
    record = json.loads((example_dir / "data" / "applications.jsonl").read_text().splitlines()[0])
    config = ServeConfig(
        pipelines={"credit": PipelineFile(example_dir / "pipeline.yaml")}, allow_anonymous=True
    )
    with running(config) as url:
        r = httpx.post(url + "/v1/pipelines/credit/decide", json=record, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "decided" and r.json()["decision"]
        many = httpx.post(url + "/v1/pipelines/credit/decide-batch", json=[record] * 10, timeout=30)
        assert [b["decision"] for b in many.json()] == [r.json()["decision"]] * 10
