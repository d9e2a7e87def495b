"""Releases carried in a bundle: numbers, stages and audit kept; every file checked; a
damaged or tampered bundle refused naming what is wrong. Releases-only bundles (no
wheelhouse) keep these tests fast; the wheelhouse has its own slow test."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaskad.cli.main import app
from kaskad.deliver import (
    BundleInstallError,
    BundleIntegrityError,
    build_bundle,
    install_bundle,
    verify_bundle,
)
from kaskad.deliver.layout import ROOT, unpack
from kaskad.registry.releases import create_release, load_release
from kaskad.store import LocalArtifactStore, Store

ACTOR = "release manager"


@pytest.fixture
def source(project: Path, tmp_path: Path) -> Iterator[Store]:
    """A store with releases 1 and 2 of the credit example: 1 promoted then 2, rolled back
    to 1 (production → 1), and 2 in shadow."""
    store = Store.open(tmp_path / "source")
    for _ in range(2):
        create_release(
            store,
            project / "pipeline.yaml",
            actor=ACTOR,
            golden_input=project / "data" / "applications.jsonl",
            golden_count=20,
        )
    store.set_stage("loan_decision", "production", 1, ACTOR)
    store.set_stage("loan_decision", "production", 2, ACTOR)
    store.rollback("loan_decision", "production", ACTOR)
    store.set_stage("loan_decision", "shadow", 2, ACTOR)
    yield store
    store.close()


def bundle_of(store: Store, tmp_path: Path, *refs: str) -> Path:
    out = tmp_path / f"bundle-{'-'.join(r.replace('@', '_') for r in refs)}.tar"
    build_bundle(store, list(refs), out, actor=ACTOR, wheels=False)
    return out


@pytest.mark.slow
def test_install_keeps_numbers_stages_history_and_audit(source: Store, tmp_path: Path) -> None:
    bundle = bundle_of(source, tmp_path, "loan_decision@2")  # only release 2 travels
    checked = verify_bundle(bundle)
    assert checked.manifest.releases == ["loan_decision@2"] and checked.wheels == []
    with Store.open(tmp_path / "target") as target:
        _, imported = install_bundle(bundle, target, actor="ops")
        assert [(i.ref, i.created, i.stages) for i in imported] == [
            ("loan_decision@2", True, ["shadow"])
        ]
        release = target.get_release("loan_decision", 2)
        original = source.get_release("loan_decision", 2)
        assert release == original  # number, plan, files, lock, golden, who and when
        assert target.stages("loan_decision") == {"shadow": 2}

        def moves(store: Store) -> list[tuple[str, int | None, str]]:
            return [
                (h.action, h.to_release, h.actor)
                for h in store.stage_history("loan_decision", "shadow")
            ]

        assert moves(target) == moves(source)
        actions = [(a.action, a.actor) for a in reversed(target.audit_log(target="loan_decision"))]
        assert actions[:2] == [("release.create", ACTOR), ("release.promote", ACTOR)]
        assert actions[-1] == ("release.import", "ops")
        entry = target.audit_log(action="release.import")[0]
        assert entry.detail["bundle_sha256"] == checked.sha256
        # The release runs here: its files, lock and golden cases verified at load.
        cache = tmp_path / "cache"
        loaded = load_release(target, "loan_decision@shadow", actor="ops", cache_root=cache)
        assert loaded.plan.hash == original.plan_hash
        assert all(c.ok for c in loaded.checks)
        # Installing again changes nothing.
        _, again = install_bundle(bundle, target, actor="ops")
        assert [(i.created, i.stages) for i in again] == [(False, [])]
        assert len(target.audit_log(action="release.import")) == 1


@pytest.mark.slow
def test_stage_history_with_rollbacks_arrives_whole(source: Store, tmp_path: Path) -> None:
    bundle = bundle_of(source, tmp_path, "loan_decision@1", "loan_decision@2")
    with Store.open(tmp_path / "target") as target:
        install_bundle(bundle, target, actor="ops")
        assert target.stages("loan_decision") == {"production": 1, "shadow": 2}
        moves = [(h.stage, h.action, h.to_release) for h in target.stage_history("loan_decision")]
        assert sorted(moves) == sorted(
            (h.stage, h.action, h.to_release) for h in source.stage_history("loan_decision")
        )
        # The rollback stack came along: rolling production back now has nowhere to go
        # (release 1 was its first), exactly as at the source.
        with pytest.raises(Exception, match="pointed at no other release"):
            target.rollback("loan_decision", "production", "ops")


@pytest.mark.slow
def test_existing_stage_is_left_alone_and_conflicting_number_refused(
    source: Store, project: Path, tmp_path: Path
) -> None:
    bundle = bundle_of(source, tmp_path, "loan_decision@1")
    with Store.open(tmp_path / "target") as target:
        (project / "rules" / "antifraud.yaml").write_text(
            (project / "rules" / "antifraud.yaml").read_text().replace("18", "21", 1)
        )
        create_release(target, project / "pipeline.yaml", actor="someone else")
        with pytest.raises(BundleInstallError, match=r"already has loan_decision@1 with plan"):
            install_bundle(bundle, target, actor="ops")
    with Store.open(tmp_path / "other") as other:
        install_bundle(bundle_of(source, tmp_path, "loan_decision@2"), other, actor="ops")
        other.set_stage("loan_decision", "production", 2, "ops")
        _, imported = install_bundle(bundle, other, actor="ops")
        assert imported[0].stages_kept == ["production"]
        assert other.stages("loan_decision")["production"] == 2


@pytest.mark.slow
def test_tampered_bundles_are_refused_naming_the_file(source: Store, tmp_path: Path) -> None:
    bundle = bundle_of(source, tmp_path, "loan_decision@production")
    folder = unpack(bundle, tmp_path / "unpacked")
    verify_bundle(folder)
    artifact = next((folder / "artifacts").rglob("*"))
    while artifact.is_dir():
        artifact = next(artifact.iterdir())
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes() + b"\n# changed")
    (folder / "releases" / "extra.txt").write_text("smuggled")
    with pytest.raises(BundleIntegrityError) as info:
        verify_bundle(folder)
    message = str(info.value)
    assert f"changed: {artifact.relative_to(folder).as_posix()}" in message
    assert "not in the manifest: releases/extra.txt" in message
    with Store.open(tmp_path / "target") as target, pytest.raises(BundleIntegrityError):
        install_bundle(folder, target, actor="ops")
    # An archive with a path leaving the bundle folder is refused before anything is read.
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        tar.add(folder / "MANIFEST.json", f"{ROOT}/MANIFEST.json")
        tar.add(folder / "MANIFEST.json", f"{ROOT}/../outside.json")
    with pytest.raises(BundleIntegrityError, match="unsafe or foreign path"):
        verify_bundle(evil)
    assert BundleIntegrityError.code == "K801"


@pytest.mark.slow
def test_cli_bundle_verify_and_install(source: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "b.tar"
    store = str(tmp_path / "source")
    made = runner.invoke(
        app, ["bundle", "loan_decision@production", "-o", str(out), "--no-wheels", "--store", store]
    )
    assert made.exit_code == 0, made.output
    assert "releases loan_decision@1" in made.output and "no wheels" in made.output
    shown = runner.invoke(app, ["bundle", "verify", str(out), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["releases"] == ["loan_decision@1"] and data["wheels"] == []
    target = str(tmp_path / "target")
    done = runner.invoke(app, ["bundle", "install", str(out), "--store", target, "--actor", "ops"])
    assert done.exit_code == 0, done.output
    assert "loan_decision@1: installed; stages production restored" in done.output
    out.write_bytes(out.read_bytes()[:-20000])  # cut short
    bad = runner.invoke(app, ["bundle", "verify", str(out)])
    assert bad.exit_code == 1
    missing = runner.invoke(
        app, ["bundle", "nothing@1", "-o", str(tmp_path / "n.tar"), "--no-wheels", "--store", store]
    )
    assert missing.exit_code == 1 and "nothing" in missing.output


def test_inside_the_image_only_build_inputs_may_be_missing() -> None:
    from kaskad.deliver.layout import Manifest, Target, compare

    files = {
        "wheelhouse/kaskad-0.1.0-py3-none-any.whl": "a" * 64,
        "wheelhouse/requirements.txt": "b" * 64,
        "Dockerfile": "c" * 64,
        "releases/loan_decision/1.json": "d" * 64,
        "artifacts/ee/" + "e" * 64: "e" * 64,
    }
    manifest = Manifest("now", "ci", "0.1.0", Target(), ["loan_decision@1"], files)
    in_image = {k: v for k, v in files.items() if k.startswith(("releases/", "artifacts/"))}
    compare(manifest, in_image, "image", releases_only=True)
    with pytest.raises(BundleIntegrityError, match="missing: Dockerfile"):
        compare(manifest, in_image, "image")
    del in_image["releases/loan_decision/1.json"]
    with pytest.raises(BundleIntegrityError, match=r"missing: releases/loan_decision/1.json"):
        compare(manifest, in_image, "image", releases_only=True)


@pytest.mark.slow
def test_install_into_postgresql(source: Store, tmp_path: Path, pg_database: str) -> None:
    """Stages point at releases by foreign key on PostgreSQL: release rows go in first."""
    bundle = bundle_of(source, tmp_path, "loan_decision@1", "loan_decision@2")
    artifacts = LocalArtifactStore(tmp_path / "pg-artifacts")
    with Store.open(pg_database, artifacts=artifacts) as target:
        _, imported = install_bundle(bundle, target, actor="ops")
        assert [i.ref for i in imported] == ["loan_decision@1", "loan_decision@2"]
        assert target.stages("loan_decision") == {"production": 1, "shadow": 2}
        assert target.get_release("loan_decision", 2) == source.get_release("loan_decision", 2)
