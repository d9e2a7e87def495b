"""One logged decision explained in plain language, from recorded facts only.

The explanation is built from the decision's row in the log (input as logged, every
output, challengers' outputs) and the plan of the release that made it (written out of
the artifact store, every sha256 verified, and compiled; its plan hash must be the one
logged). Nothing is decided again: the matched branch is the first whose outcome and
reasons are the logged ones, and the branches before it are shown with their conditions
and the logged values those conditions read. Each rule is shown with its description,
its logged outcome (hit, pass, unknown) and, when unknown, the inputs that were missing.
Descriptions are shown as written, so a pipeline described in Russian is explained in
Russian. :func:`render_html` renders the same explanation as a self-contained page.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from kaskad.audit.reads import FieldPath, expr_paths
from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.expr.typed import TExpr
from kaskad.compile.naming import HIT, PASS, UNKNOWN, shadow_prefix
from kaskad.compile.plan import ModelNode, Plan, RuleSetNode
from kaskad.errors import KaskadError
from kaskad.registry.releases import materialize
from kaskad.store import Store
from kaskad.store.decision_hashes import verify
from kaskad.store.decision_reads import decision_detail

__all__ = ["explain_decision", "render_html", "render_text"]

OUTCOME_WORDS = {HIT: "hit", PASS: "pass", UNKNOWN: "unknown"}
_MISSING = object()


def _lookup(value: Any, path: FieldPath) -> Any:
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list):
            return value  # a field of list elements: the list itself was there
        else:
            return _MISSING if value is _MISSING else None
        if value is None or value is _MISSING:
            return value
    return value


def _values(expr: TExpr, record: Any, output: dict[str, Any], inputs: set[str]) -> dict[str, Any]:
    """The logged value of every field ``expr`` reads (None: missing)."""
    found: dict[str, Any] = {}
    for path in expr_paths(expr):
        value = _lookup(record, path) if path[0] in inputs else output.get(path[0], _MISSING)
        if isinstance(value, list | dict):
            value = f"({type(value).__name__} of {len(value)})"
        found[".".join(path)] = None if value is _MISSING else value
    return found


def _plan_of(registry: Store, ref: str, cache_root: Path) -> Plan:
    entry = materialize(registry, registry.resolve(ref), cache_root)
    return compile_pipeline(entry)


def explain_decision(
    log: str, registry: Store, decision_id: str, *, cache_root: Path
) -> dict[str, Any]:
    """Everything an auditor reads about one decision, as JSON-ready data."""
    detail = decision_detail(log, decision_id)
    output: dict[str, Any] = detail["output"] or {}
    record = detail["input"]
    ref = detail["release"]
    facts: dict[str, Any] = {
        "decision_id": decision_id,
        "at": detail["at"].isoformat(),
        "pipeline": detail["pipeline"],
        "status": detail["status"],
        "decision": output.get("decision"),
        "reasons": output.get("reasons") or [],
        "business_key": detail.get("business_key"),
        "release": ref,
        "plan_hash": detail["plan_hash"],
        "integrity": verify(detail) or ["input and record hashes verify"],
        "erased_at": detail["erased_at"].isoformat() if detail.get("erased_at") else None,
        "components": detail.get("components") or [],
        "errors": detail.get("errors") or [],
        "approvals": [],
        "branches": [],
        "rulesets": [],
        "models": [],
        "challengers": [],
        "plan_note": None,
    }
    if ref is None:
        facts["plan_note"] = "served from a pipeline file, not a release: no recorded plan"
        return facts
    facts["approvals"] = [
        {
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "stage": (e.after or {}).get("stage"),
            "after_decision": e.at > detail["at"],
        }
        for e in reversed(registry.audit_log(limit=1000, target=ref))
    ]
    try:
        plan = _plan_of(registry, ref, cache_root)
    except KaskadError as exc:
        facts["plan_note"] = f"release {ref} cannot be read: {exc}"
        return facts
    if plan.hash != detail["plan_hash"]:
        facts["plan_note"] = (
            f"release {ref} compiles to plan {plan.hash[:12]}, the decision was made by"
            f" {detail['plan_hash'][:12]}"
        )
        return facts
    facts["plan_note"] = f"plan {plan.hash[:12]} of {ref}: every file's sha256 verified"
    if detail["status"] != "decided":
        return facts
    inputs = {f.name for f in plan.schema.fields}
    _branches(facts, plan, record, output, inputs)
    _rules(facts, plan, record, output, inputs)
    _models(facts, plan, record, output, inputs)
    _challengers(facts, plan, output, detail.get("shadows") or {})
    return facts


def _branches(
    facts: dict[str, Any], plan: Plan, record: Any, output: dict[str, Any], inputs: set[str]
) -> None:
    decision, reasons = output.get("decision"), list(output.get("reasons") or [])
    for number, branch in enumerate(plan.decision, start=1):
        matched = branch.outcome == decision and list(branch.reasons) == reasons
        read = {} if branch.when is None else _values(branch.when, record, output, inputs)
        facts["branches"].append(
            {
                "number": number,
                "when": branch.text if branch.when is not None else "otherwise",
                "outcome": branch.outcome,
                "reasons": list(branch.reasons),
                "matched": matched,
                "values": read,
            }
        )
        if matched:
            return


def _rules(
    facts: dict[str, Any], plan: Plan, record: Any, output: dict[str, Any], inputs: set[str]
) -> None:
    for node in plan.nodes:
        if not isinstance(node, RuleSetNode):
            continue
        rules = []
        for rule in node.rules:
            outcome = output.get(node.column(rule.id))
            values = _values(rule.expr, record, output, inputs)
            rules.append(
                {
                    "id": rule.id,
                    "description": rule.description,
                    "when": rule.text,
                    "outcome": OUTCOME_WORDS.get(str(outcome), str(outcome)),
                    "tag": rule.outcome,
                    "severity": rule.severity,
                    "missing": [k for k, v in values.items() if v is None]
                    if outcome == UNKNOWN
                    else [],
                    "values": values,
                }
            )
        facts["rulesets"].append(
            {"name": node.name, "description": node.description, "rules": rules}
        )


def _models(
    facts: dict[str, Any], plan: Plan, record: Any, output: dict[str, Any], inputs: set[str]
) -> None:
    for node in plan.nodes:
        if not isinstance(node, ModelNode):
            continue
        values: dict[str, Any] = {}
        for name, expr in node.inputs:
            read = list(_values(expr, record, output, inputs).values())
            values[name] = read[0] if len(read) == 1 else read
        facts["models"].append(
            {
                "name": node.name,
                "description": node.description,
                "framework": node.framework,
                "artifact_sha256": node.component.sha256,
                "scores": {o: output.get(o) for o, _ in node.outputs_map},
                "inputs": values,
                "contributions": None,  # per-input contributions: where the model kind gives them
            }
        )


def _challengers(
    facts: dict[str, Any], plan: Plan, output: dict[str, Any], logged: dict[str, Any]
) -> None:
    for shadow in plan.shadows:
        prefix = shadow_prefix(shadow.name)
        fields = {k[len(prefix) :]: v for k, v in output.items() if k.startswith(prefix)}
        fields = fields or dict(logged.get(shadow.name) or {})
        facts["challengers"].append(
            {
                "name": shadow.name,
                "replaces": shadow.replaces,
                "decision": fields.get("decision"),
                "fields": fields,
                "logged": bool(fields),
            }
        )


# ---- rendering --------------------------------------------------------------------------


def _summary(facts: dict[str, Any]) -> str:
    when = dt.datetime.fromisoformat(facts["at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    who = f" for {facts['business_key']}" if facts.get("business_key") else ""
    if facts["status"] != "decided":
        return f"The request{who} of {when} was rejected before a decision was made."
    reasons = ", ".join(facts["reasons"]) or "no reason given"
    matched = next((b for b in facts["branches"] if b["matched"]), None)
    line = (
        f"The application{who} was decided '{facts['decision']}' on {when} by release"
        f" {facts['release'] or '(a pipeline file)'} ({reasons})"
    )
    if matched is not None:
        line += f": branch {matched['number']} matched ({matched['when']})"
    return line + "."


def render_text(facts: dict[str, Any]) -> str:
    """The explanation as plain text for a terminal."""
    lines = [_summary(facts), ""]
    if facts["plan_note"]:
        lines.append(f"Release: {facts['plan_note']}")
    for a in facts["approvals"]:
        stage = f" to {a['stage']}" if a["stage"] else ""
        later = " (after this decision)" if a["after_decision"] else ""
        lines.append(f"  {a['action']}{stage} by {a['actor']} on {a['at'][:19]}{later}")
    lines.append(f"Integrity: {'; '.join(facts['integrity'])}")
    if facts["branches"]:
        lines += ["", "Decision branches, in order:"]
        for b in facts["branches"]:
            mark = "MATCHED" if b["matched"] else "did not match"
            shown = ", ".join(f"{k} = {_show(v)}" for k, v in b["values"].items())
            lines.append(f"  {b['number']}. {mark}: {b['when']} → {b['outcome']}")
            if shown:
                lines.append(f"       with {shown}")
    for rs in facts["rulesets"]:
        lines += ["", f"Rules {rs['name']}:"]
        for r in rs["rules"]:
            missing = f" — missing: {', '.join(r['missing'])}" if r["missing"] else ""
            lines.append(f"  [{r['outcome']}] {r['id']}: {r['description']}{missing}")
    for m in facts["models"]:
        scores = ", ".join(f"{k} = {_show(v)}" for k, v in m["scores"].items())
        lines += ["", f"Model {m['name']} ({m['framework']}): {scores}"]
    for c in facts["challengers"]:
        answer = c["decision"] if c["logged"] else "not logged"
        lines.append(f"Challenger {c['name']}: {answer}")
    return "\n".join(lines)


def _show(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kaskad.audit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["show"] = _show
    return env


def render_html(facts: dict[str, Any]) -> str:
    """The explanation as a self-contained HTML page (no scripts, no external assets)."""
    return _environment().get_template("explain.html.j2").render(f=facts, summary=_summary(facts))
