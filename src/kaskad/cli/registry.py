"""``kaskad model``, ``kaskad release`` and ``kaskad audit``: the registry from the shell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    store_location,
)
from kaskad.cli.exitcodes import ExitCode, exit_code_for
from kaskad.cli.tables import Columns, print_rows
from kaskad.errors import ApprovalError, KaskadError
from kaskad.store.refs import LATEST, ReleaseSelector

if TYPE_CHECKING:
    from kaskad.registry.releases import LoadedRelease
    from kaskad.store import Store
    from kaskad.store.api import Release

model_app = typer.Typer(help="Register and inspect models.", no_args_is_help=True)
release_app = typer.Typer(
    help="Create, verify, promote and roll back releases.", no_args_is_help=True
)

STAGES = ("production", "shadow", "archived")


@contextmanager
def opened(location: str | None) -> Iterator[Store]:
    from kaskad.store import Store

    try:
        store = Store.open(location)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    try:
        yield store
    except ApprovalError as exc:
        raise fail(f"{exc.code} {exc}") from None
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    finally:
        store.close()


def load(location: str | None, ref: str, actor: str | None, allow_env: bool) -> LoadedRelease:
    """Load and verify a release for ``run`` and ``decide``."""
    from kaskad.registry.releases import load_release

    with opened(location) as store:
        loaded = load_release(
            store,
            ref,
            actor=actor_name(actor),
            cache_root=cache_root(location),
            allow_environment_mismatch=allow_env,
        )
    if loaded.overridden:
        err.print(
            f"[yellow]warning:[/] {ref}: running with {len(loaded.overridden)} package "
            "version(s) other than the release's lock (recorded in the audit trail)"
        )
    return loaded


# ---- models ---------------------------------------------------------------------------


def _json_option(value: str | None, what: str) -> dict[str, Any]:
    if not value:
        return {}
    text = Path(value).read_text() if Path(value).is_file() else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{what} must be JSON (or a JSON file): {exc.msg}", ExitCode.USAGE) from None
    if not isinstance(data, dict):
        raise fail(f"{what} must be a JSON object such as '{{\"auc\": 0.81}}'", ExitCode.USAGE)
    return data


@model_app.command("register")
def model_register(
    file: Annotated[Path, typer.Argument(help="The model artifact.", show_default=False)],
    name: Annotated[str, typer.Option(help="Model name.", show_default=False)],
    framework: Annotated[str, typer.Option(help="sklearn, lightgbm or onnx.", show_default=False)],
    metrics: Annotated[str | None, typer.Option(help="JSON object or JSON file.")] = None,
    description: Annotated[str, typer.Option(help="What the model is for.")] = "",
    training_data: Annotated[
        Path | None,
        typer.Option(help="Training data (.parquet, .csv, .jsonl): fingerprint and profile."),
    ] = None,
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Register a model version with its environment, inputs, sample and training data."""
    from kaskad.registry.models import register_model

    values = _json_option(metrics, "--metrics")
    with opened(store) as s:
        version = register_model(
            file,
            store=s,
            name=name,
            framework=framework,
            metrics=values,
            description=description,
            training_data=training_data,
            actor=actor_name(actor),
        )
    out.print(
        f"registered [bold]{version.name}[/] version {version.version} "
        f"({version.framework}, artifact sha256 {version.artifact_sha256[:12]})",
        highlight=False,
    )


@model_app.command("promote")
def model_promote(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, e.g. fraud@2.")],
    to: Annotated[
        str, typer.Option("--to", help="The stage to point at it (e.g. production).")
    ] = "production",
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Point a stage of a model (``fraud@production`` in pipelines) at one of its versions.

    Releases already made keep the version they pinned."""
    model = ReleaseSelector.parse(ref)
    if model.number is None:
        raise fail(f"give a version number to promote: {model.name}@2")
    with opened(store) as s:
        version = s.set_model_stage(model.name, to, model.number, actor_name(actor))
    out.print(
        f"model [bold]{version.name}@{to}[/] → version {version.version} "
        f"(artifact sha256 {version.artifact_sha256[:12]})",
        highlight=False,
    )


@model_app.command("list")
def model_list(
    name: Annotated[str | None, typer.Argument()] = None, store: StoreOpt = None
) -> None:
    """Registered models, newest versions last."""
    with opened(store) as s:
        versions = s.list_models(name)
    rows = [
        [
            escape(v.name),
            str(v.version),
            escape(v.framework),
            v.artifact_sha256[:12],
            str(len(v.inputs)),
            f"{v.created_at:%Y-%m-%d %H:%M}",
            escape(v.created_by),
        ]
        for v in versions
    ]
    columns = Columns.of(
        "name", "version", "framework", "artifact sha256", "inputs", "created", "by",
        identifiers=(0, 1, 2, 3, 5), numbers=(1, 4),
    )  # fmt: skip
    print_rows(out, columns, rows)


@model_app.command("show")
def model_show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@STAGE.")],
    as_json: Annotated[bool, typer.Option("--json", help="Everything recorded, as JSON.")] = False,
    store: StoreOpt = None,
) -> None:
    """A model version in brief: artifact, inputs, metrics, training data by column
    (``--json``: everything recorded; ``artifact_sha256`` is the sha256 of the artifact
    file's bytes, what ``model register`` prints)."""
    with opened(store) as s:
        model = ReleaseSelector.parse(ref, default=LATEST)  # NAME: its latest version
        v = s.resolve_model(str(model))
        stages = [st for st, n in s.model_stages(v.name).items() if n == v.version]
    if as_json:
        data = {k: getattr(v, k) for k in v.__dataclass_fields__}
        data["stages"] = stages
        out.print_json(data=json.loads(json.dumps(data, default=str)))
        return
    from kaskad.cli.modelview import print_model

    print_model(out, v, stages)


# ---- releases -------------------------------------------------------------------------


@release_app.command("create")
def release_create(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline file.", show_default=False)],
    golden: Annotated[
        Path | None, typer.Option(help="Sample input file whose first records become golden cases.")
    ] = None,
    golden_count: Annotated[int, typer.Option(help="How many golden cases.", min=1)] = 200,
    description: Annotated[str, typer.Option(help="What changed in this release.")] = "",
    allow_unchanged: Annotated[
        bool,
        typer.Option(
            "--allow-unchanged",
            help="Make the release even if an existing one has the same plan (otherwise "
            "asked in a terminal, refused elsewhere: K950, exit 1).",
        ),
    ] = False,
    store: StoreOpt = None,
    actor: ActorOpt = None,
    allow_environment_mismatch: AllowEnvOpt = False,
) -> None:
    """Snapshot a pipeline, its components, model artifacts, environment and golden cases.
    A pipeline whose plan an existing release already has is not released again unless
    confirmed (in a terminal) or --allow-unchanged."""
    from kaskad.registry.releases import create_release

    notes: list[str] = []
    with opened(store) as s:
        release = create_release(
            s,
            pipeline,
            actor=actor_name(actor),
            golden_input=golden,
            golden_count=golden_count,
            description=description,
            allow_environment_mismatch=allow_environment_mismatch,
            notes=notes,
            cache_root=cache_root(store),
            if_unchanged=None if allow_unchanged else _confirm_unchanged,
        )
        if golden is not None:  # the monitoring reference, frozen from the golden cases
            from kaskad.compile.compiler import compile_pipeline
            from kaskad.monitor.reference import freeze_golden
            from kaskad.registry.references import StoreResolver

            pins = release.manifest.get("registered", {})
            resolver = StoreResolver(s, cache_root(store), pins)
            plan = compile_pipeline(pipeline, resolver=resolver)
            freeze_golden(s, store_location(store), release.ref, plan)
    out.print(
        f"created release [bold]{release.ref}[/]: plan {release.plan_hash[:12]}, "
        f"{len(release.manifest['files'])} files, {release.golden_count} golden cases",
        highlight=False,
    )
    for ref, pinned in release.manifest.get("registered", {}).items():
        out.print(f"  model {escape(ref)} pinned to {escape(pinned)}", highlight=False)
    for note in notes:
        out.print(f"  note: {escape(note)}", highlight=False)


def _confirm_unchanged(existing: Release) -> bool:
    """Ask, in a terminal, whether to release a plan ``existing`` already has; elsewhere
    (CI, a script) the answer is no."""
    import sys

    if not sys.stdin.isatty():
        return False
    return typer.confirm(
        f"{existing.ref} already has this plan ({existing.plan_hash[:12]}); "
        "make a new release anyway?",
        default=False,
        err=True,
    )


@release_app.command("list")
def release_list(
    pipeline: Annotated[str | None, typer.Argument()] = None, store: StoreOpt = None
) -> None:
    """Releases and the stages that point at them."""
    with opened(store) as s:
        releases = s.list_releases(pipeline)
        stages = {name: s.stages(name) for name in {r.pipeline for r in releases}}
    rows = []
    for r in releases:
        at = [stage for stage, n in stages[r.pipeline].items() if n == r.number]
        rows.append(
            [
                escape(r.ref),
                r.plan_hash[:12],
                str(r.golden_count),
                ", ".join(sorted(at)),
                f"{r.created_at:%Y-%m-%d %H:%M}",
                escape(r.created_by),
                escape(r.description),
            ]
        )
    columns = Columns.of(
        "release", "plan", "golden", "stages", "created", "by", "description",
        identifiers=(0, 1, 4), numbers=(2,),
    )  # fmt: skip
    print_rows(out, columns, rows)


@release_app.command("show")
def release_show(
    ref: Annotated[str, typer.Argument(help="NAME@NUMBER or NAME@STAGE.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    store: StoreOpt = None,
) -> None:
    """A release's components, files, environment lock and golden cases."""
    with opened(store) as s:
        r = s.resolve(ref)
    if as_json:
        data = {k: getattr(r, k) for k in r.__dataclass_fields__}
        out.print_json(data=json.loads(json.dumps(data, default=str)))
        return
    out.print(
        f"[bold]{r.ref}[/] plan {r.plan_hash}  created {r.created_at:%Y-%m-%d %H:%M} "
        f"by {r.created_by}",
        highlight=False,
    )
    if r.description:
        out.print(escape(r.description))
    rows = [
        [
            escape(c["kind"]),
            escape(c["name"]),
            escape(c["source"]),
            c["sha256"][:12],
            c.get("artifact_sha256", "")[:12],
            escape(c.get("outputs_checked", "")),
        ]
        for c in r.components
    ]
    for ref, pinned in r.manifest.get("registered", {}).items():
        out.print(f"registered model {escape(ref)}: pinned to {escape(pinned)}", highlight=False)
    columns = Columns.of(
        "kind", "name", "source", "component hash", "artifact sha256", "outputs checked",
        identifiers=(0, 1, 3, 4),
    )  # fmt: skip
    print_rows(out, columns, rows)
    env = r.environment
    out.print(
        f"environment: Python {env.get('python')} on {env.get('platform')}; "
        + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()),
        highlight=False,
    )
    out.print(f"golden cases: {r.golden_count}")


@release_app.command("diff")
def release_diff(
    a: Annotated[str, typer.Argument(help="Baseline release.")],
    b: Annotated[str, typer.Argument(help="Candidate release.")],
    store: StoreOpt = None,
) -> None:
    """What changed: rules side by side, features, list entries, models, decision, shadows,
    packages."""
    from kaskad.registry.diff import diff_releases

    with opened(store) as s:
        diff = diff_releases(s, a, b, cache_root(store))
    out.print(f"[bold]{diff.a.ref}[/] → [bold]{diff.b.ref}[/]", highlight=False)
    if not diff.changes:
        out.print("no differences")
        return
    table = Table("kind", "name", "change", diff.a.ref, diff.b.ref, show_lines=True)
    for c in diff.changes:
        table.add_row(
            c.kind, escape(c.name), c.status, escape(c.before or "—"), escape(c.after or "—")
        )
    out.print(table)


@release_app.command("verify")
def release_verify(
    ref: Annotated[str, typer.Argument(help="NAME@NUMBER or NAME@STAGE.")],
    allow_environment_mismatch: AllowEnvOpt = False,
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Check artifact hashes, the environment lock and golden cases, as every load does."""
    loaded = load(store, ref, actor, allow_environment_mismatch)
    for check in loaded.checks:
        mark = "[green]ok[/]" if check.ok else "[yellow]overridden[/]"
        out.print(f"{mark:>24} {check.name}: {escape(check.detail)}", highlight=False)
    out.print(f"[bold green]{loaded.release.ref} verified[/]")


@release_app.command("promote")
def release_promote(
    ref: Annotated[str, typer.Argument(help="NAME@NUMBER.")],
    to: Annotated[
        str, typer.Option("--to", help="Stage: " + ", ".join(STAGES), show_default=False)
    ],
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Point a stage at a release (the release is verified first)."""
    from kaskad.registry.releases import load_release

    if to not in STAGES:  # like a reference to a stage that does not exist: exit 1
        import difflib

        close = difflib.get_close_matches(to, STAGES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise fail(f"unknown stage {to!r}{hint} (stages: {', '.join(STAGES)})")
    who = actor_name(actor)
    with opened(store) as s:
        release = s.resolve(ref)
        load_release(s, release.ref, actor=who, cache_root=cache_root(store))
        change = s.set_stage(release.pipeline, to, release.number, actor=who)
    before = f"{change.pipeline}@{change.from_release}" if change.from_release else "nothing"
    out.print(f"{change.pipeline}@{to}: {before} → {release.ref}", highlight=False)


@release_app.command("rollback")
def release_rollback(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    stage: Annotated[str, typer.Option(help="Stage to roll back.")] = "production",
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Move a stage back to the release it pointed at before."""
    with opened(store) as s:
        change = s.rollback(pipeline, stage, actor=actor_name(actor))
    out.print(
        f"{pipeline}@{stage}: {pipeline}@{change.from_release} → {pipeline}@{change.to_release}",
        highlight=False,
    )


@release_app.command("history")
def release_history(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    store: StoreOpt = None,
) -> None:
    """Every move of every stage pointer, oldest first."""
    with opened(store) as s:
        history = s.stage_history(pipeline, stage)
    rows = [
        [
            f"{h.at:%Y-%m-%d %H:%M:%S}",
            h.stage,
            h.action,
            str(h.from_release or "—"),
            str(h.to_release or "—"),
            escape(h.actor),
        ]
        for h in history
    ]
    columns = Columns.of("when", "stage", "action", "from", "to", "by", identifiers=(0, 1, 2))
    print_rows(out, columns, rows)
