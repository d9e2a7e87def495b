"""``kaskad monitor``, ``kaskad labels`` and ``kaskad release reference``: monitoring from
the decision log (thin over :mod:`kaskad.monitor`).

- ``kaskad monitor PIPELINE --since 1h`` (or ``--last 500``, ``--until``): a terminal
  summary, ``--json``, ``--html FILE``; with ``--check`` the exit code is 1 when a
  threshold is crossed (for cron or a CI schedule), each crossing printed;
- ``kaskad labels load FILE --pipeline P --key decision_id|FIELD --label COL --at COL``
  and ``kaskad labels report P --maturity 90d``: outcomes that arrive later;
- ``kaskad release reference REF --data FILE`` (or ``--from-log``): freeze the reference
  a release's traffic is compared with.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from kaskad.cli.common import StoreOpt, cache_root, fail, out, store_location
from kaskad.cli.exitcodes import ExitCode, exit_code_for
from kaskad.cli.registry import opened
from kaskad.errors import KaskadError

_SPAN = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

labels_app = typer.Typer(help="Outcomes that arrive after the decision.", no_args_is_help=True)


def span(text: str) -> dt.timedelta:
    """``30m``, ``24h``, ``90d`` as a duration."""
    match = _SPAN.match(text.strip())
    if match is None:
        raise fail(f"{text!r}: write a number and m, h or d (e.g. 24h)")
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


def moment(text: str | None, *, ago: bool = True) -> dt.datetime | None:
    """A time: ``24h`` (that long ago) or ISO 8601 (UTC when no zone is given)."""
    if text is None:
        return None
    if ago and _SPAN.match(text.strip()):
        return dt.datetime.now(dt.UTC) - span(text)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r}: write 30m, 24h, 7d or an ISO time (2025-03-01T12:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


Since = Annotated[
    str | None,
    typer.Option(help="Start: 30m, 24h, 7d ago, or an ISO time.", show_default=False),
]
Until = Annotated[str | None, typer.Option(help="End (ISO time); now by default.")]


def monitor(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name (as served).", show_default=False)],
    since: Since = None,
    until: Until = None,
    last: Annotated[
        int | None, typer.Option(help="The last N records instead of a time window.", min=1)
    ] = None,
    release: Annotated[
        str | None, typer.Option(help="Only this release (NAME@N).", show_default=False)
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when a threshold is crossed, naming it.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option(help="Write the offline HTML report here.", show_default=False)
    ] = None,
    alpha: Annotated[
        float, typer.Option(help="False-alarm rate of the window's statistical tests.")
    ] = 0.01,
    new_share: Annotated[
        float, typer.Option(help="Share of traffic a new content type or shape must carry.")
    ] = 0.02,
    failure_rate: Annotated[float, typer.Option(help="Step-failure rate that alarms.")] = 0.01,
    flip_rate: Annotated[
        float, typer.Option(help="Challenger decision flip rate that alarms.")
    ] = 0.2,
    store: StoreOpt = None,
) -> None:
    """Monitor a window of the decision log: format sentinel, missing and unknown rates,
    decision mix, drift against the release's reference, champion versus challenger."""
    from kaskad.monitor.html import write_html
    from kaskad.monitor.window import Thresholds, WindowSpec, monitor_window

    spec = WindowSpec(pipeline, moment(since), moment(until, ago=False), last, release)
    thresholds = Thresholds(alpha, new_share, failure_rate=failure_rate, flip_rate=flip_rate)
    try:
        report = monitor_window(store_location(store), spec, thresholds)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    if html is not None:
        write_html(html, report)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=str, allow_nan=False) + "\n")
    else:
        _summary(report)
    if check and report["alarms"]:
        raise typer.Exit(ExitCode.FAILED)


def _summary(r: dict[str, Any]) -> None:
    w = r["window"]
    out.print(
        f"[bold]{escape(w['pipeline'])}[/]: {w['records']} records "
        f"({w['decided']} decided, {w['rejected']} rejected), {w['from']} → {w['to']}",
        highlight=False,
    )
    base = r["baseline"]
    out.print(f"baseline: {base['kind']} {escape(str(base.get('source', '')))}", highlight=False)
    f = r["format_sentinel"]
    mix = ", ".join(f"{escape(k)} {v}" for k, v in f["content_types"].items())
    out.print(f"content types: {mix or '-'}; shapes: {len(f['shapes'])}", highlight=False)
    out.print(f"rejection rate: {f['rejection_rate']:.2%}", highlight=False)
    missing = [x for x in r["fields"] if x["missing_rate"]]
    for x in sorted(missing, key=lambda x: -x["missing_rate"])[:10]:
        out.print(f"  missing {escape(x['series'])}: {x['missing_rate']:.2%}", highlight=False)
    for name, s in r["shadows"].items():
        out.print(f"challenger {escape(name)}: flip rate {s['flip_rate']:.2%}", highlight=False)
    if not r["alarms"]:
        out.print("[green]no alarm[/]")
    for a in r["alarms"]:
        out.print(
            f"[red]ALARM[/] {a['check']} {escape(a['subject'])}: {escape(a['message'])}",
            highlight=False,
        )


@labels_app.command("load")
def labels_load(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON Lines.", show_default=False)],
    pipeline: Annotated[str, typer.Option(help="Pipeline name.", show_default=False)],
    key: Annotated[
        str,
        typer.Option(help="decision_id, or the input field holding a business key."),
    ] = "decision_id",
    label: Annotated[str, typer.Option(help="Column of the outcome (0/1).")] = "label",
    at: Annotated[str | None, typer.Option(help="Column of when the outcome was observed.")] = None,
    store: StoreOpt = None,
) -> None:
    """Load outcomes that arrived after the decisions."""
    from kaskad.monitor.labels import load_labels

    try:
        loaded = load_labels(store_location(store), pipeline, file, key=key, label=label, at=at)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    out.print(f"loaded {loaded} labels for {escape(pipeline)} by {escape(key)}", highlight=False)


@labels_app.command("report")
def labels_report(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.", show_default=False)],
    since: Since = None,
    until: Until = None,
    maturity: Annotated[
        str, typer.Option(help="Label maturity: only decisions at least this old (90d).")
    ] = "0d",
    vintage: Annotated[str, typer.Option(help="day, week or month.")] = "month",
    store: StoreOpt = None,
) -> None:
    """AUC, KS and bad rate of every score, overall, by decision and by vintage (JSON)."""
    from kaskad.monitor.labels import label_report

    try:
        report = label_report(
            store_location(store),
            pipeline,
            since=moment(since),
            until=moment(until, ago=False),
            maturity=span(maturity),
            vintage=vintage,
        )
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")


def release_reference(
    ref: Annotated[str, typer.Argument(help="Release: NAME@NUMBER.", show_default=False)],
    data: Annotated[
        Path | None,
        typer.Option(help="Reference records (training or backtest sample).", show_default=False),
    ] = None,
    from_log: Annotated[
        bool, typer.Option("--from-log", help="From the release's own served traffic.")
    ] = False,
    since: Since = None,
    until: Until = None,
    store: StoreOpt = None,
) -> None:
    """Freeze the monitoring reference of a release (replacing the golden-case one)."""
    from kaskad.monitor.reference import freeze_rows, rows_of_file
    from kaskad.registry.releases import load_release
    from kaskad.store.monitoring import read_window

    if (data is None) == (not from_log):
        raise fail("give either --data FILE or --from-log")
    location = store_location(store)
    try:
        with opened(store) as s:
            release = s.resolve(ref)
            if data is not None:
                loaded = load_release(s, release.ref, actor="monitor", cache_root=cache_root(store))
                rows = rows_of_file(loaded.plan, data)
                source = str(data)
            else:
                window = read_window(
                    location,
                    release.pipeline,
                    since=moment(since),
                    until=moment(until, ago=False),
                    release=release.ref,
                )
                rows, source = window.rows, f"decision log of {release.ref}"
            reference = freeze_rows(s, location, release.ref, rows, source)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    out.print(
        f"froze the monitoring reference of {release.ref} from {reference['records']} "
        f"records ({escape(source)})",
        highlight=False,
    )
