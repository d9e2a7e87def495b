"""``kaskad decisions``: rejected shapes and one decision, read back from a served log."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from kaskad.serve import PipelineFile, ServeConfig
from tests.cli.test_cli import kaskad
from tests.serve.conftest import AML, CASH, running

DECIDE = "/v1/pipelines/aml/decide"
XML = b"<operation><id>x</id><day>March</day><kind>cash_in</kind></operation>"


def test_rejected_shapes_and_one_decision_in_full(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True, decision_log=store
    )
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as client:
        decided = client.post(DECIDE, json=CASH).json()
        for i in range(3):  # the same wrong shape, other values
            client.post(DECIDE, json={"operation": {"id": str(i), "amount": i}})
        for _ in range(2):  # an upstream system that switched to XML with a bad date
            client.post(DECIDE, content=XML, headers={"Content-Type": "application/xml"})

    result = kaskad("decisions", "rejections", "--store", store, "--json")
    assert result.returncode == 0, result.stderr
    shapes = json.loads(result.stdout)
    assert [(s["content_type"], s["count"]) for s in shapes] == [
        ("application/xml", 2),
        ("application/json", 3),
    ]
    assert shapes[0]["problems"][0]["field"] == "day"
    assert len({s["fingerprint"] for s in shapes}) == 2

    table = kaskad("decisions", "rejections", "--store", store, "--since", "1h")
    assert table.returncode == 0, table.stderr
    assert "application/xml" in table.stdout and "day: expected a date" in table.stdout
    assert kaskad("decisions", "rejections", "--store", store, "--since", "soon").returncode == 1

    shown = kaskad("decisions", "show", decided["decision_id"], "--store", store)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["status"] == "decided" and detail["shadows"] == {}
    assert detail["plan_hash"] == decided["plan_hash"]
    assert detail["output"]["decision"] == decided["decision"]
    assert {c["kind"] for c in detail["components"]} == {"pipeline", "schema", "features", "rules"}
    assert all(len(c["sha256"]) == 64 for c in detail["components"])

    missing = kaskad("decisions", "show", "no-such-id", "--store", store)
    assert missing.returncode == 1 and "no decision 'no-such-id'" in missing.stderr
