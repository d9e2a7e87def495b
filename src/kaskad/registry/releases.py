"""Releases: immutable snapshots of a pipeline, verified before they may run.

A release stores every file the pipeline reads (its YAML, schema, rule and feature
files, Python feature modules, model artifacts) in the content-addressed artifact
store, with the environment lock and golden cases. Loading a release writes those
exact files into a cache folder (checking every hash), compiles them, checks that the
plan hash is the recorded one, that the installed packages match the lock, and that
the golden cases reproduce in both executors. Files changed on disk later do not
affect a release: it always runs its own recorded version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.registry import golden
from kaskad.registry.environment import Mismatch, capture_environment, compare_environment
from kaskad.registry.errors import EnvironmentMismatchError, GoldenMismatchError, ReleaseError
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


def _files_of(plan: Plan, entry: Path) -> tuple[str, dict[str, Path]]:
    """Every file the plan reads, by path relative to their common folder."""
    paths = {Path(c.path) for c in plan.all_components() if c.path}
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
) -> Release:
    """Snapshot a pipeline into a new, numbered release."""
    plan = compile_pipeline(pipeline)
    entry, files = _files_of(plan, pipeline)
    manifest = {
        "entry": entry,
        "files": {rel: store.artifacts.put_file(p) for rel, p in files.items()},
    }
    golden_sha = None
    count = 0
    if golden_input is not None:
        inputs = golden.sample_inputs(golden_input, plan, golden_count)
        cases = golden.record_cases(plan, inputs)
        golden_sha = store.artifacts.put_bytes(golden.to_jsonl(cases))
        count = len(cases)
    components = [
        {"kind": c.kind, "name": c.name, "source": c.source, "sha256": c.sha256}
        for c in plan.all_components()
    ]
    return store.add_release(
        pipeline=plan.name,
        plan_hash=plan.hash,
        manifest=manifest,
        components=components,
        environment=capture_environment(),
        golden_sha256=golden_sha,
        golden_count=count,
        description=description,
        actor=actor,
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
    return folder / str(release.manifest["entry"])


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
        store.record_audit(
            actor,
            "environment.override",
            release.ref,
            before={m.package: m.expected for m in mismatches},
            after={m.package: m.installed for m in mismatches},
            detail={"reason": "loaded with --allow-environment-mismatch"},
        )
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
    plan = compile_pipeline(entry)
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
        checks.append(
            Check("golden", True, f"{len(cases)} golden cases reproduce in both executors")
        )
    elif not release.golden_sha256:
        checks.append(Check("golden", True, "no golden cases recorded"))
    return LoadedRelease(release, plan, entry.parent, checks, mismatches)
