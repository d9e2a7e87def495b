"""Human-readable rendering of problems, plans and decisions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kaskad.cli.tables import Columns, print_rows
from kaskad.compile.naming import HIT, PASS, SHADOW_PREFIX, UNKNOWN

if TYPE_CHECKING:
    from kaskad.compile.plan import Plan
    from kaskad.errors import Problem

_OUTCOME_STYLE = {HIT: "bold red", PASS: "green", UNKNOWN: "yellow"}


def print_problems(console: Console, problems: list[Problem]) -> None:
    count = len(problems)
    console.print(f"[bold red]{count} problem{'s' if count != 1 else ''} found[/]")
    for p in problems:
        console.print(escape(p.render()), highlight=False, soft_wrap=True)


def print_warnings(console: Console, warnings: list[Problem], as_errors: bool = False) -> None:
    count = len(warnings)
    colour = "red" if as_errors else "yellow"
    what = f"warning{'s' if count != 1 else ''}" + (" (treated as errors)" if as_errors else "")
    console.print(f"[bold {colour}]{count} {what}[/]")
    for p in warnings:
        console.print(escape("warning: " + p.render()), highlight=False, soft_wrap=True)


def print_plan(console: Console, plan: Plan) -> None:
    console.print(
        f"[bold green]ok[/] pipeline [bold]{plan.name}[/] plan {plan.hash[:12]}", highlight=False
    )
    artifacts = plan.artifact_hashes()
    rows = [
        [c.kind, escape(c.name), escape(c.source), c.sha256[:12], artifacts.get(c.sha256, "")[:12]]
        for c in plan.components
    ]
    columns = Columns.of(
        "kind", "name", "source", "component hash", "artifact sha256", identifiers=(0, 1, 3, 4)
    )
    print_rows(console, columns, rows)
    steps = " → ".join(n.id for n in plan.nodes)
    console.print(f"steps: {steps} → decision")
    for node in plan.model_nodes():
        why = f" ({node.kernel_reason})" if node.kernel_reason else ""
        console.print(
            f"model [bold]{node.name}[/] kernel: {node.kernel}{escape(why)}", highlight=False
        )
    for s in plan.shadows:
        console.print(
            f"shadow [bold]{s.name}[/] ({s.kind}"
            + (f", replaces {s.replaces}" if s.replaces else "")
            + ")"
        )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def print_decision(console: Console, plan: Plan, report: dict[str, Any]) -> None:
    result = report["result"]
    trace = report["trace"]
    if result["status"] == "rejected":
        console.print("[bold red]rejected at the door[/]")
        for e in result["errors"]:
            console.print(f"  • {escape(e)}")
        return
    if result["status"] == "failed":  # a step raised: the fallback decided, if any
        for e in result["errors"]:
            console.print(f"[bold red]failed:[/] {escape(e)}", highlight=False)
    reasons = ", ".join(result["reasons"] or []) or "-"
    console.print(
        f"[bold]decision:[/] [bold cyan]{result['decision']}[/]  reasons: {reasons}"
        f"  ({trace['duration_ms']:.3f} ms, plan {trace['plan_hash'][:12]})",
        highlight=False,
    )
    if trace.get("decision_branch"):
        b = trace["decision_branch"]
        console.print(f"  matched branch {b['branch']}: {escape(b['when'])}", highlight=False)
    for step in trace["steps"]:
        artifact = step.get("model", {}).get("artifact_sha256")
        console.print(
            f"\n[bold]{step['kind']}[/] {step['id']}  "
            f"[dim]{step['duration_ms']:.3f} ms  component hash "
            f"{step['component']['sha256'][:12]}"
            + (f"  artifact sha256 {artifact[:12]}" if artifact else "")
            + "[/]",
            highlight=False,
        )
        if "rules" in step:
            table = Table("rule", "outcome", "description", box=None, pad_edge=False)
            for r in step["rules"]:
                style = _OUTCOME_STYLE.get(r["outcome"], "")
                table.add_row(r["id"], f"[{style}]{r['outcome']}[/]", escape(r["description"]))
            console.print(table)
        else:
            for name, value in step["outputs"].items():
                console.print(f"  {name} = {escape(_fmt(value))}", highlight=False)
        model = step.get("model")
        if model is not None:
            checked = model["outputs_checked"]
            if "tolerance" in checked:
                console.print(
                    f"  [dim]tolerance-checked within {checked['tolerance']:g}: "
                    f"{', '.join(checked['outputs'])}[/]",
                    highlight=False,
                )
            for warning in model["warnings"]:
                console.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
    shadow_cols = {k: v for k, v in result.items() if k.startswith(SHADOW_PREFIX)}
    if shadow_cols:
        console.print("\n[bold]shadows[/] (never change the decision)")
        for name, value in shadow_cols.items():
            console.print(f"  {name} = {escape(_fmt(value))}", highlight=False)
