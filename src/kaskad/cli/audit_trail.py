"""``kaskad audit``: the audit trail, and ``kaskad audit verify`` of its hash chain."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from kaskad.cli.common import StoreOpt, err, out
from kaskad.cli.exitcodes import ExitCode
from kaskad.cli.registry import opened
from kaskad.cli.tables import Columns, print_rows

audit_app = typer.Typer(
    help="The audit trail: who changed what in the registry, when, before and after.",
    invoke_without_command=True,
)


@audit_app.callback()
def audit(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option(help="Only entries about this target.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    limit: Annotated[int, typer.Option(help="How many entries, newest first.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    store: StoreOpt = None,
) -> None:
    """The audit trail: who changed what in the registry, when, before and after."""
    if ctx.invoked_subcommand is not None:
        return
    with opened(store) as s:
        entries = s.audit_log(limit=limit, target=target, action=action)
    if as_json:
        data = [{k: getattr(e, k) for k in e.__dataclass_fields__} for e in entries]
        out.print_json(data=json.loads(json.dumps(data, default=str)))
        return
    rows = [
        [
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            escape(e.actor),
            escape(e.action),
            escape(e.target),
            escape(json.dumps(e.before, default=str)) if e.before else "",
            escape(json.dumps(e.after, default=str)) if e.after else "",
        ]
        for e in entries
    ]
    columns = Columns.of(
        "when", "actor", "action", "target", "before", "after", identifiers=(0, 2, 3)
    )
    print_rows(out, columns, rows)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    store: StoreOpt = None,
) -> None:
    """Check the audit trail's hash chain: an entry edited, deleted or moved in the
    database breaks it (exit 1, K608). Keep the printed head hash elsewhere to detect
    removal of the newest entries."""
    with opened(store) as s:
        report = s.verify_audit()
    if as_json:
        out.print_json(
            data={
                "ok": report.ok,
                "entries": report.entries,
                "head": report.head,
                "breaks": [{"id": b.id, "reason": b.reason} for b in report.breaks],
            }
        )
    elif report.ok:
        out.print(f"audit trail verified: {report.entries} entries, head {report.head}")
    for b in report.breaks if not as_json else ():
        err.print(f"[red]K608[/] audit entry {b.id}: {escape(b.reason)}", highlight=False)
    if not report.ok:
        if not as_json:
            err.print(
                f"[red]error:[/] K608 the audit trail's hash chain is broken at"
                f" {len(report.breaks)} place(s)"
            )
        raise typer.Exit(ExitCode.FAILED)
