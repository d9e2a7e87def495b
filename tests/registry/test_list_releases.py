"""A reference list is released on its own: updating only its file makes a release whose
diff is exactly that list's entries, and the release runs from its own snapshot."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from kaskad import RecordExecutor
from kaskad.cli.main import app
from kaskad.registry.diff import diff_releases
from kaskad.registry.releases import create_release, load_release
from kaskad.store import Store

AML = Path(__file__).resolve().parents[2] / "examples" / "aml"
ACTOR = "a compliance analyst"


def test_a_list_update_is_a_release_whose_diff_is_that_list(
    local_store: Store, tmp_path: Path
) -> None:
    project = tmp_path / "aml"
    shutil.copytree(AML, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    first = create_release(local_store, project / "pipeline.yaml", actor=ACTOR)
    countries = project / "lists" / "high_risk_countries.csv"
    text = countries.read_text().replace("YE,FATF increased monitoring\n", "")
    countries.write_text(
        text.replace("HT,FATF increased monitoring", "HT,FATF call for action")
        + "VU,FATF increased monitoring\n"
    )
    second = create_release(local_store, project / "pipeline.yaml", actor=ACTOR)
    assert first.plan_hash != second.plan_hash
    before = {c["name"]: c["sha256"] for c in first.components}
    after = {c["name"]: c["sha256"] for c in second.components}
    assert {n for n in before if before[n] != after[n]} == {"high_risk_countries"}

    diff = diff_releases(local_store, "aml_control@1", "aml_control@2", tmp_path / "cache")
    assert [(c.kind, c.name, c.status, c.before, c.after) for c in diff.changes] == [
        (
            "list",
            "high_risk_countries[HT]",
            "changed",
            "listed_by='FATF increased monitoring'",
            "listed_by='FATF call for action'",
        ),
        (
            "list",
            "high_risk_countries[YE]",
            "removed",
            "listed_by='FATF increased monitoring'",
            None,
        ),
        ("list", "high_risk_countries[VU]", "added", None, "listed_by='FATF increased monitoring'"),
    ]

    countries.unlink()  # each release runs from its own snapshot of the list
    old = RecordExecutor(
        load_release(local_store, "aml_control@1", actor=ACTOR, cache_root=tmp_path / "c1").plan
    )
    new = RecordExecutor(
        load_release(local_store, "aml_control@2", actor=ACTOR, cache_root=tmp_path / "c2").plan
    )
    record = {
        "operation_id": "1",
        "client_id": "c",
        "operation": {"kind": "transfer_in", "amount_rub": 10.0, "country": "YE"},
        "transactions": [],
    }
    assert old.decide(record).output["mandatory_control.high_risk_jurisdiction"] == "hit"
    assert new.decide(record).output["mandatory_control.high_risk_jurisdiction"] == "pass"

    shown = CliRunner().invoke(
        app,
        ["release", "diff", "aml_control@1", "aml_control@2", "--store", str(tmp_path / "store")],
        env={"COLUMNS": "200"},
    )
    assert shown.exit_code == 0, shown.output
    assert "high_risk_countries[VU]" in shown.output and "added" in shown.output
