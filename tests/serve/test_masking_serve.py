"""A server that logs sensitive fields needs a masking key, or an explicit choice of
unkeyed hashing (warned at every start); with a key the log holds only HMACs."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
from pathlib import Path

import httpx
import pytest

from kaskad.execute.masking import MaskingKey
from kaskad.serve import PipelineFile, ServeConfig, create_app
from kaskad.serve.errors import ServeConfigError
from kaskad.store import read_decisions
from tests.serve.conftest import AML, running

SECRET = b"a-masking-secret-for-the-tests"


def test_sensitive_fields_without_a_key_refuse_to_start(example_dir: Path, tmp_path: Path) -> None:
    pipelines = {"credit": PipelineFile(example_dir / "pipeline.yaml")}
    config = ServeConfig(pipelines, allow_anonymous=True, decision_log=str(tmp_path / "s"))
    with pytest.raises(ServeConfigError, match="credit have sensitive fields and no masking key"):
        create_app(config)


def test_unkeyed_masking_is_warned_at_every_start(
    example_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pipelines = {"credit": PipelineFile(example_dir / "pipeline.yaml")}
    config = ServeConfig(
        pipelines, allow_anonymous=True, decision_log=str(tmp_path / "s"), unkeyed_masking=True
    )
    with caplog.at_level(logging.WARNING, logger="kaskad.serve"):
        create_app(config)
        create_app(config)
    warnings = [r for r in caplog.records if "unkeyed masking" in r.getMessage()]
    assert len(warnings) == 2


def test_keyed_masking_on_every_path(example_dir: Path, tmp_path: Path) -> None:
    lines = (example_dir / "data" / "applications.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    passport = str(record["applicant"]["passport_number"])
    store = tmp_path / "store"
    config = ServeConfig(
        {"credit": PipelineFile(example_dir / "pipeline.yaml")},
        allow_anonymous=True,
        decision_log=str(store),
        masking_key=MaskingKey("k2025", SECRET),
    )
    wrong_type = {**record, "applicant": {**record["applicant"], "passport_number": 6223423370}}
    with running(config) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/v1/pipelines/credit/decide", json=record).status_code == 200
        as_list = client.post("/v1/pipelines/credit/decide", json=[record])
        rejected = client.post("/v1/pipelines/credit/decide", json=wrong_type)
        assert rejected.status_code == 422
        assert "6223423370" not in rejected.text
    rows = read_decisions(str(store))
    assert len(rows) == 3 and as_list.status_code in (200, 422)
    kept = json.dumps(rows, default=str)
    assert passport not in kept and "6223423370" not in kept
    expected = hmac.new(SECRET, passport.encode(), hashlib.sha256).hexdigest()
    assert f"hmac-sha256:k2025:{expected}" in kept


def test_a_sensitive_key_field_is_masked_in_the_logged_reply(tmp_path: Path) -> None:
    folder = tmp_path / "aml"
    shutil.copytree(AML.parent, folder)
    schema = folder / "schema.yaml"
    schema.write_text(
        schema.read_text().replace(
            "id: {type: string, required: true, key: true}",
            "id: {type: string, required: true, key: true, sensitive: true}",
        )
    )
    record = json.loads((folder / "input.jsonl").read_text().splitlines()[0])
    store = tmp_path / "store"
    config = ServeConfig(
        {"aml": PipelineFile(folder / "pipeline.yaml")},
        allow_anonymous=True,
        decision_log=str(store),
        masking_key=MaskingKey("k1", SECRET),
    )
    with running(config) as url:
        reply = httpx.post(f"{url}/v1/pipelines/aml/decide", json=record)
        assert reply.status_code == 200, reply.text
        assert reply.json()["id"] == record["id"]  # the caller gets its own key back
    [row] = read_decisions(str(store))
    assert json.dumps(record["id"]) not in json.dumps(row, default=str)
    assert str(row["output"]["id"]).startswith("hmac-sha256:k1:")
