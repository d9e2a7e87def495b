"""The registry from the shell: releases, stages, audit, models, release references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaskad.registry import environment
from kaskad.registry.environment import default_actor
from kaskad.registry.releases import create_release
from kaskad.store import Store
from tests.cli.test_cli import kaskad


@pytest.mark.slow
def test_release_lifecycle_from_the_shell(project: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    pipeline = str(project / "pipeline.yaml")
    golden = str(project / "data" / "applications.jsonl")
    common = ["--store", store, "--actor", "an operator"]
    first = kaskad(
        "release", "create", pipeline, "--golden", golden, "--golden-count", "20", *common
    )
    assert first.returncode == 0, first.stderr
    assert "created release loan_decision@1" in first.stdout
    same = kaskad("release", "create", pipeline, *common)  # the plan is unchanged: refused
    assert same.returncode == 1 and "K950" in same.stderr and "loan_decision@1" in same.stderr
    assert kaskad("release", "create", pipeline, "--allow-unchanged", *common).returncode == 0
    assert (
        kaskad("release", "promote", "loan_decision@1", "--to", "production", *common).returncode
        == 0
    )
    assert (
        kaskad("release", "promote", "loan_decision@2", "--to", "production", *common).returncode
        == 0
    )
    rolled = kaskad("release", "rollback", "loan_decision", *common)
    assert rolled.returncode == 0 and "loan_decision@2 → loan_decision@1" in rolled.stdout
    assert (
        kaskad("release", "promote", "loan_decision@2", "--to", "production", *common).returncode
        == 0
    )
    history = kaskad("release", "history", "loan_decision", "--store", store)
    rows = [line.split("│")[2:6] for line in history.stdout.splitlines() if "production" in line]
    assert [[c.strip() for c in r] for r in rows] == [
        ["production", "promote", "—", "1"],
        ["production", "promote", "1", "2"],
        ["production", "rollback", "2", "1"],
        ["production", "promote", "1", "2"],
    ]
    audit = json.loads(kaskad("audit", "--json", "--store", store).stdout)
    assert [e["action"] for e in audit][:4] == [
        "release.promote",
        "release.rollback",
        "release.promote",
        "release.promote",
    ]
    assert all(e["actor"] == f"{default_actor()} (as an operator)" for e in audit)

    record = (project / "data" / "applications.jsonl").read_text().splitlines()[0]
    decided = kaskad("decide", "loan_decision@production", "--json", "--store", store, stdin=record)
    assert decided.returncode == 0, decided.stderr
    report = json.loads(decided.stdout)
    assert (
        report["trace"]["plan_hash"]
        == json.loads(
            kaskad("release", "show", "loan_decision@2", "--json", "--store", store).stdout
        )["plan_hash"]
    )
    missing = kaskad("decide", "loan_decision@7", "--store", store, stdin=record)
    assert missing.returncode == 1 and "has no release 7" in missing.stderr


def test_environment_mismatch_from_the_shell(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = environment.capture_environment()
    locked = {**real, "packages": {**real["packages"], "scikit-learn": "1.2.2"}}
    monkeypatch.setattr("kaskad.registry.releases.capture_environment", lambda *_: locked)
    with Store.open(tmp_path / "store") as store:
        create_release(store, project / "pipeline.yaml", actor="a data scientist")
    args = ["--store", str(tmp_path / "store"), "--actor", "an operator"]
    refused = kaskad("release", "verify", "loan_decision@1", *args)
    assert refused.returncode == 1
    assert "scikit-learn" in refused.stderr and "1.2.2" in refused.stderr
    assert real["packages"]["scikit-learn"] in refused.stderr
    allowed = kaskad("release", "verify", "loan_decision@1", "--allow-environment-mismatch", *args)
    assert allowed.returncode == 0, allowed.stderr
    audit = json.loads(
        kaskad(
            "audit",
            "--json",
            "--action",
            "environment.override",
            "--store",
            str(tmp_path / "store"),
        ).stdout
    )
    assert audit[0]["actor"] == f"{default_actor()} (as an operator)"
    assert audit[0]["before"] == {"scikit-learn": "1.2.2"}


def test_model_register_from_the_shell(project: Path, tmp_path: Path) -> None:
    store = ["--store", str(tmp_path / "store"), "--actor", "a data scientist"]
    result = kaskad(
        "model",
        "register",
        str(project / "models" / "fraud.txt"),
        "--name",
        "fraud",
        "--framework",
        "lightgbm",
        "--metrics",
        '{"auc": 0.8}',
        "--description",
        "fraud",
        "--training-data",
        str(project / "data" / "training.parquet"),
        *store,
    )
    assert result.returncode == 0, result.stderr
    assert "registered fraud version 1" in result.stdout
    shown = json.loads(kaskad("model", "show", "fraud@1", "--json", *store[:2]).stdout)
    assert [i["name"] for i in shown["inputs"]] == [
        "amount",
        "device_age_days",
        "debt_to_income",
        "is_online",
    ]
    assert shown["environment"]["packages"]["lightgbm"]
    assert shown["training_data"]["rows"] == 20_000
    assert len(shown["sample"]) == 20 and "score" in shown["sample"][0]["output"]
    bad = kaskad(
        "model",
        "register",
        str(project / "models" / "fraud.txt"),
        "--name",
        "x",
        "--framework",
        "sklearn",
        *store,
    )
    assert bad.returncode == 1 and "fraud.txt" in bad.stderr and "Traceback" not in bad.stderr
