"""The OpenAPI document generated from the served plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.serve import PipelineFile, ServeConfig
from kaskad.serve.openapi import openapi_schema
from tests.serve.conftest import running


@pytest.fixture(scope="module")
def plan(example_dir: Path) -> Plan:
    return compile_pipeline(example_dir / "pipeline.yaml")


@pytest.fixture(scope="module")
def document(plan: Plan) -> dict[str, Any]:
    return openapi_schema({"credit": plan})


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema["$ref"]
    assert ref.startswith("#/components/schemas/")
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def _validator(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator for one component, with the document's other components reachable."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)  # raises on an invalid document
    assert document["openapi"] == "3.1.0"
    json.dumps(document)  # serialisable as is


def test_paths_and_security(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert set(paths) == {
        "/v1/pipelines/credit/decide",
        "/v1/pipelines/credit/decide-batch",
        "/v1/pipelines/credit/promote",
        "/v1/pipelines/credit/rollback",
        "/v1/pipelines/credit/approve",
        "/health",
        "/ready",
        "/openapi.json",
        "/metrics",
    }
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer KEY",
    }
    assert schemes["apiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert document["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert paths["/health"]["get"]["security"] == []
    for endpoint in ("decide", "decide-batch"):
        post = paths[f"/v1/pipelines/credit/{endpoint}"]["post"]
        content = post["requestBody"]["content"]
        assert set(content) == {"application/json", "application/xml"}
        assert content["application/json"]["schema"] == content["application/xml"]["schema"]
        for status in ("401", "403", "404", "409", "413", "415", "422", "500", "503"):
            error = post["responses"][status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}


def test_admin_operations_are_described(document: dict[str, Any]) -> None:
    for action in ("promote", "rollback", "approve"):
        post = document["paths"][f"/v1/pipelines/credit/{action}"]["post"]
        assert set(post["requestBody"]["content"]) == {"application/json"}  # never XML
        statuses = set(post["responses"])
        assert {"200", "401", "403", "404", "409", "413", "422", "503"} <= statuses
        assert ("502" in statuses) == (action != "approve")
    promote = document["components"]["schemas"]["PromoteBody"]
    assert promote["required"] == ["release"] and promote["additionalProperties"] is False
    rollback = document["paths"]["/v1/pipelines/credit/rollback"]["post"]
    assert rollback["requestBody"]["required"] is False  # an empty body rolls back


def test_input_schema_of_the_credit_example(document: dict[str, Any]) -> None:
    post = document["paths"]["/v1/pipelines/credit/decide"]["post"]
    schema = _resolve(document, post["requestBody"]["content"]["application/json"]["schema"])
    props = schema["properties"]
    assert {"application_id", "channel", "amount", "applicant"} <= set(schema["required"])
    assert props["application_date"] == {"type": "string", "format": "date"}
    assert props["channel"] == {"type": "string", "enum": ["web", "mobile", "branch", "partner"]}
    assert props["amount"]["description"] == "Requested loan amount, RUB"
    applicant = props["applicant"]
    assert applicant["type"] == "object"
    assert applicant["required"] == ["age"]
    assert applicant["properties"]["income"] == {
        "type": ["number", "null"],
        "description": "Monthly income, RUB",
    }
    loans = props["previous_loans"]
    assert loans["type"] == ["array", "null"]
    item = loans["items"]
    assert item["type"] == "object"
    assert item["required"] == ["status"]
    assert item["properties"]["status"] == {
        "type": "string",
        "enum": ["closed", "active", "defaulted"],
    }
    assert item["properties"]["opened"] == {"type": ["string", "null"], "format": "date"}
    assert item["properties"]["days_overdue_max"] == {"type": ["integer", "null"]}


def test_output_schema_lists_every_result_field(document: dict[str, Any], plan: Plan) -> None:
    result = document["components"]["schemas"]["creditResult"]["properties"]
    for name, _ in plan.output_fields():
        assert name in result
    assert result["reasons"] == {"type": ["array", "null"], "items": {"type": "string"}}
    assert result["fraud_score"] == {"type": ["number", "null"]}
    assert result["antifraud.income_missing_online"]["enum"] == ["hit", "pass", "unknown", None]
    assert result["decision_id"] == {"type": "string", "format": "uuid"}


def test_live_answers_match_the_document(example_dir: Path, document: dict[str, Any]) -> None:
    lines = (example_dir / "data" / "applications.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines[:20]]
    config = ServeConfig(
        {"credit": PipelineFile(example_dir / "pipeline.yaml")}, allow_anonymous=True
    )
    inputs = _validator(document, "creditInput")
    results = _validator(document, "creditResult")
    rejected = _validator(document, "creditRejectedItem")
    errors = _validator(document, "Error")
    with running(config) as url, httpx.Client(base_url=url, timeout=30) as client:
        for record in records:
            inputs.validate(record)
            answer = client.post("/v1/pipelines/credit/decide", json=record)
            assert answer.status_code == 200
            results.validate(answer.json())
        batch = client.post(
            "/v1/pipelines/credit/decide-batch", json=[records[0], {"application_id": "x"}]
        )
        assert batch.status_code == 200
        first, second = batch.json()
        results.validate(first)
        rejected.validate(second)
        bad = client.post("/v1/pipelines/credit/decide", json={"application_id": "x"})
        assert bad.status_code == 422
        errors.validate(bad.json())
        assert not inputs.is_valid({"application_id": "x"})
