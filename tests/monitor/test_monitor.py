"""``kaskad monitor`` over a served release's decision log (SQLite): the reference frozen
from golden cases at ``release create``, a quiet window of JSON traffic, then XML bodies
with a field renamed caught by the format sentinel and the missing-rate test; the JSON,
terminal and HTML outputs; labels joined a day later; live drift."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from kaskad.monitor.live import LiveDrift
from kaskad.monitor.reference import reference_of
from kaskad.monitor.window import Thresholds, WindowSpec, monitor_window
from kaskad.serve import ReleaseRef, ServeConfig
from kaskad.store import read_decisions
from kaskad.store.monitoring import load_reference
from tests.cli.test_cli import kaskad
from tests.monitor.traffic import operations, renamed_xml, write_jsonl
from tests.serve.conftest import AML, NAME, running

XML = {"content-type": "application/xml"}


@pytest.fixture(scope="module")
def served_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A release of the AML pipeline whose reference was frozen from 1,000 golden cases,
    served with its decision log: 600 JSON requests, then 300 with 30% renamed XML."""
    tmp = tmp_path_factory.mktemp("monitor")
    location = str(tmp / "store")
    sample = write_jsonl(tmp / "sample.jsonl", operations(1000, seed=1))
    created = kaskad(
        "release", "create", str(AML), "--golden", str(sample), "--golden-count", "1000",
        "--store", location,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    config = ServeConfig(
        pipelines={"aml": ReleaseRef(f"{NAME}@1", location, tmp / "cache")},
        allow_anonymous=True,
        decision_log=location,
    )
    before, after = operations(600, seed=2), operations(300, seed=3, start=600)
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as client:
        for op in before:
            assert client.post("/v1/pipelines/aml/decide", json=op).status_code == 200
        for i, op in enumerate(after):
            if i % 10 < 3:
                r = client.post("/v1/pipelines/aml/decide", content=renamed_xml(op), headers=XML)
            else:
                r = client.post("/v1/pipelines/aml/decide", json=op)
            assert r.status_code == 200, r.text
    return location


@pytest.mark.slow
def test_release_create_freezes_the_reference_from_golden_cases(served_log: str) -> None:
    source, reference = load_reference(served_log, NAME, 1)
    assert source == f"golden cases of {NAME}@1" and reference["records"] == 1000
    series = reference["series"]
    assert series["input:amount_rub"]["kind"] == "numeric"
    assert len(series["input:amount_rub"]["edges"]) == 9
    assert series["input:kind"]["values"] == ["cash_in", "cash_out", "transfer"]
    assert series["rule:aml.cash_1m"]["values"] == ["hit", "pass", "unknown"]
    assert series["input:id"]["kind"] == "presence"  # an identifier: only its presence


def test_a_window_of_unchanged_json_traffic_is_quiet(served_log: str) -> None:
    rows = read_decisions(served_log)
    spec = WindowSpec("aml", since=rows[100]["at"], until=rows[600]["at"])
    report = monitor_window(served_log, spec)
    assert report["window"]["records"] == 500
    assert report["baseline"]["kind"] == "reference"
    assert report["format_sentinel"]["content_types"] == {"application/json": 500}
    assert report["alarms"] == []
    amount = next(f for f in report["fields"] if f["series"] == "input:amount_rub")
    assert amount["drift_test"]["alarm"] is False and amount["missing_rate"] == 0.0


def test_renamed_xml_fields_trip_the_sentinel(served_log: str) -> None:
    report = monitor_window(served_log, WindowSpec("aml", last=300))
    sentinel = report["format_sentinel"]
    assert sentinel["content_types"] == {"application/json": 210, "application/xml": 90}
    assert [n["value"] for n in sentinel["new_content_types"]] == ["application/xml"]
    assert len(sentinel["new_shapes"]) == 1 and sentinel["new_shapes"][0]["count"] == 90
    checks = {(a["check"], a["subject"]) for a in report["alarms"]}
    assert ("format", "application/xml") in checks
    assert ("missing_rate", "input:amount_rub") in checks
    assert ("unknown_rate", "rule:aml.cash_1m") in checks
    amount = next(f for f in report["fields"] if f["series"] == "input:amount_rub")
    assert amount["missing_rate"] == pytest.approx(0.3)
    # a stricter new-share threshold than the XML's 30% keeps the format check quiet
    calm = monitor_window(served_log, WindowSpec("aml", last=300), Thresholds(new_share=0.5))
    assert "format" not in {a["check"] for a in calm["alarms"]}


@pytest.mark.slow
def test_monitor_check_json_and_html(served_log: str, tmp_path: Path) -> None:
    html = tmp_path / "monitor.html"
    checked = kaskad(
        "monitor", "aml", "--last", "300", "--check", "--html", str(html), "--store", served_log
    )
    assert checked.returncode == 1
    assert "ALARM format application/xml" in checked.stdout
    assert "ALARM missing_rate input:amount_rub" in checked.stdout
    quiet = kaskad("monitor", "aml", "--last", "300", "--store", served_log)
    assert quiet.returncode == 0  # without --check, alarms are printed, not an exit code
    as_json = kaskad("monitor", "aml", "--last", "300", "--json", "--store", served_log)
    report = json.loads(as_json.stdout)
    assert report["format"] == "kaskad.monitor/1" and len(report["series"]["buckets"]) == 12
    page = html.read_text()
    assert "application/xml" in page and "<svg" in page and "always missing" not in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    wrong = kaskad("monitor", "aml", "--since", "soon", "--store", served_log)
    assert wrong.returncode == 1 and "write 30m, 24h, 7d or an ISO time" in wrong.stderr
    typo = kaskad("monitor", "aml_unknown", "--last", "300", "--check", "--store", served_log)
    assert typo.returncode == 1 and "no release of pipeline aml_unknown" in typo.stderr
    assert "did you mean aml_unknowns?" in typo.stderr.replace("\n", " ")


def test_labels_loaded_a_day_later_give_scikit_learns_auc(served_log: str, tmp_path: Path) -> None:
    rows = [r for r in read_decisions(served_log) if r["status"] == "decided"]
    rng = np.random.default_rng(5)
    labels = []
    for r in rows:
        amount = r["input"].get("amount_rub") or 0.0
        bad = rng.random() < (0.6 if amount > 200_000 else 0.1)
        later = (r["at"] + dt.timedelta(days=1)).isoformat()
        labels.append({"id": r["input"]["id"], "bad": int(bad), "seen": later})
    path = write_jsonl(tmp_path / "labels.jsonl", labels)
    loaded = kaskad(
        "labels", "load", str(path), "--pipeline", "aml", "--key", "id", "--label", "bad",
        "--at", "seen", "--store", served_log,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 900 labels for aml by id" in loaded.stdout
    report = kaskad("labels", "report", "aml", "--store", served_log, "--vintage", "day")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["labelled"] == 900
    # the same rows, scored by hand: the rule-hit count as the score
    truth = {r["id"]: r["bad"] for r in labels}
    scores = [r["output"]["aml.hit_count"] for r in rows]
    expected = roc_auc_score([truth[r["input"]["id"]] for r in rows], scores)
    from kaskad.monitor.labels import label_report

    by_hand = label_report(served_log, "aml", scores=["aml.hit_count"])
    assert by_hand["scores"]["aml.hit_count"]["auc"] == expected
    assert set(by_hand["by_decision"]) <= {"report", "review", "clear"}
    immature = label_report(served_log, "aml", maturity=dt.timedelta(days=1))
    assert immature["labelled"] == 0  # every decision is younger than a day
    bad = kaskad("labels", "load", str(path), "--pipeline", "aml", "--label", "nope")
    # a file without a column it needs: exit 2, as `backtest --label` (docs/cli.md)
    assert bad.returncode == 2 and "no column 'decision_id', 'nope'" in bad.stderr


def test_live_drift_alarms_on_a_shifted_window_only() -> None:
    def rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, object]]:
        return [
            {"status": "decided", "input": op, "output": {"decision": "clear"}}
            for op in operations(n, seed, shift=shift)
        ]

    live = LiveDrift(reference_of(rows(5000, 1), "test"), window=2000)
    assert {"decision", "input:amount_rub", "input:kind"} <= set(live.series)
    for row in rows(2000, 2):
        live.observe(row["input"], row["output"])  # type: ignore[arg-type]
    assert live.results and not any(r.alarm for r in live.results)
    for row in rows(2000, 3, shift=0.3):
        live.observe(row["input"], row["output"])  # type: ignore[arg-type]
    assert {r.series for r in live.results if r.alarm} == {"input:amount_rub"}
