"""``kaskad decisions``: the served decision log, read back.

- ``kaskad decisions rejections``: rejected requests grouped by body shape (pipeline,
  content type, fingerprint), newest first: a change in what an upstream system sends
  shows up as a new shape with a growing count;
- ``kaskad decisions show ID``: one decision as an auditor needs it: release, plan hash
  and every component's content hash, the masked input, the outputs, the challengers'.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

import typer
from rich.markup import escape

from kaskad.cli.common import StoreOpt, fail, out, store_location
from kaskad.cli.exitcodes import exit_code_for
from kaskad.cli.tables import Columns, print_rows
from kaskad.errors import KaskadError

decisions_app = typer.Typer(
    help="The served decision log: rejected shapes, and one decision in full.",
    no_args_is_help=True,
)
_SINCE = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@decisions_app.command("rejections")
def rejections(
    pipeline: Annotated[
        str | None, typer.Option(help="Only this pipeline.", show_default=False)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only the last N minutes, hours or days: 30m, 24h, 7d.", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the shapes as JSON.")] = False,
    store: StoreOpt = None,
) -> None:
    """Rejected requests grouped by body shape, the most recently seen first."""
    from kaskad.store.decision_reads import rejection_shapes

    start = None
    if since is not None:
        match = _SINCE.match(since.strip())
        if match is None:
            raise fail(f"--since {since!r}: write a number and m, h or d (e.g. 24h)")
        delta = dt.timedelta(**{_UNITS[match[2]]: int(match[1])})
        start = dt.datetime.now(dt.UTC) - delta
    try:
        shapes = rejection_shapes(store_location(store), pipeline, start)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    if as_json:
        out.print_json(json.dumps([s.to_dict() for s in shapes], ensure_ascii=False))
        return
    if not shapes:
        out.print("no rejections logged" + (f" in the last {since}" if since else ""))
        return
    rows = []
    for s in shapes:
        problems = "; ".join(
            f"{p.get('field') or '(body)'}: {p.get('problem')}" for p in s.problems[:3]
        )
        if len(s.problems) > 3:
            problems += f"; … {len(s.problems) - 3} more"
        rows.append(
            [
                escape(s.pipeline),
                escape(s.content_type or "-"),
                (s.fingerprint or "-")[:12],
                f"{s.count:,}",
                s.first_at.strftime("%Y-%m-%d %H:%M:%S"),
                s.last_at.strftime("%Y-%m-%d %H:%M:%S"),
                escape(problems),
            ]
        )
    columns = Columns.of(
        "pipeline", "content type", "shape", "count", "first seen", "last seen",
        "problems of the latest", identifiers=(0, 2, 4, 5), numbers=(3,),
    )  # fmt: skip
    print_rows(out, columns, rows)


@decisions_app.command("show")
def show(
    decision_id: Annotated[str, typer.Argument(help="The decision_id of a response.")],
    store: StoreOpt = None,
) -> None:
    """One logged decision as JSON: release, plan hash, the content hash of every
    component, the masked input, every output, step timings and the challengers'."""
    from kaskad.store.decision_reads import decision_detail

    try:
        detail = decision_detail(store_location(store), decision_id)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    out.print_json(json.dumps(detail, default=_text, ensure_ascii=False))


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def _register() -> None:
    from kaskad.cli.decisions_audit import register

    register(decisions_app)


_register()
