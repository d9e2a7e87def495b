"""Registry references: a pipeline names ``registered: fraud@1`` or
``registered: credit_pd@production``; a release pins the version it resolved to."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from kaskad.compile.compiler import compile_pipeline
from kaskad.errors import SpecError
from kaskad.registry.diff import diff_releases
from kaskad.registry.models import register_model
from kaskad.registry.references import StoreResolver
from kaskad.registry.releases import create_release, load_release
from kaskad.store import Store

ACTOR = "a model owner"

FRAUD = "    artifact: models/fraud.txt\n    framework: lightgbm\n"
CREDIT = "    artifact: models/credit_pd.joblib\n    framework: sklearn\n"
CHALLENGER = "    artifact: models/credit_pd_v2.onnx\n    framework: onnx\n"


def referencing(
    project: Path, fraud: str = "fraud@1", credit: str = "credit_pd@production"
) -> Path:
    """The credit example's pipeline with its two models named in the registry."""
    pipeline = project / "pipeline.yaml"
    text = pipeline.read_text()
    assert FRAUD in text and CREDIT in text and CHALLENGER in text
    text = text.replace(FRAUD, f"    registered: {fraud}\n")
    text = text.replace(CREDIT, f"    registered: {credit}\n")
    text = text.replace(CHALLENGER, "    registered: challenger@latest\n")  # a shadow's model
    target = project / "registered.yaml"
    target.write_text(text)
    return target


def register_both(store: Store, project: Path) -> None:
    register_model(
        project / "models" / "fraud.txt",
        name="fraud",
        framework="lightgbm",
        store=store,
        actor=ACTOR,
    )
    register_model(
        project / "models" / "credit_pd.joblib",
        name="credit_pd",
        framework="sklearn",
        store=store,
        actor=ACTOR,
    )
    store.set_model_stage("credit_pd", "production", 1, ACTOR)
    register_model(
        project / "models" / "credit_pd_v2.onnx",
        name="challenger",
        framework="onnx",
        store=store,
        actor=ACTOR,
    )


def newer_credit_model(project: Path) -> Path:
    """The same model saved again, compressed: another artifact (another sha256)."""
    target = project / "models" / "credit_pd_v2.joblib"
    joblib.dump(joblib.load(project / "models" / "credit_pd.joblib"), target, compress=3)
    return target


@pytest.mark.slow
def test_release_pins_registered_versions_and_diff_shows_the_change(
    local_store: Store, project: Path, tmp_path: Path
) -> None:
    register_both(local_store, project)
    pipeline = referencing(project)
    cache = tmp_path / "cache"
    first = create_release(
        local_store,
        pipeline,
        actor=ACTOR,
        golden_input=project / "data" / "applications.jsonl",
        golden_count=30,
        cache_root=cache,
    )
    assert first.manifest["registered"] == {
        "fraud@1": "fraud@1",
        "credit_pd@production": "credit_pd@1",
        "challenger@latest": "challenger@1",
    }
    assert not any(rel.startswith("models/") for rel in first.manifest["files"])
    sources = {c["name"]: c["source"] for c in first.components if c["kind"] == "model"}
    assert sources["fraud"] == "registry fraud@1"
    assert sources["credit_pd"] == "registry credit_pd@1"

    # a newer model is registered and promoted: the release keeps the version it pinned
    v2 = register_model(
        newer_credit_model(project),
        name="credit_pd",
        framework="sklearn",
        store=local_store,
        actor=ACTOR,
    )
    v1 = local_store.get_model("credit_pd", 1)
    assert v2.version == 2 and v2.artifact_sha256 != v1.artifact_sha256
    local_store.set_model_stage("credit_pd", "production", 2, ACTOR)
    assert local_store.resolve_model("credit_pd@production").version == 2

    loaded = load_release(local_store, first.ref, actor=ACTOR, cache_root=cache)
    assert all(c.ok for c in loaded.checks)
    node = {n.name: n for n in loaded.plan.model_nodes()}["credit_pd"]
    assert node.artifact_sha256 == v1.artifact_sha256
    assert node.component.source == "registry credit_pd@1"

    second = create_release(local_store, pipeline, actor=ACTOR, cache_root=cache)
    assert second.manifest["registered"]["credit_pd@production"] == "credit_pd@2"
    assert second.plan_hash != first.plan_hash

    diff = diff_releases(local_store, first.ref, second.ref, cache)
    models = {c.name: c for c in diff.of_kind("model")}
    assert set(models) == {"credit_pd"}
    change = models["credit_pd"]
    assert change.status == "changed"
    assert change.before is not None and change.after is not None
    assert "registered credit_pd@1" in change.before and v1.artifact_sha256[:12] in change.before
    assert "registered credit_pd@2" in change.after and v2.artifact_sha256[:12] in change.after

    # each promotion is in the audit trail
    promotions = local_store.audit_log(action="model.promote")
    assert sorted((e.target, (e.after or {})["version"]) for e in promotions) == [
        ("model:credit_pd@production", 1),
        ("model:credit_pd@production", 2),
    ]


@pytest.mark.parametrize(
    ("fraud", "expected"),
    [
        ("fruad@1", "did you mean fraud?"),
        ("fraud@9", "model fraud has no version 9; versions: 1"),
        ("fraud@staging", "stage staging of model fraud points at no version"),
    ],
)
def test_unknown_registered_models_are_reported_with_a_code(
    local_store: Store, project: Path, tmp_path: Path, fraud: str, expected: str
) -> None:
    register_both(local_store, project)
    pipeline = referencing(project, fraud=fraud)
    with pytest.raises(SpecError) as info:
        compile_pipeline(pipeline, resolver=StoreResolver(local_store, tmp_path / "cache"))
    problems = info.value.problems
    assert [p.code for p in problems] == ["K307"]
    assert expected in problems[0].message and fraud in problems[0].message


def test_a_registered_model_without_a_store_is_reported(project: Path) -> None:
    with pytest.raises(SpecError) as info:
        compile_pipeline(referencing(project))
    assert {p.code for p in info.value.problems} == {"K307"}
    assert "give --store" in info.value.problems[0].message


def test_a_missing_store_is_reported_not_created(project: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-store"
    with pytest.raises(SpecError) as info:
        compile_pipeline(referencing(project), resolver=StoreResolver(str(missing), tmp_path))
    assert {p.code for p in info.value.problems} == {"K307"}
    assert f"no store at {missing}" in info.value.problems[0].message
    assert not missing.exists()
