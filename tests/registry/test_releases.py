"""Releases: snapshots that run their own recorded version, verified before they run."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from kaskad import compile_pipeline
from kaskad.errors import ArtifactIntegrityError
from kaskad.registry import environment
from kaskad.registry.diff import diff_releases
from kaskad.registry.errors import EnvironmentMismatchError, GoldenMismatchError
from kaskad.registry.releases import create_release, load_release
from kaskad.store import Store

ACTOR = "an analyst"


def make_release(store: Store, project: Path, count: int = 40) -> Any:
    return create_release(
        store,
        project / "pipeline.yaml",
        actor=ACTOR,
        golden_input=project / "data" / "applications.jsonl",
        golden_count=count,
        description="test release",
    )


@pytest.mark.slow
def test_release_records_components_environment_and_golden(
    local_store: Store, project: Path, tmp_path: Path
) -> None:
    release = make_release(local_store, project)
    assert (release.pipeline, release.number, release.golden_count) == ("loan_decision", 1, 40)
    plan = compile_pipeline(project / "pipeline.yaml")
    assert release.plan_hash == plan.hash
    kinds = {c["kind"] for c in release.components}
    assert kinds == {"pipeline", "schema", "features", "python", "rules", "model"}
    assert "models/fraud.txt" in release.manifest["files"]
    assert "models/credit_pd_v2.onnx" in release.manifest["files"]  # the shadow's artifact
    assert release.environment["packages"]["scikit-learn"]
    # the compiler of the trees (models/kernels/native.py) is locked like the libraries
    assert release.environment["packages"]["llvmlite"] == metadata.version("llvmlite")
    loaded = load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=tmp_path / "c")
    assert loaded.plan.hash == release.plan_hash
    assert [c.name for c in loaded.checks] == ["artifacts", "environment", "plan", "golden"]
    assert all(c.ok for c in loaded.checks)
    assert make_release(local_store, project).number == 2


@pytest.mark.slow
def test_environment_mismatch_is_refused_with_a_table_and_override_is_audited(
    local_store: Store, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = environment.capture_environment()
    locked = {**real, "packages": {**real["packages"], "scikit-learn": "1.2.2"}}
    monkeypatch.setattr("kaskad.registry.releases.capture_environment", lambda *_: locked)
    make_release(local_store, project)
    with pytest.raises(EnvironmentMismatchError) as info:
        load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=tmp_path / "c")
    message = str(info.value)
    installed = real["packages"]["scikit-learn"]
    assert "package" in message and "expected (release lock)" in message
    assert any(
        line.split() == ["scikit-learn", "1.2.2", installed] for line in message.splitlines()
    )
    loaded = load_release(
        local_store,
        "loan_decision@1",
        actor="an operator",
        cache_root=tmp_path / "c",
        allow_environment_mismatch=True,
    )
    assert [m.package for m in loaded.overridden] == ["scikit-learn"]
    entry = local_store.audit_log(action="environment.override")[0]
    assert entry.actor == "an operator" and entry.target == "loan_decision@1"
    assert entry.before == {"scikit-learn": "1.2.2"}
    assert entry.after == {"scikit-learn": installed}


def test_one_changed_byte_in_a_stored_artifact_refuses_to_load(
    local_store: Store, project: Path, tmp_path: Path
) -> None:
    release = make_release(local_store, project, count=5)
    sha = release.manifest["files"]["models/fraud.txt"]
    stored = next(p for p in (tmp_path / "store").rglob(sha) if p.is_file())
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError) as info:
        load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=tmp_path / "c")
    assert "models/fraud.txt" in str(info.value)


@pytest.mark.slow
def test_release_runs_its_own_feature_code_after_the_file_changes(
    local_store: Store, project: Path, tmp_path: Path
) -> None:
    release = make_release(local_store, project, count=20)
    module = project / "features" / "credit.py"
    module.write_text(module.read_text().replace("ANNUAL_RATE = 0.18", "ANNUAL_RATE = 0.30"))
    changed = compile_pipeline(project / "pipeline.yaml")
    assert changed.hash != release.plan_hash
    loaded = load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=tmp_path / "c")
    assert loaded.plan.hash == release.plan_hash
    rate = (loaded.root / "features" / "credit.py").read_text()
    assert "ANNUAL_RATE = 0.18" in rate


@pytest.mark.slow
def test_golden_replay_catches_a_behaviour_change(
    local_store: Store, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_release(local_store, project, count=20)
    from kaskad.models import lightgbm_adapter

    cls = lightgbm_adapter.LightGBMAdapter
    batch, one = cls.predict_batch, cls.predict_one
    # as if a newer LightGBM computed scores a little differently
    monkeypatch.setattr(
        cls, "predict_batch", lambda self, x: {k: v + 1e-9 for k, v in batch(self, x).items()}
    )
    monkeypatch.setattr(
        cls, "predict_one", lambda self, row: {k: v + 1e-9 for k, v in one(self, row).items()}
    )
    # the newer library is met in a new process, where compiled kernels are checked
    # against it again (and fail: the library runs, and the replay sees its scores)
    from kaskad.models import kernels

    kernels.forget()
    with pytest.raises(GoldenMismatchError) as info:
        load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=tmp_path / "c")
    message = str(info.value)
    assert "20 of 20 golden cases changed" in message
    assert "fraud_score" in message and "(A0000001)" in message


@pytest.mark.slow
def test_promote_rollback_promote_history(local_store: Store, project: Path) -> None:
    make_release(local_store, project, count=2)
    make_release(local_store, project, count=2)
    local_store.set_stage("loan_decision", "production", 1, actor=ACTOR)
    local_store.set_stage("loan_decision", "production", 2, actor=ACTOR)
    local_store.rollback("loan_decision", "production", actor="an operator")
    assert local_store.resolve("loan_decision@production").number == 1
    local_store.set_stage("loan_decision", "production", 2, actor=ACTOR)
    history = local_store.stage_history("loan_decision", "production")
    assert [(h.from_release, h.to_release, h.action) for h in history] == [
        (None, 1, "promote"),
        (1, 2, "promote"),
        (2, 1, "rollback"),
        (1, 2, "promote"),
    ]
    actions = [e.action for e in local_store.audit_log(target="loan_decision@2")]
    assert "release.create" in actions


@pytest.mark.slow
def test_diff_shows_a_changed_rule_side_by_side(
    local_store: Store, project: Path, tmp_path: Path
) -> None:
    make_release(local_store, project, count=2)
    rules = project / "rules" / "aml_mandatory_control.yaml"
    rules.write_text(
        rules.read_text().replace(
            "operation.amount_rub >= 1000000", "operation.amount_rub >= 600000"
        )
    )
    make_release(local_store, project, count=2)
    diff = diff_releases(local_store, "loan_decision@1", "loan_decision@2", tmp_path / "c")
    assert [(c.kind, c.name, c.status) for c in diff.changes] == [
        ("rule", "aml_mandatory_control.cash_1m", "changed")
    ]
    change = diff.changes[0]
    assert change.before is not None and ">= 1000000" in change.before
    assert change.after is not None and ">= 600000" in change.after
