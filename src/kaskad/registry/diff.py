"""What changed between two releases, or two plans: rules side by side, features,
reference list entries, models, decision branches, shadows and the environment.

Two entry points: :func:`diff_releases` (two releases in a store, with the environment they
lock) and :func:`diff_plans` (two compiled plans, what a backtest compares). Both give a
list of :class:`Change`. A plan's components are read by the extractors in
:data:`PLAN_KINDS`, one per kind of component: a new kind (lists, tables) adds its own with
:func:`plan_kind`, and every diff of plans, and the backtest report, shows it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaskad.compile.plan import Branch, FeatureNode, ModelNode, Plan, RuleSetNode, TableNode
from kaskad.errors import Problem, SpecError
from kaskad.spec.pipeline import PipelineSpec, load_pipeline_spec

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only for diffs of releases
    from kaskad.store.api import Release
    from kaskad.store.store import Store


@dataclass(frozen=True)
class Change:
    """One item that was added, removed or changed; ``before``/``after`` are readable text."""

    kind: str  # rule, feature, list, scorecard, table, model, decision, shadow, package
    name: str
    status: str  # added, removed, changed
    before: str | None
    after: str | None

    @property
    def key(self) -> str:
        """``rule aml.cash_1m``, ``decision branch 3``: names the change in a report."""
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class ReleaseDiff:
    a: Release
    b: Release
    changes: list[Change] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


def _spec(store: Store, release: Release, cache_root: Path) -> tuple[PipelineSpec, Path]:
    """The release's spec, and the folder its files were written to."""
    from kaskad.registry.releases import materialize

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


def _rule_text(when: str, on_missing: str, outcome: str) -> str:
    extras = [f"on_missing: {on_missing}"] if on_missing != "unknown" else []
    extras += [f"outcome: {outcome}"]
    return f"{' '.join(when.split())}  [{', '.join(extras)}]"


def _branch_text(when: str | None, outcome: str, reasons: tuple[str, ...]) -> str:
    return (
        f"{' '.join(when.split()) if when is not None else 'otherwise'} → {outcome} {list(reasons)}"
    )


def _rules(spec: PipelineSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for rs in spec.rulesets:
        for r in rs.rules:
            out[f"{rs.name}.{r.id}"] = _rule_text(r.when.text, r.on_missing, r.outcome)
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


def _tables(spec: PipelineSpec) -> dict[str, str]:
    """One line per decision table (policy, inputs, outputs) and one per rule (its tests and
    outputs), so a changed cell shows as its rule."""
    out: dict[str, str] = {}
    for tb in spec.tables:
        inputs = ", ".join(f"{i.id}={i.expr.text.strip()}" for i in tb.inputs)
        outputs = ", ".join(f"{o.id}:{o.type}" for o in tb.outputs)
        default = (
            "" if tb.default is None else f" default [{', '.join(c.text for c in tb.default)}]"
        )
        out[tb.name] = (
            f"{tb.hit_policy} on_missing {tb.on_missing} inputs [{inputs}] outputs [{outputs}]"
            + default
        )
        for r in tb.rules:
            tests = " | ".join(c.text for c in r.when)
            values = ", ".join(c.text for c in r.then)
            out[f"{tb.name}.{r.id}"] = f"{tests} -> {values}"
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
        when = b.when.text if b.when is not None else None
        out[f"branch {i + 1}"] = _branch_text(when, b.outcome, tuple(b.reasons))
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
    changes += _compare("table", _tables(sa), _tables(sb))
    changes += _compare("decision", _decision(sa), _decision(sb))
    changes += _compare("shadow", _shadows(sa), _shadows(sb))
    changes += _compare("package", _packages(a.environment), _packages(b.environment))
    return ReleaseDiff(a, b, changes)


# ---- plans -------------------------------------------------------------------------------

PlanExtractor = Callable[[Plan], dict[str, str]]
# kind of component → what a plan holds of that kind: name → readable text (two plans
# differ in a component when its text differs); in the order a report lists them
PLAN_KINDS: dict[str, PlanExtractor] = {}


def plan_kind(kind: str) -> Callable[[PlanExtractor], PlanExtractor]:
    """Register the extractor of one kind of component (``@plan_kind("table")``)."""

    def register(extract: PlanExtractor) -> PlanExtractor:
        PLAN_KINDS[kind] = extract
        return extract

    return register


def branch_name(index: int) -> str:
    """The name of the decision's branch at 0-based ``index``: ``branch 1`` is the first."""
    return f"branch {index + 1}"


def branch_text(branch: Branch) -> str:
    """``pd > 0.2 → reject ['credit_risk']``: a branch's condition and outcome."""
    return _branch_text(
        branch.text if branch.when is not None else None, branch.outcome, branch.reasons
    )


@plan_kind("rule")
def _plan_rules(plan: Plan) -> dict[str, str]:
    """A rule's text, and the content hash of each reference list it names: a rule whose
    list gained or lost entries is a changed rule, so its flips are explained by it."""
    lists = {c.name: c.sha256[:12] for c in plan.components if c.kind == "list"}
    out: dict[str, str] = {}
    for node in plan.nodes:
        if not isinstance(node, RuleSetNode):
            continue
        for r in node.rules:
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", r.text))
            named = "".join(f" [list {n} sha256 {lists[n]}]" for n in sorted(words & set(lists)))
            out[node.column(r.id)] = _rule_text(r.text, r.on_missing, r.outcome) + named
    return out


@plan_kind("feature")
def _plan_features(plan: Plan) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in plan.nodes:
        if not isinstance(node, FeatureNode):
            continue
        if node.expr is not None:  # the typed tree: the same text gives the same tree
            digest = hashlib.sha256(repr(node.expr).encode()).hexdigest()[:12]
            out[node.name] = f"expression of {node.component.name} (tree sha256 {digest})"
        else:
            out[node.name] = f"python {node.component.name}.py sha256 {node.component.sha256[:12]}"
    return out


@plan_kind("model")
def _plan_models(plan: Plan) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in plan.nodes:
        if isinstance(node, ModelNode):
            inputs = ", ".join(name for name, _ in node.inputs)
            outputs = ", ".join(f"{k}={v}" for k, v in node.outputs_map)
            out[node.name] = (
                f"{node.framework} artifact sha256 {node.artifact_sha256[:12]} "
                f"inputs [{inputs}] outputs [{outputs}]"
            )
    return out


@plan_kind("table")
def _plan_tables(plan: Plan) -> dict[str, str]:
    """One line per decision table: its policy and every rule's tests and outputs."""
    out: dict[str, str] = {}
    for node in plan.nodes:
        if isinstance(node, TableNode):
            rules = "; ".join(f"{r.id}: {r.text} -> {r.then!r}" for r in node.rules)
            digest = hashlib.sha256(rules.encode()).hexdigest()[:12]
            out[node.name] = (
                f"{node.hit_policy} on_missing {node.on_missing}, {len(node.rules)} rules "
                f"(rules sha256 {digest}, file sha256 {node.component.sha256[:12]})"
            )
    return out


@plan_kind("list")
def _plan_lists(plan: Plan) -> dict[str, str]:
    """One line per reference list: the hash of its content."""
    return {
        c.name: f"reference list sha256 {c.sha256[:12]}"
        for c in plan.components
        if c.kind == "list"
    }


@plan_kind("decision")
def _plan_decision(plan: Plan) -> dict[str, str]:
    return {branch_name(i): branch_text(b) for i, b in enumerate(plan.decision)}


@plan_kind("shadow")
def _plan_shadows(plan: Plan) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in plan.shadows:
        parts = sorted(f"{c.kind} {c.name} {c.sha256[:12]}" for c in s.components)
        replaces = f" replaces {s.replaces}" if s.replaces else ""
        out[s.name] = f"{s.kind}{replaces}: {', '.join(parts)}"
    return out


def diff_plans(a: Plan, b: Plan) -> list[Change]:
    """Every component that differs between plans ``a`` and ``b``, kind by kind in the
    order of :data:`PLAN_KINDS`."""
    return [
        c for kind, extract in PLAN_KINDS.items() for c in _compare(kind, extract(a), extract(b))
    ]
