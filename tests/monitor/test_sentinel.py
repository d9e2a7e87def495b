"""The story kaskad was born from, end to end: a served pipeline on a PostgreSQL decision
log takes 4,000 JSON requests, then 30% of its traffic switches to XML with a field
renamed (still accepted, the field now missing). The format sentinel must fire within
500 requests of the switch, both in ``kaskad monitor --check`` and in the shipped
Prometheus alert rules fed the server's own ``/metrics`` (one scrape per 50 requests,
one minute apart for ``promtool``: 80 minutes of JSON, more than the rules' hour before)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kaskad.serve import PipelineFile, ServeConfig
from tests.cli.test_cli import kaskad
from tests.monitor.promtool import RULES, run
from tests.monitor.traffic import operations, renamed_xml
from tests.serve.conftest import AML, running

CLIENTS = 4
STEP = 50  # requests between two scrapes (one minute for promtool)
BEFORE, AFTER = 4_000, 500
FAMILIES = {"kaskad_inputs", "kaskad_decisions", "kaskad_field_missing", "kaskad_rule_unknowns"}


def _send(client: httpx.Client, ops: list[dict[str, Any]], xml: list[bool]) -> None:
    for op, as_xml in zip(ops, xml, strict=True):
        if as_xml:
            headers = {"content-type": "application/xml"}
            r = client.post("/v1/pipelines/aml/decide", content=renamed_xml(op), headers=headers)
        else:
            r = client.post("/v1/pipelines/aml/decide", json=op)
        assert r.status_code == 200, r.text


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value for the families the alert rules read."""
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name in FAMILIES:
            for s in family.samples:
                if s.name.endswith("_total"):
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                    out[f"{s.name}{{{labels}}}"] = s.value
    return out


def _promtool_test(scrapes: list[dict[str, float]], folder: Path) -> Path:
    """A ``promtool test rules`` file: the scrapes as input series, one a minute."""
    names = sorted({n for s in scrapes for n in s})
    series = [
        {"series": n, "values": " ".join(repr(s[n]) if n in s else "_" for s in scrapes)}
        for n in names
    ]
    switch = BEFORE // STEP  # the minute of the last scrape before the switch
    fired = switch + AFTER // STEP
    format_alert = {
        "exp_labels": {"severity": "critical", "pipeline": "aml", "content_type": "xml"},
        "exp_annotations": {
            "summary": "aml: more xml bodies than before",
            "description": "The share of xml requests to pipeline aml rose by more than 2 "
            "points against the hour before: an upstream system may have changed what it "
            "sends. Run `kaskad monitor aml --since 1h`.",
        },
    }
    missing_alert = {
        "exp_labels": {"severity": "critical", "pipeline": "aml", "field": "amount_rub"},
        "exp_annotations": {
            "summary": "aml: field amount_rub goes missing",
            "description": "The share of accepted records of aml without amount_rub rose by "
            "more than 5 points against the hour before.",
        },
    }
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{switch}m", "alertname": a, "exp_alerts": []}
                    for a in ("KaskadInputFormatChanged", "KaskadMissingRateJump")
                ]
                + [
                    {
                        "eval_time": f"{fired}m",
                        "alertname": "KaskadInputFormatChanged",
                        "exp_alerts": [format_alert],
                    },
                    {
                        "eval_time": f"{fired}m",
                        "alertname": "KaskadMissingRateJump",
                        "exp_alerts": [missing_alert],
                    },
                ],
            }
        ],
    }
    path = folder / "sentinel.test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    return path


@pytest.mark.slow
def test_xml_switch_fires_the_sentinel_within_500_requests(
    pg_database: str, tmp_path: Path
) -> None:
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True, decision_log=pg_database
    )
    ops = operations(BEFORE + AFTER, seed=11)
    scrapes: list[dict[str, float]] = []
    fired_after: int | None = None
    outputs: list[str] = []
    with (
        running(config) as url,
        ThreadPoolExecutor(CLIENTS) as pool,
    ):
        clients = [httpx.Client(base_url=url, timeout=30) for _ in range(CLIENTS)]
        try:
            scrapes.append(_samples(clients[0].get("/metrics").text))
            for start in range(0, BEFORE + AFTER, STEP):
                batch = ops[start : start + STEP]
                xml = [start >= BEFORE and i % 10 < 3 for i in range(len(batch))]
                parts = [
                    pool.submit(_send, c, batch[k::CLIENTS], xml[k::CLIENTS])
                    for k, c in enumerate(clients)
                ]
                for part in parts:
                    part.result()
                scrapes.append(_samples(clients[0].get("/metrics").text))
                if start + STEP > BEFORE and fired_after is None:
                    checked = kaskad(
                        "monitor", "aml", "--last", "500", "--check", "--store", pg_database
                    )
                    outputs.append(checked.stdout)
                    if checked.returncode == 1:
                        fired_after = start + STEP - BEFORE
                elif start + STEP == BEFORE:  # just before the switch: quiet
                    quiet = kaskad(
                        "monitor", "aml", "--last", "500", "--check", "--store", pg_database
                    )
                    assert quiet.returncode == 0, quiet.stdout
        finally:
            for c in clients:
                c.close()
    assert fired_after is not None and fired_after <= AFTER, outputs
    assert "ALARM format application/xml" in outputs[-1]
    assert "ALARM missing_rate input:amount_rub" in outputs[-1]
    report = json.loads(
        kaskad("monitor", "aml", "--last", "500", "--json", "--store", pg_database).stdout
    )
    assert report["format_sentinel"]["content_types"]["application/xml"] == 150
    # the alert rules, fed the server's own metrics
    result = run("test", "rules", str(_promtool_test(scrapes, tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
