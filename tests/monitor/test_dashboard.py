"""The shipped Grafana dashboard asks only for what a live kaskad server exposes: every
metric name in its PromQL is on ``/metrics`` (or is a recording rule the shipped alert
rules define)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kaskad.serve import PipelineFile, ServeConfig
from tests.monitor.promtool import RULES
from tests.serve.conftest import AML, CASH, running

DASHBOARD = RULES.parents[1] / "grafana" / "kaskad-monitoring.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exposed(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_of_the_dashboard_is_exposed(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs.append(dashboard["templating"]["list"][1]["query"])
    used = {name for e in exprs for name in re.findall(r"\b(kaskad_[a-z0-9_]+)", e)}
    recorded = {name for e in exprs for name in re.findall(r"\b(kaskad:[a-z0-9_:]+)", e)}
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)},
        allow_anonymous=True,
        decision_log=str(tmp_path / "store"),
    )
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/v1/pipelines/aml/decide", json=CASH).status_code == 200
        xml = b"<operation><id>x</id><kind>cash_in</kind><amount>5</amount></operation>"
        headers = {"content-type": "application/xml"}
        assert client.post("/v1/pipelines/aml/decide", content=xml, headers=headers).is_success
        text = client.get("/metrics").text
    names = exposed(text)
    assert len(used) >= 15
    assert not used - names, f"the dashboard asks for metrics no server exposes: {used - names}"
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert recorded <= {r["record"] for r in rules if "record" in r}
    # the monitoring series themselves, as the alert rules read them
    assert 'kaskad_inputs_total{content_type="xml",pipeline="aml",shape="' in text
    assert 'kaskad_field_missing_total{field="amount_rub",pipeline="aml"} 1.0' in text
    assert 'kaskad_field_missing_total{field="day",pipeline="aml"} 1.0' in text
