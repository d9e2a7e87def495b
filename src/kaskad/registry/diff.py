"""What changed between two releases: rules side by side, features, reference list
entries, models, decision, shadows and the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaskad.errors import Problem, SpecError
from kaskad.registry.releases import materialize
from kaskad.spec.pipeline import PipelineSpec, load_pipeline_spec
from kaskad.store.api import Release
from kaskad.store.store import Store


@dataclass(frozen=True)
class Change:
    """One item that was added, removed or changed; ``before``/``after`` are readable text."""

    kind: str  # rule, feature, list, scorecard, model, decision, shadow, package
    name: str
    status: str  # added, removed, changed
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ReleaseDiff:
    a: Release
    b: Release
    changes: list[Change] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


def _spec(store: Store, release: Release, cache_root: Path) -> tuple[PipelineSpec, Path]:
    """The release's spec, and the folder its files were written to."""
    problems: list[Problem] = []
    entry = materialize(store, release, cache_root)
    spec = load_pipeline_spec(entry, problems)
    if spec is None or problems:
        raise SpecError(problems)
    depth = len(Path(release.manifest["entry"]).parts)
    return spec, entry.parents[depth - 1]


def _compare(kind: str, before: dict[str, str], after: dict[str, str]) -> list[Change]:
    out: list[Change] = []
    for name in [*before, *(n for n in after if n not in before)]:
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        status = "added" if a is None else "removed" if b is None else "changed"
        out.append(Change(kind, name, status, a, b))
    return out


def _rules(spec: PipelineSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for rs in spec.rulesets:
        for r in rs.rules:
            text = r.when.text.strip()
            extras = [f"on_missing: {r.on_missing}"] if r.on_missing != "unknown" else []
            extras += [f"outcome: {r.outcome}"]
            out[f"{rs.name}.{r.id}"] = f"{text}  [{', '.join(extras)}]"
    return out


def _features(spec: PipelineSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for fs in spec.featuresets:
        for f in fs.features:
            if f.expr is not None:
                out[f.name] = f.expr.text.strip()
            else:
                out[f.name] = f"python {f.component.name}.py sha256 {f.component.sha256[:12]}"
    return out


def _lists(spec: PipelineSpec) -> dict[str, str]:
    """One line per reference list entry: ``name[key]`` → its other columns."""
    out: dict[str, str] = {}
    for found in spec.lists:
        for key, values in found.list.entries().items():
            out[f"{found.list.name}[{key}]"] = values or "in the list"
    return out


def _scorecards(spec: PipelineSpec) -> dict[str, str]:
    """One line per characteristic (its bins and points), and the intercept and link."""
    out: dict[str, str] = {}
    for sc in spec.scorecards:
        out[sc.name] = f"intercept {sc.intercept!r} link {sc.link} reasons {sc.reasons}"
        for c in sc.characteristics:
            out[f"{sc.name}.{c.name}"] = c.describe()
    return out


def _models(store: Store, spec: PipelineSpec, release: Release, folder: Path) -> dict[str, str]:
    """One line per model: its artifact (a registered one by the version the release
    pinned), its artifact sha256, inputs and outputs."""
    files: dict[str, str] = release.manifest["files"]
    pins: dict[str, str] = release.manifest.get("registered", {})
    out: dict[str, str] = {}
    for m in spec.models:
        inputs = ", ".join(n for n, _ in m.inputs)
        outputs = ", ".join(f"{k}={v}" for k, v in m.outputs)
        if m.registered:
            pinned = pins.get(m.registered, m.registered)
            version = store.resolve_model(pinned)
            what = f"{version.framework} registered {pinned}"
            sha = version.artifact_sha256
        else:
            what = m.framework
            sha = files.get(m.artifact.relative_to(folder.resolve()).as_posix(), "unknown")
        out[m.name] = f"{what} artifact sha256 {sha[:12]} inputs [{inputs}] outputs [{outputs}]"
    return out


def _decision(spec: PipelineSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, b in enumerate(spec.decision):
        when = b.when.text.strip() if b.when is not None else "otherwise"
        out[f"branch {i + 1}"] = f"{when} → {b.outcome} {list(b.reasons)}"
    return out


def _shadows(spec: PipelineSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in spec.shadows:
        kind = "model" if s.model else "rules" if s.ruleset else "pipeline"
        out[s.name] = f"{kind}" + (f" replaces {s.replaces}" if s.replaces else "")
    return out


def _packages(env: dict[str, Any]) -> dict[str, str]:
    out = {k: str(v) for k, v in env.get("packages", {}).items()}
    out["python"] = str(env.get("python", ""))
    return out


def diff_releases(store: Store, a_ref: str, b_ref: str, cache_root: Path) -> ReleaseDiff:
    """Compare two releases (``NAME@2``, ``NAME@production`` …)."""
    a, b = store.resolve(a_ref), store.resolve(b_ref)
    (sa, da), (sb, db) = _spec(store, a, cache_root), _spec(store, b, cache_root)
    changes = _compare("rule", _rules(sa), _rules(sb))
    changes += _compare("feature", _features(sa), _features(sb))
    changes += _compare("list", _lists(sa), _lists(sb))
    changes += _compare("model", _models(store, sa, a, da), _models(store, sb, b, db))
    changes += _compare("scorecard", _scorecards(sa), _scorecards(sb))
    changes += _compare("decision", _decision(sa), _decision(sb))
    changes += _compare("shadow", _shadows(sa), _shadows(sb))
    changes += _compare("package", _packages(a.environment), _packages(b.environment))
    return ReleaseDiff(a, b, changes)
