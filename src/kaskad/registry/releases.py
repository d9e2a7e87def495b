"""Releases: immutable snapshots of a pipeline, verified before they may run.

A release stores every file the pipeline reads (its YAML, schema, rule and feature
files, Python feature modules, model artifacts) in the content-addressed artifact
store, with the environment lock and golden cases. Loading a release writes those
exact files into a cache folder (checking every hash), compiles them, checks that the
plan hash is the recorded one, that the installed packages match the lock, and that
the golden cases reproduce in both executors. Files changed on disk later do not
affect a release: it always runs its own recorded version.

The lock records the version each model artifact was saved with where it is not the
installed one (a scikit-learn model pickled under another minor version), so such a
release is refused with the expected-vs-installed table. An explicit override
(``allow_environment_mismatch``) loads it: the model's library warnings are kept on the
model (and in the decide trace) and written to the audit entry, which is written only once
the release has loaded and verified; a failed load leaves no "loaded" entry.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.compile.registered import REGISTRY_PREFIX
from kaskad.features import only_verified
from kaskad.models import ModelAdapter, default_cache
from kaskad.registry import golden
from kaskad.registry.environment import (
    Mismatch,
    capture_environment,
    compare_environment,
    packages_for,
    python_version,
)
from kaskad.registry.errors import (
    EnvironmentMismatchError,
    GoldenMismatchError,
    ReleaseError,
    UnchangedPlanError,
)
from kaskad.registry.references import StoreResolver
from kaskad.store.api import Release
from kaskad.store.store import Store


@dataclass(frozen=True)
class Check:
    """One verification step and what it found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class LoadedRelease:
    """A verified release, ready to run."""

    release: Release
    plan: Plan
    root: Path
    checks: list[Check] = field(default_factory=list)
    overridden: list[Mismatch] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the models' library warnings


def _files_of(plan: Plan, entry: Path) -> tuple[str, dict[str, Path]]:
    """Every file the plan reads, by path relative to their common folder (registered
    models are not among them: the release pins their versions, see ``registered``)."""
    paths = {
        Path(c.path)
        for c in plan.all_components()
        if c.path and not c.source.startswith(REGISTRY_PREFIX)
    }
    paths.add(entry.resolve())
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    files = {p.relative_to(root).as_posix(): p for p in sorted(paths)}
    return entry.resolve().relative_to(root).as_posix(), files


def create_release(
    store: Store,
    pipeline: Path,
    *,
    actor: str,
    golden_input: Path | None = None,
    golden_count: int = 200,
    description: str = "",
    allow_environment_mismatch: bool = False,
    notes: list[str] | None = None,
    cache_root: Path | None = None,
    if_unchanged: Callable[[Release], bool] | None = None,
) -> Release:
    """Snapshot a pipeline into a new, numbered release.

    When an existing release of the pipeline has the same plan, ``if_unchanged`` (when
    given) is asked with the newest such release whether to make another one anyway;
    False raises :class:`UnchangedPlanError` (K950) and nothing is made.

    A model saved with another version of its library than the installed one refuses the
    release (EnvironmentMismatchError, with the table) unless
    ``allow_environment_mismatch``; the lock then records the version the model needs and
    the override goes to the audit trail. Golden cases within a declared tolerance of a
    decision threshold are appended to ``notes``. Registered models
    (``registered: fraud@production``) resolve through ``store`` (their artifacts
    written under ``cache_root``) and the release pins the versions they resolved to."""
    resolver = StoreResolver(store, cache_root or Path(tempfile.gettempdir()) / "kaskad")
    plan = compile_pipeline(pipeline, allow_version_mismatch=True, resolver=resolver)
    if if_unchanged is not None:
        same = [r for r in store.list_releases(plan.name) if r.plan_hash == plan.hash]
        if same and not if_unchanged(same[-1]):
            raise UnchangedPlanError(plan.name, same[-1].ref, plan.hash)
    environment = capture_environment(packages_for({m.framework for m in plan.model_nodes()}))
    adapters = model_adapters(plan)
    saved = {p: v for a in adapters for p, v in a.saved_with}
    installed = environment["packages"]
    mismatches = [Mismatch(p, v, installed.get(p)) for p, v in sorted(saved.items())]
    if mismatches and not allow_environment_mismatch:
        raise EnvironmentMismatchError(f"{plan.name} (new release)", mismatches)
    environment["packages"] = dict(sorted({**installed, **saved}.items()))
    entry, files = _files_of(plan, pipeline)
    manifest = {
        "entry": entry,
        "files": {rel: store.artifacts.put_file(p) for rel, p in files.items()},
    }
    if resolver.resolved:  # a stage reference is pinned to the version it names now
        manifest["registered"] = resolver.pins()
    golden_sha = None
    count = 0
    if golden_input is not None:
        inputs = golden.sample_inputs(golden_input, plan, golden_count)
        cases = golden.record_cases(plan, inputs)
        golden_sha = store.artifacts.put_bytes(golden.to_jsonl(cases))
        count = len(cases)
        if notes is not None:
            notes.extend(golden.near_thresholds(plan, cases))
    release = store.add_release(
        pipeline=plan.name,
        plan_hash=plan.hash,
        manifest=manifest,
        components=components_of(plan),
        environment=environment,
        golden_sha256=golden_sha,
        golden_count=count,
        description=description,
        actor=actor,
    )
    if mismatches:
        _audit_override(store, actor, release.ref, mismatches, adapters, "created")
    return release


def components_of(plan: Plan) -> list[dict[str, Any]]:
    """The plan's components as a release records them; a model says how its outputs are
    checked: ``exact``, or within its declared tolerance (and which outputs)."""
    checks: dict[tuple[str, str], str] = {}
    for node in plan.model_nodes():
        if node.tolerance is None:
            checks[(node.name, node.component.sha256)] = "exact"
        else:
            names = ", ".join(name for name, _ in node.outputs_map)
            checks[(node.name, node.component.sha256)] = f"within {node.tolerance:g}: {names}"
    artifacts = plan.artifact_hashes()
    out: list[dict[str, Any]] = []
    for c in plan.all_components():
        entry: dict[str, Any] = {
            "kind": c.kind,
            "name": c.name,
            "source": c.source,
            "sha256": c.sha256,
        }
        if c.kind == "model" and (c.name, c.sha256) in checks:
            entry["outputs_checked"] = checks[(c.name, c.sha256)]
        if c.sha256 in artifacts:  # sha256 above is the component hash
            entry["artifact_sha256"] = artifacts[c.sha256]
        out.append(entry)
    return out


def model_adapters(plan: Plan) -> list[ModelAdapter]:
    """The loaded models of a compiled plan (from the shared cache)."""
    cache = default_cache()
    return [cache.get(n.framework, n.artifact_sha256, n.component.path) for n in plan.model_nodes()]


def _audit_override(
    store: Store,
    actor: str,
    ref: str,
    mismatches: list[Mismatch],
    adapters: list[ModelAdapter],
    what: str,
) -> None:
    warnings = [w for a in adapters for w in a.load_warnings]
    store.record_audit(
        actor,
        "environment.override",
        ref,
        before={m.package: m.expected for m in mismatches},
        after={m.package: m.installed for m in mismatches},
        detail={
            "reason": f"{what} with --allow-environment-mismatch",
            "python": python_version(),
            "warnings": warnings,
        },
    )


def materialize(store: Store, release: Release, cache_root: Path) -> Path:
    """Write the release's files into its own cache folder (verifying every hash) and
    return the path of its pipeline file."""
    folder = cache_root / release.pipeline / f"{release.number}-{release.plan_hash[:12]}"
    files: dict[str, str] = release.manifest["files"]
    for rel, sha in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        store.artifacts.copy_to(sha, target, name=f"{release.ref}: {rel}")
    _refuse_unexpected(release, folder, files)
    return folder / str(release.manifest["entry"])


def _refuse_unexpected(release: Release, folder: Path, files: dict[str, str]) -> None:
    """The cache folder must hold the release's files and nothing else: a planted
    ``__pycache__/*.pyc`` (or any other file) is refused before anything runs."""
    expected = {Path(rel).as_posix() for rel in files}
    found = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if not p.is_dir() or p.is_symlink()
    )
    unexpected = [rel for rel in found if rel not in expected]
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (" …" if len(unexpected) > 5 else "")
        raise ReleaseError(
            f"release {release.ref}: unexpected file(s) in its cache folder {folder}: {shown};"
            " nothing was run. Delete the folder (kaskad writes it again from the store) and"
            " find out who wrote there"
        )


def _python_hashes(release: Release) -> list[str]:
    files: dict[str, str] = release.manifest["files"]
    return [sha for rel, sha in files.items() if rel.endswith(".py")]


def load_release(
    store: Store,
    ref: str,
    *,
    actor: str,
    cache_root: Path,
    allow_environment_mismatch: bool = False,
    replay_golden: bool = True,
) -> LoadedRelease:
    """Resolve, materialize and verify a release; raise if it must not run."""
    release = store.resolve(ref)
    checks: list[Check] = []
    entry = materialize(store, release, cache_root)
    checks.append(
        Check("artifacts", True, f"{len(release.manifest['files'])} files, every sha256 verified")
    )
    mismatches = compare_environment(release.environment)
    if mismatches and not allow_environment_mismatch:
        raise EnvironmentMismatchError(release.ref, mismatches)
    if mismatches:
        checks.append(
            Check(
                "environment",
                False,
                f"{len(mismatches)} package(s) differ; "
                f"overridden by {actor} (recorded in the audit trail)",
            )
        )
    else:
        packages = len(release.environment.get("packages", {}))
        checks.append(Check("environment", True, f"{packages} packages match the lock"))
    resolver = StoreResolver(store, cache_root, release.manifest.get("registered", {}))
    with only_verified(_python_hashes(release)):  # feature modules run from checked bytes
        plan = compile_pipeline(entry, allow_version_mismatch=bool(mismatches), resolver=resolver)
    adapters = model_adapters(plan)
    warnings = [w for a in adapters for w in a.load_warnings]
    if plan.hash != release.plan_hash:
        raise ReleaseError(
            f"release {release.ref}: its files compile to plan {plan.hash[:12]}, "
            f"but the release recorded {release.plan_hash[:12]}"
        )
    checks.append(Check("plan", True, f"plan hash {plan.hash[:12]} as recorded"))
    if replay_golden and release.golden_sha256:
        cases = golden.from_jsonl(
            store.artifacts.get_bytes(release.golden_sha256, name=f"{release.ref}: golden cases")
        )
        diffs = golden.replay(plan, cases)
        if diffs:
            raise GoldenMismatchError(release.ref, diffs, len(cases))
        tolerances = plan.tolerances()
        how = (
            f" ({', '.join(sorted(tolerances))} within their declared tolerance)"
            if tolerances
            else ""
        )
        near = golden.near_thresholds(plan, cases)
        if near:
            how += f"; {len(near)} within tolerance of a threshold: " + "; ".join(near[:5])
        checks.append(
            Check("golden", True, f"{len(cases)} golden cases reproduce in both executors{how}")
        )
    elif not release.golden_sha256:
        checks.append(Check("golden", True, "no golden cases recorded"))
    if mismatches:  # only now: the release loaded and verified
        _audit_override(store, actor, release.ref, mismatches, adapters, "loaded")
    return LoadedRelease(release, plan, entry.parent, checks, mismatches, warnings)
