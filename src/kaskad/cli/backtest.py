"""``kaskad backtest``: replay history through two releases and show what would change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from kaskad.cli.common import (
    ActorOpt,
    AllowEnvOpt,
    StoreOpt,
    actor_name,
    cache_root,
    err,
    fail,
    out,
    progress_bar,
    store_location,
)
from kaskad.cli.decisions_audit import SinceOpt, UntilOpt
from kaskad.cli.exitcodes import ExitCode, exit_code_for
from kaskad.cli.masking_opts import (
    MaskingKeyEnvOpt,
    MaskingKeyFileOpt,
    MaskingKeyIdOpt,
    UnmaskedOpt,
    output_masking,
)
from kaskad.errors import InputError, KaskadError, SpecError, StoreError
from kaskad.store.refs import ReleaseSelector

if TYPE_CHECKING:
    import polars as pl
    from rich.progress import Progress

    from kaskad.backtest.run import BacktestResult
    from kaskad.compile.plan import Plan
    from kaskad.spec.schema import Schema

__all__ = ["WORKING", "backtest"]

WORKING = "working"
_REF_HELP = "NAME@NUMBER, NAME@STAGE, or 'working' for the pipeline file as it is on disk."


def _plan(
    pipeline: Path, ref: str, store: str | None, actor: str | None, allow_env: bool
) -> tuple[Plan, str | None]:
    """The plan for ``ref`` and the release it came from (``NAME@NUMBER``; None if working)."""
    from kaskad.cli.registry import load

    if ref == WORKING:
        from kaskad.cli.render import print_problems
        from kaskad.compile.compiler import compile_pipeline
        from kaskad.registry.references import StoreResolver

        resolver = StoreResolver(store_location(store), cache_root(store))
        try:
            return compile_pipeline(pipeline, resolver=resolver), None
        except SpecError as exc:
            print_problems(err, exc.problems)
            raise typer.Exit(ExitCode.FAILED) from None
        except KaskadError as exc:
            raise fail(str(exc), exit_code_for(exc)) from None
    try:
        ReleaseSelector.parse(ref)
    except StoreError:
        raise fail(f"{ref!r} is not a release: write {_REF_HELP}") from None
    loaded = load(store, ref, actor, allow_env)
    return loaded.plan, loaded.release.ref


def _reading_schema(baseline: Schema, candidate: Schema, label: str | None) -> Schema:
    """Both schemas' fields (the baseline's type wins) and the label, so that every column
    either plan reads, and the label, are read from the file."""
    from kaskad.spec.schema import Schema
    from kaskad.spec.types import FLOAT, Field

    fields = list(baseline.fields)
    known = {f.name for f in fields}
    fields += [f for f in candidate.fields if f.name not in known]
    if label is not None and label not in known | {f.name for f in candidate.fields}:
        fields.append(Field(label, FLOAT))
    return Schema(baseline.name, tuple(fields), baseline.description, baseline.source)


def _check_label(input: str, frame: pl.DataFrame, label: str, is_file: bool) -> None:
    """K701 when the label column is absent from the input, or present with no value."""
    from kaskad.backtest.result import LabelError
    from kaskad.io.files import file_columns

    columns = file_columns(Path(input)) if is_file else frame.columns
    if label not in columns:
        shown = ", ".join(columns[:12]) + (", …" if len(columns) > 12 else "")
        raise LabelError(
            f"{input}: K701 no column {label!r} to use as the label; its columns: {shown}"
        )
    if frame[label].null_count() == frame.height:
        raise LabelError(f"{input}: K701 label column {label!r} has no values (all missing)")


def reading_types(schema: Schema) -> dict[str, pl.DataType]:
    from kaskad.compile.expr.polars_dtypes import to_polars_dtype

    return {f.name: to_polars_dtype(f.dtype) for f in schema.fields}


def _with_progress(
    frame: pl.DataFrame, size: int, progress: Progress, name: str
) -> Iterator[pl.DataFrame]:
    task = progress.add_task(name, total=frame.height, rate="")
    start, done = time.perf_counter(), 0
    for chunk in frame.iter_slices(size):
        yield chunk  # the backtest runs both plans on it before asking for the next
        done += chunk.height
        rate = done / max(time.perf_counter() - start, 1e-9)
        progress.update(task, advance=chunk.height, rate=f"{rate:,.0f} rows/s")


def backtest(
    pipeline: Annotated[
        Path,
        typer.Argument(
            help="Pipeline file: the working copy that --baseline/--candidate 'working' means.",
            show_default=False,
        ),
    ],
    baseline: Annotated[
        str, typer.Option("--baseline", help="The release in use: " + _REF_HELP, show_default=False)
    ],
    candidate: Annotated[
        str,
        typer.Option("--candidate", help="The proposed release: " + _REF_HELP, show_default=False),
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="History to replay: .csv, .parquet or .jsonl, or decisions:PIPELINE for the"
            " inputs logged by a served pipeline (with --since/--until; rejected excluded).",
            show_default=False,
        ),
    ],
    label: Annotated[
        str | None,
        typer.Option(help="A 0/1 outcome column of the input: AUC, Gini, KS and outcome rates."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report here.")
    ] = None,
    summary: Annotated[Path | None, typer.Option(help="Write every number as JSON here.")] = None,
    store: StoreOpt = None,
    actor: ActorOpt = None,
    allow_environment_mismatch: AllowEnvOpt = False,
    chunk_size: Annotated[int, typer.Option(help="Rows per batch.", min=1)] = 50_000,
    since: SinceOpt = None,
    until: UntilOpt = None,
    masking_key_file: MaskingKeyFileOpt = None,
    masking_key_env: MaskingKeyEnvOpt = None,
    masking_key_id: MaskingKeyIdOpt = "k1",
    unmasked: UnmaskedOpt = False,
) -> None:
    """Replay history through two releases: decision flips, rule rates, score shift, AUC.
    Example keys that are sensitive input fields are shown as digests unless --unmasked."""
    import polars as pl

    from kaskad.audit.traffic import decided_only, logged_frames, parse_decisions_input
    from kaskad.backtest.report import write_report, write_summary
    from kaskad.backtest.run import backtest as run_backtest
    from kaskad.cli.decisions_audit import parse_time
    from kaskad.io.files import read_input

    base, base_ref = _plan(pipeline, baseline, store, actor, allow_environment_mismatch)
    cand, cand_ref = _plan(pipeline, candidate, store, actor, allow_environment_mismatch)
    if base.name != cand.name:
        err.print(
            f"[yellow]warning:[/] comparing two different pipelines: {escape(base.name)} and "
            f"{escape(cand.name)}"
        )
    reading = _reading_schema(base.schema, cand.schema, label)
    try:
        logged = parse_decisions_input(input)
        if logged is not None:
            start, end = parse_time(since, "--since"), parse_time(until, "--until")
            frames = list(
                logged_frames(
                    store_location(store), reading, pipeline=logged, since=start, until=end
                )
            )
            frame = pl.concat(frames) if frames else pl.DataFrame(schema=reading_types(reading))
        else:
            frame = decided_only(read_input(Path(input), reading))
        if frame.height == 0:
            raise InputError(f"{input}: no records to replay")
        if label is not None:
            _check_label(input, frame, label, logged is None)
    except InputError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    masking = output_masking(
        err,
        base.schema,
        [k for k in base.schema.keys if k in cand.schema.keys],
        file=masking_key_file,
        env=masking_key_env,
        key_id=masking_key_id,
        unmasked=unmasked,
        pipeline=base.name,
        output=str(report or summary or "kaskad backtest"),
        store=store,
        actor=actor_name(actor),
    )
    progress = progress_bar()
    try:
        with progress:
            result = run_backtest(
                base,
                cand,
                _with_progress(frame, chunk_size, progress, f"backtest {base.name}"),
                label,
                baseline_ref=base_ref,
                candidate_ref=cand_ref,
                input_name=str(input),
                masking=masking,
            )
    except InputError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    _print(result)
    try:
        if summary is not None:
            write_summary(summary, result)
            err.print(f"summary written to [bold]{escape(str(summary))}[/]", highlight=False)
        if report is not None:
            write_report(report, result)
            err.print(f"report written to [bold]{escape(str(report))}[/]", highlight=False)
    except OSError as exc:
        raise fail(f"cannot write {exc.filename}: {exc.strerror}") from None


def _name(ref: str | None, plan_name: str) -> str:
    return ref or f"{plan_name} (working copy)"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _print(r: BacktestResult) -> None:
    share = _pct(r.flip_share)
    out.print(
        f"[bold]{r.flipped:,}[/] of {r.rows:,} decisions ({share}) flip from "
        f"[bold]{escape(_name(r.baseline.ref, r.baseline.name))}[/] to "
        f"[bold]{escape(_name(r.candidate.ref, r.candidate.name))}[/]",
        highlight=False,
    )
    _print_changes(r)
    matrix = Table("baseline ↓ candidate →", *r.decisions, title="flip matrix")
    for b in r.decisions:
        cells = []
        for c in r.decisions:
            n = r.cell(b, c)
            cells.append(f"[dim]{n:,}[/]" if b == c else (f"[bold yellow]{n:,}[/]" if n else "0"))
        matrix.add_row(escape(b), *cells)
    out.print(matrix)
    changed = [
        rule
        for rule in r.rules
        if rule.presence != "both" or rule.rows_changed or rule.definition_changed
    ]
    if changed:
        rules = Table("rule", "in", "hit rate", "unknown rate", "rows changed", title="rules")
        for rule in changed:
            before, after = rule.baseline, rule.candidate
            rules.add_row(
                escape(rule.column),
                rule.presence,
                " → ".join(_pct(x.hit_rate if x else None) for x in (before, after)),
                " → ".join(_pct(x.unknown_rate if x else None) for x in (before, after)),
                "—" if rule.rows_changed is None else f"{rule.rows_changed:,}",
            )
        out.print(rules)
    else:
        out.print("no rule changed its outcome on any row")
    if r.scores:
        scores = Table("score", "PSI", "reading", "rows changed", title="score shift")
        for s in r.scores:
            psi = "—" if s.psi is None else f"{s.psi:.4f}"
            scores.add_row(escape(s.output), psi, s.stability or "—", f"{s.rows_changed:,}")
        out.print(scores)
    if r.performance:
        perf = Table("score", "rows", "AUC", "Gini", "KS", title=f"against {escape(r.label or '')}")
        by = {(p.output, p.release): p for p in r.performance}
        for output in dict.fromkeys(p.output for p in r.performance):
            pair = (by.get((output, "baseline")), by.get((output, "candidate")))
            rows = next(p.rows for p in pair if p is not None)
            perf.add_row(
                escape(output),
                f"{rows:,}",
                *(
                    " → ".join(_num(getattr(p, m) if p else None) for p in pair)
                    for m in ("auc", "gini", "ks")
                ),
            )
        out.print(perf)


def _print_changes(r: BacktestResult) -> None:
    """Every change between the releases, next to the flips it explains."""
    if not r.changes:
        out.print("the releases decide with the same rules, branches, models and features")
        return
    table = Table("change", "status", "baseline", "candidate", "flips", title="what changed")
    for c in r.changes:
        table.add_row(
            f"{c.kind} {escape(c.name)}",
            c.status,
            escape(c.before or "—"),
            escape(c.after or "—"),
            f"{c.flips:,}",
        )
    if r.flips_unexplained:
        table.add_row("(no change above)", "", "", "", f"{r.flips_unexplained:,}")
    if r.flips_rejected:
        table.add_row("(rejected by one release)", "", "", "", f"{r.flips_rejected:,}")
    out.print(table)
