"""A decision's trace as plain data: what each step read and produced, and which exact
component versions made the decision."""

from __future__ import annotations

from typing import Any

from kaskad.compile.naming import TABLE_MATCHED, TABLE_UNKNOWN
from kaskad.compile.plan import ModelNode, Plan, RuleSetNode, TableNode
from kaskad.execute.convert import json_value
from kaskad.execute.record import Decision
from kaskad.models import default_cache


def _model_entry(node: ModelNode) -> dict[str, Any]:
    """What the trace says of a model: its artifact, whether its outputs are exact or
    tolerance-checked, and what its library warned about while loading it."""
    adapter = default_cache().get(node.framework, node.artifact_sha256, node.component.path)
    outputs = [name for name, _ in node.outputs_map]
    return {
        "framework": node.framework,
        "artifact": node.component.source,
        "artifact_sha256": node.artifact_sha256,
        "outputs_checked": (
            {"exact": outputs}
            if node.tolerance is None
            else {"tolerance": node.tolerance, "outputs": outputs}
        ),
        "warnings": list(adapter.load_warnings),
    }


def component_entries(plan: Plan) -> list[dict[str, str]]:
    """The plan's components as JSON: ``sha256`` is the **component hash** (what plans and
    releases list); a model also gives its ``artifact_sha256`` (of the artifact file's
    bytes, what ``kaskad model register`` prints)."""
    artifacts = plan.artifact_hashes()
    out: list[dict[str, str]] = []
    for c in plan.components:
        entry = {"kind": c.kind, "name": c.name, "source": c.source, "sha256": c.sha256}
        if c.sha256 in artifacts:
            entry["artifact_sha256"] = artifacts[c.sha256]
        out.append(entry)
    return out


def _table_entry(node: TableNode, outputs: dict[str, Any]) -> dict[str, Any]:
    """A table in the trace: its hit policy and each rule as matched, unknown or not."""
    matched = set(outputs.get(node.column(TABLE_MATCHED)) or ())
    unknown = set(outputs.get(node.column(TABLE_UNKNOWN)) or ())
    return {
        "hit_policy": node.hit_policy,
        "on_missing": node.on_missing,
        "rules": [
            {
                "id": r.id,
                "tests": r.text,
                "annotation": r.annotation,
                "matched": True if r.id in matched else None if r.id in unknown else False,
            }
            for r in node.rules
        ],
    }


def explain(plan: Plan, decision: Decision) -> dict[str, Any]:
    """``{"result": …, "trace": …}``; ``result`` holds the same fields as a batch row."""
    nodes = {n.id: n for n in plan.nodes}
    steps: list[dict[str, Any]] = []
    for step in decision.steps:
        node = nodes[step.id]
        entry: dict[str, Any] = {
            "id": step.id,
            "kind": step.kind,
            "duration_ms": round(step.duration_ms, 4),
            "component": {
                "name": node.component.name,
                "source": node.component.source,
                "sha256": node.component.sha256,
            },
            "outputs": json_value(step.outputs),
        }
        if isinstance(node, RuleSetNode):
            entry["rules"] = [
                {
                    "id": r.id,
                    "description": r.description,
                    "condition": r.text,
                    "outcome": step.outputs.get(node.column(r.id)),
                    "tag": r.outcome,
                    "severity": r.severity,
                    "on_missing": r.on_missing,
                }
                for r in node.rules
            ]
        if isinstance(node, TableNode):
            entry["table"] = _table_entry(node, step.outputs)
        if isinstance(node, ModelNode):
            entry["model"] = _model_entry(node)
        steps.append(entry)
    matched = None
    if decision.branch is not None:
        matched = {"branch": decision.branch + 1, "when": plan.decision[decision.branch].text}
    return {
        "result": json_value(decision.output),
        "trace": {
            "pipeline": plan.name,
            "version": plan.version,
            "plan_hash": plan.hash,
            "duration_ms": round(decision.duration_ms, 4),
            "decision_branch": matched,
            "steps": steps,
            "components": component_entries(plan),
        },
    }
