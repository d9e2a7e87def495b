"""``kaskad runs``: the log of batch runs; and the summary ``kaskad run`` prints."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kaskad.cli.common import StoreOpt, fail, out
from kaskad.cli.exitcodes import exit_code_for
from kaskad.cli.tables import Columns, print_rows
from kaskad.errors import KaskadError

if TYPE_CHECKING:
    from kaskad.batch.summary import RunSummary
    from kaskad.store.api import RunRecord

RULES_SHOWN = 30


def runs(
    run_id: Annotated[
        int | None, typer.Argument(help="Show this run in full.", show_default=False)
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Only runs of this pipeline.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
    store: StoreOpt = None,
) -> None:
    """List batch runs (newest first) with their counts and speed, or show one in full."""
    from kaskad.store import Store

    try:
        with Store.open(store) as opened:
            found = (
                [opened.get_run(run_id)]
                if run_id is not None
                else opened.list_runs(pipeline=pipeline, limit=limit)
            )
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    if as_json:
        data = [_as_dict(r) for r in found]
        out.print_json(json.dumps(data[0] if run_id is not None else data, ensure_ascii=False))
        return
    if run_id is not None:
        print_run_summary(out, found[0])
        return
    if not found:
        out.print("no runs recorded yet")
        return
    rows = [
        [
            str(r.id),
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(r.release or r.pipeline),
            r.status if r.status == "completed" else f"[red]{r.status}[/]",
            f"{r.rows_in:,}",
            f"{r.decided:,}",
            f"{r.rejected:,}",
            f"{r.rows_per_s:,.0f}",
            escape(f"{r.input} → {r.output}"),
        ]
        for r in found
    ]
    columns = Columns.of(
        "run", "started (UTC)", "pipeline", "status", "records", "decided", "rejected",
        "rows/s", "input → output",
        identifiers=(0, 1, 2, 3), numbers=(0, 4, 5, 6, 7),
    )  # fmt: skip
    print_rows(out, columns, rows)


def _as_dict(r: RunRecord) -> dict[str, object]:
    data = dict(vars(r))
    data["started_at"] = r.started_at.isoformat()
    data["finished_at"] = r.finished_at.isoformat()
    data["rows_per_s"] = r.rows_per_s
    return data


def print_run_summary(console: Console, s: RunSummary | RunRecord) -> None:
    """The summary of a run: counts, speed, decisions, rejections, rule hit and unknown
    rates."""
    plan = s.release or f"plan {s.plan_hash[:12]}"
    console.print(
        f"[bold]{escape(s.pipeline)}[/]: {s.rows_in:,} records in {s.duration_s:.2f} s "
        f"({s.rows_per_s:,.0f} rows/s), {escape(plan)}",
        highlight=False,
    )
    if s.status != "completed":
        console.print(f"[red]{s.status}[/]: {escape(s.error or '')}", highlight=False)
    table = Table("decision", "records", "share")
    for column in table.columns[1:]:
        column.justify = "right"
    failed = s.rows_in - s.decided - s.rejected  # a step failed for them
    counts = [
        *s.decisions.items(),
        *([("(rejected)", s.rejected)] if s.rejected else []),
        *([("(failed)", failed)] if failed else []),
    ]
    for decision, n in counts:
        table.add_row(escape(decision), f"{n:,}", f"{n / max(s.rows_in, 1):.1%}")
    console.print(table)
    if s.rejections:
        rejected = Table("rejected: field", "problem", "count")
        rejected.columns[2].justify = "right"
        for field, problems in s.rejections.items():
            for problem, n in problems.items():
                rejected.add_row(escape(field), escape(problem), f"{n:,}")
        console.print(rejected)
    failures: dict[str, int] = getattr(s, "failures", {})  # a stored run keeps the count only
    if failures:
        steps = Table("failed: step", "records", "share")
        for column in steps.columns[1:]:
            column.justify = "right"
        for step, n in failures.items():
            steps.add_row(escape(step), f"{n:,}", f"{n / max(s.rows_in, 1):.1%}")
        console.print(steps)
    if s.rules:
        rules = Table("rule", "hit", "unknown")
        for column in rules.columns[1:]:
            column.justify = "right"
        for rule, counts_of in list(s.rules.items())[:RULES_SHOWN]:
            total = max(sum(counts_of.values()), 1)
            rules.add_row(
                escape(rule),
                f"{counts_of.get('hit', 0) / total:.1%}",
                f"{counts_of.get('unknown', 0) / total:.1%}",
            )
        console.print(rules)
        if len(s.rules) > RULES_SHOWN:
            console.print(f"… and {len(s.rules) - RULES_SHOWN} more rules: kaskad runs ID --json")
    console.print(f"{escape(s.input)} → [bold]{escape(s.output)}[/]", highlight=False)
