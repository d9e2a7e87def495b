"""Options and helpers shared by the commands: the store, the actor, release references."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kaskad.registry.environment import default_actor

out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="KASKAD_STORE",
        help="Store: a folder (SQLite + artifacts; default ./.kaskad) or a database URL.",
        show_default=False,
    ),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        envvar="KASKAD_ACTOR",
        help="Who is acting, for the audit trail (default: user@host).",
        show_default=False,
    ),
]
AllowEnvOpt = Annotated[
    bool,
    typer.Option(
        "--allow-environment-mismatch",
        help="Load a release even if installed packages differ from its lock "
        "(recorded in the audit trail).",
    ),
]


def progress_bar(quiet: bool = False) -> Progress:
    """The progress bar of long runs, on standard error: done/total, rows/s, time left."""
    return Progress(
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


def actor_name(actor: str | None) -> str:
    return actor or default_actor()


def is_release_ref(text: str) -> bool:
    """``NAME@3`` or ``NAME@production`` (and not an existing file)."""
    return "@" in text and not Path(text).exists()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
