"""Four eyes from the shell: the creator cannot approve, promotion waits for another
identity's approval, and every step is in the audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaskad.registry.environment import default_actor
from kaskad.registry.releases import create_release
from kaskad.store import Store
from tests.cli.test_cli import kaskad


@pytest.mark.slow
def test_promotion_to_a_guarded_stage_needs_another_persons_approval(
    project: Path, tmp_path: Path
) -> None:
    location = str(tmp_path / "store")
    args = ["--store", location]
    mine = kaskad("release", "create", str(project / "pipeline.yaml"), *args)
    assert mine.returncode == 0, mine.stderr
    with Store.open(location) as store:  # a release made by someone else (a CI job)
        create_release(store, project / "pipeline.yaml", actor="ci@buildhost")
    guarded = kaskad("release", "require-approval", "loan_decision", "--stage", "production", *args)
    assert guarded.returncode == 0, guarded.stderr
    assert "loan_decision@production requires approval" in guarded.stdout

    refused = kaskad("release", "promote", "loan_decision@1", "--to", "production", *args)
    assert refused.returncode == 1
    assert "K607 loan_decision@production requires approval" in refused.stderr
    own = kaskad("release", "approve", "loan_decision@1", "--actor", "risk", *args)
    assert own.returncode == 1 and "its creator cannot approve it" in own.stderr

    approved = kaskad("release", "approve", "loan_decision@2", "--actor", "model risk", *args)
    assert approved.returncode == 0, approved.stderr
    assert f"approvers: {default_actor()}" in approved.stdout
    promoted = kaskad("release", "promote", "loan_decision@2", "--to", "production", *args)
    assert promoted.returncode == 0, promoted.stderr

    audit = json.loads(kaskad("audit", "--json", "--limit", "3", *args).stdout)
    assert [(e["action"], e["target"]) for e in audit] == [
        ("release.promote", "loan_decision@2"),
        ("release.approve", "loan_decision@2"),
        ("stage.policy", "loan_decision@production"),
    ]
    assert audit[1]["actor"] == f"{default_actor()} (as model risk)"
    assert kaskad("audit", "verify", *args).returncode == 0
