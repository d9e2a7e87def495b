"""``kaskad decisions replay | explain | export | prune | erase``: auditing and keeping
the served decision log (thin over :mod:`kaskad.audit` and
:mod:`kaskad.store.decision_keeping`; see docs/audit.md)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from kaskad.cli.common import (
    ActorOpt,
    AllowEnvOpt,
    StoreOpt,
    actor_name,
    cache_root,
    err,
    fail,
    out,
    store_location,
)
from kaskad.cli.exitcodes import ExitCode, exit_code_for
from kaskad.errors import KaskadError

if TYPE_CHECKING:
    from kaskad.audit.replay import ReplayReport

__all__ = ["PipelineOpt", "SinceOpt", "UntilOpt", "parse_time", "register"]

SinceOpt = Annotated[
    str | None,
    typer.Option(
        help="From this time on (ISO date or time; UTC unless given).", show_default=False
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(help="Before this time (ISO date or time; UTC unless given).", show_default=False),
]
PipelineOpt = Annotated[
    str | None, typer.Option(help="Only this served pipeline.", show_default=False)
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        help="The registry holding the releases, if not the --store that holds the log.",
        show_default=False,
    ),
]


def parse_time(text: str | None, option: str) -> dt.datetime | None:
    """``2025-03-01`` or ``2025-03-01T12:00[:00][+03:00]`` as an aware time (UTC if none)."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(
            f"{option} {text!r}: write a date or time, e.g. 2025-03-01 or 2025-03-01T12:00",
            ExitCode.USAGE,
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _print_replay(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str, ensure_ascii=False))
        return
    for ref, checks in report.releases.items():
        out.print(f"release [bold]{escape(ref)}[/]: {escape('; '.join(checks))}", highlight=False)
    out.print(
        f"[bold]{report.matched:,}[/] bit-identical, [bold]{len(report.mismatched):,}[/] differ,"
        f" [bold]{len(report.unreplayable):,}[/] cannot be replayed"
        f" ({report.rejected_skipped:,} rejected requests not replayed)",
        highlight=False,
    )
    if report.fields_differing:
        shown = ", ".join(f"{k} ({n:,})" for k, n in report.fields_differing.most_common(10))
        out.print(f"fields that differ: {escape(shown)}", highlight=False)
    for r in report.mismatched[:10]:
        first = "; ".join(
            f"{d.field}: logged {d.logged!r}, now {d.replayed!r}" for d in r.differences[:3]
        )
        out.print(f"  differs {r.decision_id}: {escape(first)}", highlight=False)
    reasons: dict[str, int] = {}
    for r in report.unreplayable:
        reasons[r.reason or "?"] = reasons.get(r.reason or "?", 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda x: -x[1]):
        out.print(f"  cannot be replayed ({n:,}): {escape(reason)}", highlight=False)


def replay(
    decision_id: Annotated[
        str | None, typer.Argument(help="One decision; or give a window.", show_default=False)
    ] = None,
    pipeline: PipelineOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    store: StoreOpt = None,
    registry: RegistryOpt = None,
    actor: ActorOpt = None,
    allow_environment_mismatch: AllowEnvOpt = False,
) -> None:
    """Re-run logged decisions through the releases that made them; compare every output
    bit for bit. Exit 0: all match; 1: some differ; 3: some cannot be replayed."""
    from kaskad.audit.replay import replay as run_replay
    from kaskad.store import Store

    if decision_id is None and pipeline is None and since is None and until is None:
        raise fail("give a decision id, or a window: --pipeline, --since, --until", ExitCode.USAGE)
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    log = store_location(store)
    try:
        with Store.open(registry or log) as opened:
            report = run_replay(
                log,
                opened,
                cache_root=cache_root(registry or store),
                actor=actor_name(actor),
                pipeline=pipeline,
                since=start,
                until=end,
                ids=[decision_id] if decision_id else None,
                allow_environment_mismatch=allow_environment_mismatch,
            )
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    if report.replayed + len(report.unreplayable) + report.rejected_skipped == 0:
        raise fail("no logged decisions match: nothing replayed", ExitCode.NO_MATCH)
    _print_replay(report, as_json)
    raise typer.Exit(report.exit_code)


def explain(
    decision_id: Annotated[str, typer.Argument(help="The decision_id of a response.")],
    html: Annotated[
        Path | None, typer.Option(help="Also write the explanation as an HTML page here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
    store: StoreOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """One decision in plain language: release and approvals, the branch that matched and
    those before it, every rule with its outcome and missing inputs, scores, challengers."""
    from kaskad.audit.explain import explain_decision, render_html, render_text
    from kaskad.store import Store

    log = store_location(store)
    try:
        with Store.open(registry or log) as opened:
            facts = explain_decision(
                log, opened, decision_id, cache_root=cache_root(registry or store)
            )
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    if as_json:
        out.print_json(json.dumps(facts, default=str, ensure_ascii=False))
    else:
        out.print(escape(render_text(facts)), highlight=False)
    if html is not None:
        try:
            html.write_text(render_html(facts), encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {html}: {exc.strerror}") from None
        err.print(f"explanation written to [bold]{escape(str(html))}[/]", highlight=False)


def export(
    out_path: Annotated[Path, typer.Option("--out", help="The Parquet file to write.")],
    pipeline: PipelineOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    release: Annotated[
        str | None,
        typer.Option(
            help="Add the inputs as typed columns of this release's schema (default: the"
            " release of the first decision exported; none if it has none).",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Export the log's rows (inputs, outputs, hashes) to Parquet, for keeping and for
    backtests."""
    from kaskad.audit.traffic import export_parquet, schema_of_release
    from kaskad.store import Store
    from kaskad.store.decision_keeping import iter_decisions

    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    log = store_location(store)
    try:
        if release is None:
            for rows in iter_decisions(
                log, pipeline=pipeline, since=start, until=end, statuses=["decided"], chunk=1
            ):
                release = rows[0]["release"]
                break
        schema = None
        if release is not None:
            with Store.open(registry or log) as opened:
                schema = schema_of_release(opened, release, cache_root(registry or store))
        rows_written = export_parquet(
            log, out_path, schema=schema, pipeline=pipeline, since=start, until=end
        )
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    typed = f", inputs typed as {release}" if schema is not None else ""
    out.print(
        f"{rows_written:,} decisions written to {escape(str(out_path))}{escape(typed)}",
        highlight=False,
    )


def prune(
    before: Annotated[str, typer.Option(help="Delete decisions logged before this time.")],
    pipeline: PipelineOpt = None,
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Delete old decisions (retention); recorded in the audit trail."""
    from kaskad.store.decision_keeping import prune as run_prune

    when = parse_time(before, "--before")
    assert when is not None
    try:
        result = run_prune(store_location(store), when, actor_name(actor), pipeline)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    dropped = (
        f" ({len(result.partitions_dropped)} monthly partitions dropped)"
        if result.partitions_dropped
        else ""
    )
    out.print(
        f"{result.decisions:,} decisions and {result.shadows:,} challenger outputs logged before"
        f" {when.isoformat()} deleted{dropped}; audit entry {result.audit.id}",
        highlight=False,
    )


def erase(
    key: Annotated[str, typer.Argument(help="The business key (the schema's key fields).")],
    reason: Annotated[str, typer.Option(help="Why (e.g. the erasure request's number).")],
    pipeline: PipelineOpt = None,
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Erase a person's logged inputs by business key; the decisions and their hashes
    stay verifiable; recorded in the audit trail."""
    from kaskad.store.decision_keeping import erase as run_erase

    try:
        result = run_erase(store_location(store), key, actor_name(actor), reason, pipeline)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    if result.audit is None:
        raise fail("no logged decision has that business key", ExitCode.NO_MATCH)
    out.print(
        f"inputs of {len(result.decisions):,} decisions erased"
        f" ({result.already_erased:,} already erased); key recorded as {result.key_digest};"
        f" audit entry {result.audit.id}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    for command in (replay, explain, export, prune, erase):
        app.command(command.__name__)(command)
