"""The facts of a model passport, gathered only from what kaskad recorded.

Nothing here is typed in by hand: the release (its files, their hashes, the environment
lock, the golden cases), the pipeline as its own files declare it (owner, purpose, rules
with their texts and descriptions, the decision, the models), the registered model
versions behind each artifact (training-data profile, metrics), the audit trail (who
created, approved and promoted it), the store's run records, and backtest summaries
written by ``kaskad backtest`` (each shown with the sha256 of its file).

The result is plain data (:class:`Passport`), rendered by :mod:`kaskad.passport.render`
and :mod:`kaskad.passport.bom`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaskad import __version__
from kaskad.backtest.report import read_summary
from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.expr.typed import TExpr, TLit
from kaskad.compile.plan import FeatureNode, ModelNode, Plan, RuleSetNode, TableNode
from kaskad.errors import KaskadError, Problem
from kaskad.registry import golden
from kaskad.registry.environment import compare_environment
from kaskad.registry.releases import materialize
from kaskad.spec.pipeline import load_pipeline_spec
from kaskad.spec.types import Field
from kaskad.store import AuditEntry, Release, Store

__all__ = ["Passport", "PassportError", "gather"]

# Audit actions that are approvals of a release (decisions of people, not of kaskad).
APPROVAL_ACTIONS = ("release.promote", "release.approve", "release.rollback")
AUDIT_LIMIT = 1000
PROFILE_QUANTILES = ("0.05", "0.5", "0.95")


class PassportError(KaskadError):
    """A passport cannot be made as asked (K810): e.g. the release's files no longer
    compile to its plan, a backtest file is not a kaskad backtest summary, or the PDF
    renderer is not installed."""

    code = "K810"


@dataclass(frozen=True)
class Passport:
    """Everything a passport shows, as JSON-ready values (see docs/passport.md)."""

    generated_at: str
    kaskad_version: str
    store: str
    release: dict[str, Any]
    purpose: dict[str, Any]
    components: list[dict[str, Any]]
    files: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    features: list[dict[str, Any]]
    rulesets: list[dict[str, Any]]
    decision: list[dict[str, Any]]
    models: list[dict[str, Any]]
    datasets: list[dict[str, Any]]
    shadows: list[dict[str, Any]]
    golden: dict[str, Any]
    environment: dict[str, Any]
    backtests: list[dict[str, Any]]
    monitoring: dict[str, Any]
    limitations: list[str]
    history: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "kaskad.passport/1", **dataclasses.asdict(self)}


def gather(store: Store, ref: str, cache_root: Path, backtests: tuple[Path, ...] = ()) -> Passport:
    """The passport of release ``ref``: its files are written out (every hash verified),
    compiled (the plan must be the recorded one) and its golden cases replayed."""
    release = store.resolve(ref)
    entry = materialize(store, release, cache_root)
    plan = compile_pipeline(entry)
    if plan.hash != release.plan_hash:
        raise PassportError(
            f"release {release.ref}: its files compile to plan {plan.hash}, but the release"
            f" recorded {release.plan_hash}; no passport is made for it"
        )
    problems: list[Problem] = []
    spec = load_pipeline_spec(entry, problems, with_shadows=False)
    owner, purpose = (spec.owner, spec.purpose) if spec is not None else ("", "")
    root = entry.resolve().parent
    models = _models(store, plan, root)
    golden_facts = _golden(store, release, plan)
    environment = _environment(release)
    stages = {s: n for s, n in store.stages(release.pipeline).items() if n == release.number}
    return Passport(
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        kaskad_version=__version__,
        store=store.url,
        release={
            "ref": release.ref,
            "pipeline": release.pipeline,
            "number": release.number,
            "plan_hash": release.plan_hash,
            "description": release.description,
            "created_at": release.created_at.isoformat(timespec="seconds"),
            "created_by": release.created_by,
            "stages": sorted(stages),
        },
        purpose={
            "owner": owner,
            "purpose": purpose,
            "description": plan.description,
            "version": plan.version,
        },
        components=[dict(c) for c in release.components],
        files=[{"path": p, "sha256": s} for p, s in sorted(release.manifest["files"].items())],
        inputs=_fields(plan.schema.fields),
        features=[
            {
                "name": n.name,
                "type": str(n.dtype),
                "description": n.description,
                "source": _relative(n.component.path, root),
                "python": n.func is not None,
            }
            for n in plan.nodes
            if isinstance(n, FeatureNode)
        ],
        rulesets=[_ruleset(n, root) for n in plan.nodes if isinstance(n, RuleSetNode)]
        + [_table(n, root) for n in plan.nodes if isinstance(n, TableNode)],
        decision=[
            {
                "when": b.text if b.when is not None else "otherwise",
                "outcome": b.outcome,
                "reasons": list(b.reasons),
            }
            for b in plan.decision
        ],
        models=models,
        datasets=_datasets(models),
        shadows=[
            {
                "name": s.name,
                "kind": s.kind,
                "replaces": s.replaces or "",
                "components": [c.name for c in s.components],
            }
            for s in plan.shadows
        ],
        golden=golden_facts,
        environment=environment,
        backtests=[_backtest(path) for path in backtests],
        monitoring=_monitoring(store, release),
        limitations=_limitations(plan, models, golden_facts, environment),
        history=_history(store, release),
    )


def _fields(fields: tuple[Field, ...], prefix: str = "") -> list[dict[str, Any]]:
    """Every input field, nested ones as ``applicant.income`` and ``loans[].amount``;
    a category's allowed values in its type."""
    out: list[dict[str, Any]] = []
    for f in fields:
        name = f"{prefix}{f.name}"
        dtype = f.dtype
        shown = str(dtype)
        if dtype.kind == "category" and dtype.values:
            shown = f"category: {', '.join(dtype.values)}"
        out.append(
            {
                "name": name,
                "type": shown,
                "required": f.required,
                "sensitive": f.sensitive,
                "key": f.key,
                "description": f.description,
            }
        )
        if dtype.kind == "object":
            out += _fields(dtype.fields, f"{name}.")
        elif dtype.kind == "list" and dtype.item is not None and dtype.item.kind == "object":
            out += _fields(dtype.item.fields, f"{name}[].")
    return out


def _relative(path: str, root: Path) -> str:
    """A file of the release as the release names it (relative to its folder)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path


def _ruleset(node: RuleSetNode, root: Path) -> dict[str, Any]:
    return {
        "name": node.name,
        "description": node.description,
        "source": _relative(node.component.path, root),
        "sha256": node.component.sha256,
        "rules": [
            {
                "id": r.id,
                "text": r.text,
                "description": r.description,
                "outcome": r.outcome,
                "severity": r.severity,
                "on_missing": r.on_missing,
            }
            for r in node.rules
        ],
    }


def _table(node: TableNode, root: Path) -> dict[str, Any]:
    """A decision table in the rules section: each row as a rule, its tests as the
    condition and its outputs as the outcome."""
    outputs = [o.id for o in node.table_outputs]

    def shown(values: tuple[TExpr, ...]) -> str:
        return ", ".join(
            f"{o}={e.value if isinstance(e, TLit) else '(expression)'}"
            for o, e in zip(outputs, values, strict=True)
        )

    return {
        "name": node.name,
        "description": f"{node.description or 'Decision table'} "
        f"(decision table, hit policy {node.hit_policy})",
        "source": _relative(node.component.path, root),
        "sha256": node.component.sha256,
        "rules": [
            {
                "id": r.id,
                "text": r.text,
                "description": r.annotation,
                "outcome": shown(r.then),
                "severity": "",
                "on_missing": node.on_missing,
            }
            for r in node.rules
        ],
    }


def _models(store: Store, plan: Plan, root: Path) -> list[dict[str, Any]]:
    registered: dict[str, list[dict[str, Any]]] = {}
    for version in store.list_models():
        registered.setdefault(version.artifact_sha256, []).append(
            {
                "ref": f"{version.name}@{version.version}",
                "framework": version.framework,
                "description": version.description,
                "metrics": version.metrics,
                "created_at": version.created_at.isoformat(timespec="seconds"),
                "created_by": version.created_by,
                "training_data": _training(version.training_data),
            }
        )
    champions = {n.artifact_sha256 for n in plan.nodes if isinstance(n, ModelNode)}
    return [
        {
            "name": n.name,
            "description": n.description,
            "framework": n.framework,
            "artifact_sha256": n.artifact_sha256,
            "source": _relative(n.component.path, root),
            "inputs": [name for name, _ in n.inputs],
            "outputs": {out: model_out for out, model_out in n.outputs_map},
            "role": "decides" if n.artifact_sha256 in champions else "challenger (shadow)",
            "registered": registered.get(n.artifact_sha256, []),
        }
        for n in plan.model_nodes()
    ]


def _datasets(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each distinct training data set (by sha256) once, with the model versions trained
    on it."""
    found: dict[str, dict[str, Any]] = {}
    for model in models:
        for version in model["registered"]:
            data = version["training_data"]
            if data:
                entry = found.setdefault(str(data["sha256"]), {**data, "used_by": []})
                entry["used_by"].append(f"{model['name']} ({version['ref']})")
    return list(found.values())


def _training(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The training-data fingerprint with a compact per-column profile."""
    if not data:
        return None
    columns = []
    for name, col in dict(data.get("profile", {})).items():
        quantiles = col.get("quantiles") or {}
        columns.append(
            {
                "name": name,
                "type": col.get("type", ""),
                "count": col.get("count"),
                "nulls": col.get("nulls"),
                "min": col.get("min"),
                "mean": col.get("mean"),
                "max": col.get("max"),
                "quantiles": {q: quantiles.get(q) for q in PROFILE_QUANTILES if q in quantiles},
                "distinct": col.get("distinct"),
                "top": dict(list(dict(col.get("top") or {}).items())[:3]),
            }
        )
    return {"sha256": data.get("sha256"), "rows": data.get("rows"), "columns": columns}


def _golden(store: Store, release: Release, plan: Plan) -> dict[str, Any]:
    if not release.golden_sha256:
        return {
            "sha256": None,
            "count": 0,
            "replayed": False,
            "differences": [],
            "difference_count": 0,
            "decisions": {},
        }
    cases = golden.from_jsonl(
        store.artifacts.get_bytes(release.golden_sha256, name=f"{release.ref}: golden cases")
    )
    diffs = golden.replay(plan, cases)
    decisions = Counter(str(c["output"].get("decision")) for c in cases)
    return {
        "sha256": release.golden_sha256,
        "count": len(cases),
        "replayed": True,
        "differences": [
            f"{d.case} {d.field} ({d.mode}): recorded {d.expected!r}, now {d.got!r}"
            for d in diffs[:20]
        ],
        "difference_count": len(diffs),
        "decisions": dict(decisions.most_common()),
    }


def _environment(release: Release) -> dict[str, Any]:
    lock = release.environment
    return {
        "python": lock.get("python", ""),
        "platform": lock.get("platform", ""),
        "packages": dict(lock.get("packages", {})),
        "mismatches_here": [
            {"package": m.package, "expected": m.expected, "installed": m.installed}
            for m in compare_environment(lock)
        ],
    }


def _backtest(path: Path) -> dict[str, Any]:
    try:
        result = read_summary(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except (KaskadError, OSError) as exc:
        raise PassportError(f"{path}: cannot use it as backtest evidence: {exc}") from exc
    return {
        "file": path.name,
        "sha256": digest,
        "created_at": result.created_at,
        "baseline": result.baseline.ref or result.baseline.name,
        "baseline_plan": result.baseline.plan_hash,
        "candidate": result.candidate.ref or result.candidate.name,
        "candidate_plan": result.candidate.plan_hash,
        "input": result.input_name or "",
        "rows": result.rows,
        "flipped": result.flipped,
        "flip_share": result.flip_share,
        "performance": [
            {"output": p.output, "release": p.release, "auc": p.auc, "gini": p.gini, "ks": p.ks}
            for p in result.performance
        ],
        "scores": [
            {"output": s.output, "psi": s.psi, "stability": s.stability} for s in result.scores
        ],
    }


def _monitoring(store: Store, release: Release) -> dict[str, Any]:
    runs = [r for r in store.list_runs(release.pipeline, limit=200) if r.release == release.ref]
    entries = [
        e for e in _audit(store, release.pipeline) if e.action.startswith(("monitor", "drift"))
    ]
    return {
        "runs": [
            {
                "id": r.id,
                "started_at": r.started_at.isoformat(timespec="seconds"),
                "status": r.status,
                "rows": r.rows_in,
                "decided": r.decided,
                "rejected": r.rejected,
                "decisions": r.decisions,
            }
            for r in runs[:10]
        ],
        "run_count": len(runs),
        "alerts": [_entry(e) for e in entries[:20]],
    }


def _audit(store: Store, pipeline: str) -> list[AuditEntry]:
    return store.audit_log(limit=AUDIT_LIMIT, target=pipeline)


def _entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "at": e.at.isoformat(timespec="seconds"),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "detail": e.detail,
    }


def _history(store: Store, release: Release) -> dict[str, Any]:
    releases = [r for r in store.list_releases(release.pipeline) if r.number <= release.number]
    releases.sort(key=lambda r: r.number)
    previous = releases[-2] if len(releases) > 1 else None
    entries = list(reversed(_audit(store, release.pipeline)))  # oldest first
    mine = [e for e in entries if e.target == release.ref]
    return {
        "releases": [
            {
                "ref": r.ref,
                "created_at": r.created_at.isoformat(timespec="seconds"),
                "created_by": r.created_by,
                "plan_hash": r.plan_hash,
                "description": r.description,
            }
            for r in releases
        ],
        "changes": _changes(previous, release),
        "previous": previous.ref if previous else None,
        "approvals": [_entry(e) for e in mine if e.action in APPROVAL_ACTIONS],
        "stages": [
            {
                "at": c.at.isoformat(timespec="seconds"),
                "stage": c.stage,
                "action": c.action,
                "from": c.from_release,
                "to": c.to_release,
                "actor": c.actor,
            }
            for c in store.stage_history(release.pipeline)
        ],
        "audit": [_entry(e) for e in mine],
    }


def _changes(previous: Release | None, release: Release) -> list[dict[str, Any]]:
    """Components added, removed or changed since the previous release of the pipeline."""
    if previous is None:
        return []
    before = {(c["kind"], c["name"]): c["sha256"] for c in previous.components}
    after = {(c["kind"], c["name"]): c["sha256"] for c in release.components}
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            change = "added" if old is None else "removed" if new is None else "changed"
            out.append(
                {"kind": key[0], "name": key[1], "change": change, "before": old, "after": new}
            )
    return out


def _limitations(
    plan: Plan,
    models: list[dict[str, Any]],
    golden_facts: dict[str, Any],
    environment: dict[str, Any],
) -> list[str]:
    """What the recorded facts say this release cannot be relied on for."""
    out = [
        f"Valid only with the recorded environment: Python {environment['python']} on"
        f" {environment['platform']} with the {len(environment['packages'])} locked package"
        " versions; kaskad refuses to load it elsewhere unless an operator overrides it"
        " (recorded in the audit trail)."
    ]
    for model in models:
        if not model["registered"]:
            out.append(
                f"Model {model['name']} ({model['framework']}) is not registered in this store:"
                " no training-data profile or metrics are recorded for its artifact."
            )
        elif not any(v["training_data"] for v in model["registered"]):
            out.append(f"Model {model['name']}: no training-data profile was recorded.")
    if not golden_facts["count"]:
        out.append("No golden cases were recorded: reproducibility is not evidenced.")
    elif golden_facts.get("difference_count"):
        out.append(
            f"{golden_facts['difference_count']} golden-case difference(s) found on replay:"
            " the release does not reproduce here."
        )
    required = [f.name for f in plan.schema.fields if f.required]
    optional = [f.name for f in plan.schema.fields if not f.required]
    if optional:
        out.append(
            f"Inputs that may be missing ({', '.join(optional)}): the rules' on_missing"
            " policies below say what a missing value does."
        )
    if required:
        out.append(f"Records without {', '.join(required)} are rejected, not decided.")
    unknown = [
        f"{node.name}.{rule.id}"
        for node in plan.nodes
        if isinstance(node, RuleSetNode)
        for rule in node.rules
        if rule.on_missing == "unknown"
    ]
    if unknown:
        out.append(
            f"Rules that are neither hit nor pass ('unknown') when an input they read is"
            f" missing: {', '.join(unknown)}."
        )
    if environment["mismatches_here"]:
        names = ", ".join(m["package"] for m in environment["mismatches_here"])
        out.append(f"The machine that generated this passport differs from the lock: {names}.")
    return out
