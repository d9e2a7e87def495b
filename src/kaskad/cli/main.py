"""The ``kaskad`` command: a thin layer over the library."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from kaskad import __version__
from kaskad.cli import helptext
from kaskad.cli.approvals import release_approve, release_require_approval
from kaskad.cli.audit_trail import audit_app
from kaskad.cli.backtest import backtest
from kaskad.cli.bundle import bundle_app
from kaskad.cli.common import (
    ActorOpt,
    AllowEnvOpt,
    StoreOpt,
    actor_name,
    cache_root,
    err,
    fail,
    is_release_ref,
    out,
    progress_bar,
    store_location,
)
from kaskad.cli.decisions import decisions_app
from kaskad.cli.dmn import import_dmn
from kaskad.cli.docs import docs
from kaskad.cli.exitcodes import ExitCode, exit_code_for
from kaskad.cli.guard import KaskadGroup
from kaskad.cli.masking_opts import (
    MaskingKeyEnvOpt,
    MaskingKeyFileOpt,
    MaskingKeyIdOpt,
    UnmaskedOpt,
    output_masking,
)
from kaskad.cli.monitor import labels_app, monitor, release_reference
from kaskad.cli.passport import passport
from kaskad.cli.registry import load, model_app, release_app
from kaskad.cli.runs import runs
from kaskad.cli.scorecard import scorecard_app
from kaskad.cli.serve import serve
from kaskad.cli.store import store_app
from kaskad.errors import KaskadError, SpecError

if TYPE_CHECKING:
    from kaskad.batch.summary import RunSummary
    from kaskad.compile.plan import Plan
    from kaskad.errors import Problem
    from kaskad.spec.pipeline import PipelineSpec

# The commands' modules import only Typer, Rich and small kaskad modules; each command
# imports the library parts it uses (compiler, executors, store, server) when it runs, so
# that `kaskad --help` and `kaskad --version` start in a fraction of a second.

helptext.install()

app = typer.Typer(
    name="kaskad",
    cls=KaskadGroup,
    help="Versioned decision pipelines: rules, model cascades and shadows, identical in "
    "batch and in real time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(model_app, name="model", rich_help_panel=helptext.REGISTRY)
app.add_typer(release_app, name="release", rich_help_panel=helptext.REGISTRY)
app.add_typer(decisions_app, name="decisions", rich_help_panel=helptext.MONITOR)
app.add_typer(store_app, name="store", rich_help_panel=helptext.DELIVER)
app.add_typer(bundle_app, name="bundle", rich_help_panel=helptext.DELIVER)
app.add_typer(labels_app, name="labels", rich_help_panel=helptext.MONITOR)
release_app.command("reference")(release_reference)
release_app.command("approve")(release_approve)
release_app.command("require-approval")(release_require_approval)
app.command("monitor")(monitor)
app.add_typer(scorecard_app, name="scorecard")
app.add_typer(audit_app, name="audit")
app.command("backtest")(backtest)
app.command("serve")(serve)
app.command("runs")(runs)
app.command("passport")(passport)
app.command("import-dmn", rich_help_panel=helptext.BUILD)(import_dmn)
app.command("docs", rich_help_panel=helptext.DELIVER)(docs)
app.command("monitor", rich_help_panel=helptext.MONITOR)(monitor)
app.add_typer(scorecard_app, name="scorecard", rich_help_panel=helptext.BUILD)
app.add_typer(audit_app, name="audit", rich_help_panel=helptext.MONITOR)
app.command("backtest", rich_help_panel=helptext.RUN)(backtest)
app.command("serve", rich_help_panel=helptext.SERVE)(serve)
app.command("runs", rich_help_panel=helptext.RUN)(runs)
app.command("passport", rich_help_panel=helptext.MONITOR)(passport)

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
    return _compiled(pipeline, as_json, store)[1]


def _compiled(pipeline: str, as_json: bool, store: str | None = None) -> tuple[PipelineSpec, Plan]:
    """The pipeline file's spec and plan; its problems printed (exit 1) when it has any.
    Registered models (``registered: fraud@production``) resolve through ``store``."""
    from kaskad.cli.render import print_problems
    from kaskad.compile.compiler import compile_with_spec
    from kaskad.registry.references import StoreResolver

    resolver = StoreResolver(store_location(store), cache_root(store))
    try:
        return compile_with_spec(Path(pipeline), resolver=resolver)
    except SpecError as exc:
        if as_json:
            out.print_json(data={"valid": False, "problems": [p.to_dict() for p in exc.problems]})
        else:
            print_problems(err, exc.problems)
        raise typer.Exit(ExitCode.FAILED) from None


@app.command(rich_help_panel=helptext.BUILD)
def validate(
    pipeline: PipelineArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            "--warnings-as-errors",
            help="Treat lint warnings (K230-K233, K901-K904) as errors: exit 1 when there are any.",
        ),
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Check a pipeline and every component it uses; report every problem at once, then
    the lint warnings (codes K8xx; with --strict they fail the check)."""
    from kaskad.cli.render import print_plan, print_warnings

    plan, warnings = _load_linted(pipeline, as_json, store)
    failing = strict and bool(warnings)
    if as_json:
        from kaskad.execute.explain import component_entries

        out.print_json(
            data={
                "valid": not failing,
                "warnings": [w.to_dict() for w in warnings],
                "pipeline": plan.name,
                "plan_hash": plan.hash,
                # sha256: the component hash; artifact_sha256 (models): the file's bytes
                "components": component_entries(plan),
                "outputs": [name for name, _ in plan.output_fields()],
                # what scores each model: a compiled kernel or the library (and why)
                "kernels": {
                    n.name: {"kernel": n.kernel, "reason": n.kernel_reason}
                    for n in plan.model_nodes()
                },
            }
        )
        if failing:
            raise typer.Exit(ExitCode.FAILED)
        return
    if warnings:
        print_warnings(err, warnings, as_errors=strict)
        if failing:
            raise typer.Exit(ExitCode.FAILED)
    print_plan(out, plan)


def _load_linted(
    pipeline: str, as_json: bool, store: str | None = None
) -> tuple[Plan, list[Problem]]:
    """The plan and its lint warnings (none for a release: it was checked when made)."""
    if is_release_ref(pipeline):
        return _load(pipeline, as_json, store), []
    from kaskad.compile.lint import lint

    spec, plan = _compiled(pipeline, as_json, store)
    return plan, lint(spec, plan)


def _read_record(source: Path | None) -> Any:
    if source is None or str(source) == "-":
        text = sys.stdin.read()
        where = "standard input"
    else:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            err.print(f"[red]error:[/] cannot read {source}: {exc.strerror}")
            raise typer.Exit(ExitCode.USAGE) from None
        where = str(source)
    from kaskad.execute.contract import loads as contract_loads

    try:
        return contract_loads(text)
    except json.JSONDecodeError as exc:
        err.print(
            f"[red]error:[/] {where} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        )
        raise typer.Exit(ExitCode.USAGE) from None


@app.command(rich_help_panel=helptext.BUILD)
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
    masking_key_file: MaskingKeyFileOpt = None,
    masking_key_env: MaskingKeyEnvOpt = None,
    masking_key_id: MaskingKeyIdOpt = "k1",
    unmasked: UnmaskedOpt = False,
) -> None:
    """Decide one record and show the trace: rule outcomes, scores, timings, hashes.
    Sensitive input fields the result echoes (a sensitive key) are shown as digests
    unless --unmasked."""
    from kaskad.cli.render import print_decision
    from kaskad.execute.explain import explain
    from kaskad.execute.record import RecordExecutor

    plan = _load(pipeline, False, store, actor, allow_environment_mismatch)
    record = _read_record(input)
    try:
        decision = RecordExecutor(plan).decide(record)
    except KaskadError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(ExitCode.FAILED) from None
    masking = output_masking(
        err,
        plan.schema,
        decision.output,
        file=masking_key_file,
        env=masking_key_env,
        key_id=masking_key_id,
        unmasked=unmasked,
        pipeline=plan.name,
        output="kaskad decide",
        store=store,
        actor=actor_name(actor),
    )
    report = explain(plan, decision)
    if masking is not None:
        report["result"] = masking.row(report["result"])
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        print_decision(out, plan, report)
    if decision.output.get("status") == "rejected":
        raise typer.Exit(ExitCode.REJECTED)


@app.command(rich_help_panel=helptext.RUN)
def run(
    pipeline: PipelineArg,
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="Input: a .csv, .parquet or .jsonl file, a folder of them, or a PostgreSQL "
            "URL (postgresql://user@host/db) with --input-table or --input-query.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Output: a .csv, .parquet or .jsonl file, or a PostgreSQL URL with "
            "--output-table. It appears only when the run completes.",
            show_default=False,
        ),
    ],
    input_table: Annotated[
        str | None, typer.Option(help="Table to read (PostgreSQL input).", show_default=False)
    ] = None,
    input_query: Annotated[
        str | None, typer.Option(help="Query to read (PostgreSQL input).", show_default=False)
    ] = None,
    output_table: Annotated[
        str | None,
        typer.Option(help="Table to write, replaced (PostgreSQL output).", show_default=False),
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Rows per batch.", min=1)] = 50_000,
    rejects: Annotated[
        str | None,
        typer.Option(
            help="Write rejected records (unreadable or invalid) to this .jsonl, .csv or "
            ".parquet file instead of the output.",
            show_default=False,
        ),
    ] = None,
    max_rejected: Annotated[
        str | None,
        typer.Option(
            help="Fail the run, writing nothing, when more records than this are rejected: "
            "a count (10) or a share of the records read (0.5%). Exit code 3.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not keep the run summary in the store.")
    ] = False,
    engine: Annotated[
        str, typer.Option(help="local (this process, streaming) or spark.")
    ] = "local",
    master: Annotated[
        str, typer.Option(help="Spark master URL, with --engine spark.")
    ] = "local[*]",
    store: StoreOpt = None,
    actor: ActorOpt = None,
    allow_environment_mismatch: AllowEnvOpt = False,
    masking_key_file: MaskingKeyFileOpt = None,
    masking_key_env: MaskingKeyEnvOpt = None,
    masking_key_id: MaskingKeyIdOpt = "k1",
    unmasked: UnmaskedOpt = False,
) -> None:
    """Decide every record of a file, folder or table, chunk by chunk; write one result
    row per record; print the run summary and keep it in the store (`kaskad runs`).
    Sensitive input fields the output echoes (a sensitive key) are written as digests,
    in the output and the rejects, unless --unmasked.
    Exit codes: 0 done; 1 the run failed; 2 the input, output or options are wrong;
    3 more records rejected than --max-rejected allows (nothing written)."""
    from kaskad.batch.rejects import RejectLimit, TooManyRejectedError, rejects_schema
    from kaskad.batch.summary import SummaryBuilder, run_batch
    from kaskad.cli.runs import print_run_summary
    from kaskad.execute.batch import BatchExecutor
    from kaskad.io.sinks import open_sink, removing_partials_on_signals
    from kaskad.io.sources import open_source

    release = None
    entry = Path(pipeline)
    if is_release_ref(pipeline):
        loaded = load(store, pipeline, actor, allow_environment_mismatch)
        plan, release = loaded.plan, loaded.release.ref
        entry = loaded.root / Path(str(loaded.release.manifest["entry"])).name
    else:
        plan = _load(pipeline, store=store)
    if engine not in ("local", "spark"):
        err.print(f"[red]error:[/] unknown engine {engine!r}; use local or spark")
        raise typer.Exit(ExitCode.USAGE)
    if engine == "spark":
        if rejects is not None or max_rejected is not None:
            err.print(
                "[red]error:[/] --rejects and --max-rejected work with --engine local only; "
                "on Spark rejected records are rows of the output (status 'rejected')"
            )
            raise typer.Exit(ExitCode.USAGE)
        columns = [name for name, _ in plan.output_fields()]
        from kaskad.execute.output_masking import echoed_sensitive

        if echoed_sensitive(plan.schema, columns) and not unmasked:
            err.print(
                "[red]error:[/] the output echoes sensitive fields and --engine spark does"
                " not mask them: use --engine local, or --unmasked (recorded in the audit"
                " trail)"
            )
            raise typer.Exit(ExitCode.USAGE)
        output_masking(
            err,
            plan.schema,
            columns,
            file=None,
            env=None,
            key_id=masking_key_id,
            unmasked=unmasked,
            pipeline=plan.name,
            output=output,
            store=store,
            actor=actor_name(actor),
        )
        _run_spark(entry, plan, input, output, master, chunk_size)
        return
    with removing_partials_on_signals():  # no partial output left on SIGINT or SIGTERM
        executor = BatchExecutor(plan)
        masking = output_masking(
            err,
            plan.schema,
            executor.output_schema,
            file=masking_key_file,
            env=masking_key_env,
            key_id=masking_key_id,
            unmasked=unmasked,
            pipeline=plan.name,
            output=output_table or output,
            store=store,
            actor=actor_name(actor),
        )
        written = masking.schema(executor.output_schema) if masking else executor.output_schema
        try:
            limit = RejectLimit.parse(max_rejected) if max_rejected is not None else None
            source = open_source(
                input, plan.schema, chunk_size=chunk_size, table=input_table, query=input_query
            )
            total = source.count_rows() if not quiet else None
            sink = open_sink(output, written, table=output_table)
            reject_sink = (
                open_sink(rejects, rejects_schema(written)) if rejects is not None else None
            )
        except KaskadError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(ExitCode.USAGE) from None
        summary = SummaryBuilder(plan, source.name, sink.name, release=release)
        progress = progress_bar(quiet)
        task = progress.add_task(plan.name, total=total, rate="")

        def advance(rows: int) -> None:
            rate = f"{summary.rows_in / max(summary.elapsed_s, 1e-9):,.0f} rows/s"
            progress.update(task, advance=rows, rate=rate)

        try:
            with progress:
                result = run_batch(
                    executor,
                    source,
                    sink,
                    summary,
                    on_chunk=advance,
                    rejects=reject_sink,
                    max_rejected=limit,
                    masking=masking,
                )
        except KaskadError as exc:
            failed = summary.finish(error=str(exc))
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            if not no_record:
                _record(store, failed, actor)
            code = (
                ExitCode.REJECTED if isinstance(exc, TooManyRejectedError) else exit_code_for(exc)
            )
            raise typer.Exit(code) from None
        if not quiet:
            print_run_summary(err, result)
        if not no_record:
            _record(store, result, actor)


def _run_spark(
    entry: Path, plan: Plan, input: str, output: str, master: str, chunk_size: int
) -> None:
    """The same plan inside Spark partitions; Spark reads and writes the data sources."""
    try:
        from kaskad.batch.spark import run_spark, session
    except ImportError:  # pragma: no cover - pyspark is an optional extra
        err.print("[red]error:[/] --engine spark needs PySpark: pip install 'kaskad[spark]'")
        raise typer.Exit(ExitCode.USAGE) from None
    if "://" not in output and Path(output).exists():  # Spark would refuse only at the end
        raise fail(
            f"{output} exists: a Spark run does not replace an output; remove it or "
            "write to another path",
            ExitCode.USAGE,
        )
    start = time.perf_counter()
    from pyspark.sql import SparkSession

    shared = SparkSession.getActiveSession()  # a session this process already runs is kept
    try:
        spark = session(master, app_name=f"kaskad {plan.name}", batch_rows=chunk_size)
    except Exception as exc:  # no Java, a master that cannot be reached
        raise fail(
            f"cannot start Spark ({master}): {_first_line(exc)}", ExitCode.UNAVAILABLE
        ) from None
    try:
        rows = run_spark(spark, plan, input, output)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    except Exception as exc:
        from pyspark.errors import PySparkException

        if not isinstance(exc, PySparkException):
            raise
        raise fail(f"Spark refused the run: {_first_line(exc)}", ExitCode.USAGE) from None
    finally:
        if shared is None:
            spark.stop()
    elapsed = time.perf_counter() - start
    err.print(
        f"[bold]{plan.name}[/] on Spark ({master}): {rows:,} records in {elapsed:.1f} s, "
        f"written to {output}",
        highlight=False,
    )


def _first_line(exc: BaseException) -> str:
    """The first line of a Java-side error (Spark appends its JVM stack trace)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _record(store: str | None, summary: RunSummary, actor: str | None) -> None:
    """Keep the run summary in the store; a store that fails only warns: the output is
    written either way."""
    from kaskad.batch.summary import record_run
    from kaskad.store import Store

    try:
        with Store.open(store) as opened:
            record_run(opened, summary, actor_name(actor))
    except KaskadError as exc:
        err.print(
            f"[yellow]warning:[/] the run summary was not recorded: {escape(str(exc))}",
            highlight=False,
        )


def main() -> None:
    # pl.Config.set_tbl_hide_dataframe_shape(True), without importing Polars at start
    os.environ["POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION"] = "1"
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
