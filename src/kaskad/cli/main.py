"""The ``kaskad`` command: a thin layer over the library."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from kaskad import __version__
from kaskad.batch.files import OutputWriter, chunks, read_input
from kaskad.cli.common import ActorOpt, AllowEnvOpt, StoreOpt, err, is_release_ref, out
from kaskad.cli.registry import audit, load, model_app, release_app
from kaskad.cli.render import print_decision, print_plan, print_problems
from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.errors import InputError, KaskadError, SpecError
from kaskad.execute.batch import BatchExecutor
from kaskad.execute.explain import explain
from kaskad.execute.record import RecordExecutor

app = typer.Typer(
    name="kaskad",
    help="Versioned decision pipelines: rules, model cascades and shadows, identical in "
    "batch and in real time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(model_app, name="model")
app.add_typer(release_app, name="release")
app.command("audit")(audit)

PipelineArg = Annotated[
    str,
    typer.Argument(
        help="Pipeline file, or a release: NAME@NUMBER, NAME@production.", show_default=False
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"kaskad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """kaskad command line."""


def _load(
    pipeline: str,
    as_json: bool = False,
    store: str | None = None,
    actor: str | None = None,
    allow_env: bool = False,
) -> Plan:
    if is_release_ref(pipeline):
        return load(store, pipeline, actor, allow_env).plan
    try:
        return compile_pipeline(Path(pipeline))
    except SpecError as exc:
        if as_json:
            out.print_json(data={"valid": False, "problems": [p.to_dict() for p in exc.problems]})
        else:
            print_problems(err, exc.problems)
        raise typer.Exit(1) from None


@app.command()
def validate(
    pipeline: PipelineArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a pipeline and every component it uses; report every problem at once."""
    plan = _load(pipeline, as_json)
    if as_json:
        out.print_json(
            data={
                "valid": True,
                "pipeline": plan.name,
                "plan_hash": plan.hash,
                "components": [
                    {"kind": c.kind, "name": c.name, "source": c.source, "sha256": c.sha256}
                    for c in plan.components
                ],
                "outputs": [name for name, _ in plan.output_fields()],
            }
        )
        return
    print_plan(out, plan)


def _read_record(source: Path | None) -> Any:
    if source is None or str(source) == "-":
        text = sys.stdin.read()
        where = "standard input"
    else:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            err.print(f"[red]error:[/] cannot read {source}: {exc.strerror}")
            raise typer.Exit(2) from None
        where = str(source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        err.print(
            f"[red]error:[/] {where} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        )
        raise typer.Exit(2) from None


@app.command()
def decide(
    pipeline: PipelineArg,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="JSON file with one record; standard input when omitted."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print result and trace as JSON.")
    ] = False,
    store: StoreOpt = None,
    actor: ActorOpt = None,
    allow_environment_mismatch: AllowEnvOpt = False,
) -> None:
    """Decide one record and show the trace: rule outcomes, scores, timings, hashes."""
    plan = _load(pipeline, False, store, actor, allow_environment_mismatch)
    record = _read_record(input)
    try:
        decision = RecordExecutor(plan).decide(record)
    except KaskadError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    report = explain(plan, decision)
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        print_decision(out, plan, report)
    if decision.output.get("status") == "rejected":
        raise typer.Exit(3)


@app.command()
def run(
    pipeline: PipelineArg,
    input: Annotated[
        Path,
        typer.Option(
            "--input", "-i", help="Input file: .csv, .parquet or .jsonl.", show_default=False
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Output file: .csv, .parquet or .jsonl.", show_default=False
        ),
    ],
    chunk_size: Annotated[int, typer.Option(help="Rows per batch.", min=1)] = 50_000,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
    store: StoreOpt = None,
    actor: ActorOpt = None,
    allow_environment_mismatch: AllowEnvOpt = False,
) -> None:
    """Decide every record of a file; write one result row per record."""
    plan = _load(pipeline, False, store, actor, allow_environment_mismatch)
    try:
        frame = read_input(input, plan.schema)
        writer = OutputWriter(output)
    except InputError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    executor = BatchExecutor(plan)
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    try:
        with progress:
            task = progress.add_task(plan.name, total=frame.height, rate="")
            for chunk in chunks(frame, chunk_size):
                result = executor.run(chunk, str(input))
                writer.write(result)
                counts.update(result.get_column("decision").fill_null("(rejected)").to_list())
                done = sum(counts.values())
                rate = done / max(time.perf_counter() - start, 1e-9)
                progress.update(task, advance=chunk.height, rate=f"{rate:,.0f} rows/s")
        writer.commit()
    except KaskadError as exc:
        writer.abort()
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except BaseException:
        writer.abort()
        raise
    elapsed = time.perf_counter() - start
    if not quiet:
        _print_summary(plan, frame.height, counts, elapsed, output)


def _print_summary(
    plan: Plan, rows: int, counts: Counter[str], elapsed: float, output: Path
) -> None:
    err.print(
        f"[bold]{plan.name}[/]: {rows:,} records in {elapsed:.2f} s "
        f"({rows / max(elapsed, 1e-9):,.0f} rows/s), plan {plan.hash[:12]}",
        highlight=False,
    )
    table = Table("decision", "records", "share")
    table.columns[1].justify = "right"
    table.columns[2].justify = "right"
    for decision, n in counts.most_common():
        table.add_row(decision, f"{n:,}", f"{n / max(rows, 1):.1%}")
    err.print(table)
    err.print(f"written to [bold]{output}[/]", highlight=False)


def main() -> None:
    pl.Config.set_tbl_hide_dataframe_shape(True)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
