"""``kaskad decisions explain``: a refused application in plain language and as HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaskad.store import Store
from tests.audit.conftest import applications, serve_and_decide
from tests.cli.test_cli import kaskad


@pytest.mark.slow
def test_a_refused_application_names_its_branch_rules_and_missing_inputs(
    example_dir: Path, released: tuple[Store, str, Path], tmp_path: Path
) -> None:
    store, location, cache = released
    record = applications(example_dir, 1)[0]
    record["applicant"]["age"] = 15  # type: ignore[index]
    record["operation"] = {"kind": "cash_out", "amount_rub": None, "day": "2025-03-01"}
    [decision_id] = serve_and_decide(store, location, cache, [record])

    result = kaskad("decisions", "explain", decision_id, "--store", location, "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["decision"] == "reject" and facts["reasons"] == ["applicant_data"]
    branches = facts["branches"]
    assert [b["matched"] for b in branches] == [False, True]
    assert branches[0]["when"] == "aml_mandatory_control.any_hit"
    assert branches[1]["values"] == {"antifraud.underage_or_implausible_age": "hit"}
    rules = {r["id"]: r for rs in facts["rulesets"] for r in rs["rules"]}
    assert rules["underage_or_implausible_age"]["outcome"] == "hit"
    assert rules["underage_or_implausible_age"]["description"] == (
        "Applicant younger than 18 or older than 100"
    )
    assert rules["cash_1m"]["outcome"] == "unknown"
    assert rules["cash_1m"]["missing"] == ["operation.amount_rub"]
    assert rules["many_p2p_operations"]["description"].startswith("Более 30 операций")
    assert [a["action"] for a in facts["approvals"]] == ["release.create", "release.promote"]
    assert {m["name"] for m in facts["models"]} == {"fraud", "credit_pd"}
    assert facts["challengers"][0]["name"] == "credit_pd_v2"
    assert facts["integrity"] == ["input and record hashes verify"]

    page = tmp_path / "explain.html"
    text = kaskad("decisions", "explain", decision_id, "--store", location, "--html", str(page))
    assert text.returncode == 0, text.stderr
    assert "branch 2 matched" in text.stdout and "missing: operation.amount_rub" in text.stdout
    html = page.read_text()
    assert "Applicant younger than 18 or older than 100" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
