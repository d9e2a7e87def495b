"""``kaskad bundle``: carry releases into a closed network (build, verify, install)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from kaskad.cli.common import ActorOpt, StoreOpt, actor_name, err, fail, out
from kaskad.cli.exitcodes import exit_code_for
from kaskad.cli.registry import opened
from kaskad.errors import KaskadError

if TYPE_CHECKING:
    from kaskad.deliver import CheckedBundle


class _DefaultCreate(TyperGroup):
    """``kaskad bundle NAME@STAGE ...`` means ``kaskad bundle create NAME@STAGE ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click's Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


bundle_app = typer.Typer(
    cls=_DefaultCreate,
    help="Bundle releases with kaskad and every dependency into one file for a closed "
    "network; verify and install it there. `kaskad bundle NAME@STAGE -o bundle.tar` "
    "builds one.",
    no_args_is_help=True,
)


def _summary(checked: CheckedBundle) -> str:
    m = checked.manifest
    wheels = (
        f"kaskad {m.kaskad_version} and {len(checked.wheels)} wheels for"
        f" {'/'.join(m.target.platforms)}, Python {m.target.python_version}"
        if checked.wheels
        else f"no wheels (releases only, made with kaskad {m.kaskad_version})"
    )
    return (
        f"{len(m.files) + 1} files, sha256 of every one matches the manifest"
        f" ({checked.sha256[:12]}): releases {', '.join(m.releases)}; {wheels}"
    )


@bundle_app.command("create")
def bundle_create(
    releases: Annotated[
        list[str],
        typer.Argument(help="Releases: NAME@STAGE or NAME@NUMBER.", show_default=False),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The bundle file to write (.tar).")
    ] = Path("bundle.tar"),
    platform: Annotated[
        list[str] | None,
        typer.Option(
            help="pip platform tag of the target machine (repeatable; default "
            "manylinux_2_28_x86_64 and manylinux2014_x86_64).",
            show_default=False,
        ),
    ] = None,
    python_version: Annotated[
        str, typer.Option(help="Python version of the target machine.")
    ] = "3.11",
    project: Annotated[
        Path | None,
        typer.Option(
            help="kaskad source tree (locks and sources); default: the one running.",
            show_default=False,
        ),
    ] = None,
    kaskad_wheel: Annotated[
        Path | None,
        typer.Option(help="Use this kaskad wheel instead of building one.", show_default=False),
    ] = None,
    find_links: Annotated[
        list[str] | None,
        typer.Option(
            help="Extra folder or URL of wheels for pip (e.g. a mirror).", show_default=False
        ),
    ] = None,
    index_url: Annotated[
        str | None,
        typer.Option(help="Package index to download from (default: pip's).", show_default=False),
    ] = None,
    no_wheels: Annotated[
        bool,
        typer.Option(
            "--no-wheels",
            help="Releases only (no wheelhouse, no container files): for a machine that has"
            " this kaskad already.",
        ),
    ] = False,
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Write one file with the releases, a wheelhouse for the target machine (kaskad,
    every locked dependency, the build backend), the container files and a manifest of
    sha256 sums."""
    from kaskad.deliver import Target, build_bundle
    from kaskad.deliver.wheelhouse import find_project

    target = Target(python_version=python_version)
    if platform:
        target = Target(tuple(platform), python_version)
    pip_options = [arg for link in find_links or [] for arg in ("--find-links", link)]
    if index_url:
        pip_options += ["--index-url", index_url]
    if not no_wheels:
        err.print(f"bundling {', '.join(releases)} (downloading wheels may take a while)")
    with opened(store) as s:
        checked = build_bundle(
            s,
            releases,
            output,
            actor=actor_name(actor),
            target=target,
            project=project or find_project(),
            kaskad_wheel=kaskad_wheel,
            pip_options=pip_options,
            wheels=not no_wheels,
        )
    size = output.stat().st_size / 2**20
    out.print(f"wrote {output} ({size:,.0f} MiB): {escape(_summary(checked))}", highlight=False)


@bundle_app.command("verify")
def bundle_verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle file (.tar) or unpacked folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest summary.")] = False,
) -> None:
    """Check every file of a bundle against its manifest (exit 1 naming each difference)."""
    from kaskad.deliver import verify_bundle

    try:
        checked = verify_bundle(bundle)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    if as_json:
        m = checked.manifest
        data = {
            "bundle": str(bundle),
            "sha256": checked.sha256,
            "releases": m.releases,
            "kaskad_version": m.kaskad_version,
            "target": m.target.to_dict(),
            "created_at": m.created_at,
            "created_by": m.created_by,
            "files": len(m.files) + 1,
            "wheels": checked.wheels,
        }
        out.print(json.dumps(data, indent=2), highlight=False, soft_wrap=True)
        return
    out.print(f"[bold green]{escape(str(bundle))} verified[/]: {escape(_summary(checked))}")


@bundle_app.command("install")
def bundle_install(
    bundle: Annotated[Path, typer.Argument(help="Bundle file (.tar) or unpacked folder.")],
    venv: Annotated[
        Path | None,
        typer.Option(
            help="Also install the bundle's wheels into this virtual environment (created "
            "if missing).",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Verify a bundle, then put its releases into the store with their numbers, stages
    and audit entries (a release already there is left as it is)."""
    from kaskad.deliver import install_bundle

    with opened(store) as s:
        checked, imported = install_bundle(bundle, s, actor=actor_name(actor), venv=venv)
    if venv is not None:
        out.print(f"installed {len(checked.wheels)} wheels into {venv}", highlight=False)
    for item in imported:
        what = "installed" if item.created else "already present"
        line = f"{item.ref}: {what}"
        if item.stages:
            line += f"; stages {', '.join(item.stages)} restored"
        if item.stages_kept:
            line += (
                f"; stages {', '.join(item.stages_kept)} left as they are here (promote explicitly)"
            )
        out.print(escape(line), highlight=False)
