"""Options and helpers shared by the commands: the store, the actor, release references.

Imported by every command at start: it imports only Typer and Rich's console, never the
library's heavier parts (those are imported inside the commands that use them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kaskad.store.defaults import DEFAULT_FOLDER

if TYPE_CHECKING:
    from rich.progress import Progress

out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="KASKAD_STORE",
        help=f"Store: a folder (SQLite + artifacts; default ./{DEFAULT_FOLDER}) or a database URL.",
        show_default=False,
    ),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        envvar="KASKAD_ACTOR",
        help="Who is acting, recorded in the audit trail beside the OS user@host.",
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
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
    """Who acts, for the audit trail: always the OS user (``user@host``); ``--actor``
    adds to it (``user@host (as ACTOR)``), never replaces it."""
    from kaskad.registry.environment import default_actor

    user = default_actor()
    return f"{user} (as {actor})" if actor else user


def store_location(store: str | None) -> str:
    """The ``--store`` option's value, or the default folder."""
    return store or str(DEFAULT_FOLDER)


def cache_root(location: str | None) -> Path:
    """Where releases are written out to run: beside the store's database (under the
    default folder for a database URL)."""
    if location and "://" in location:
        return DEFAULT_FOLDER / "releases"
    return Path(location or DEFAULT_FOLDER) / "releases"


def is_release_ref(text: str) -> bool:
    """``NAME@3`` or ``NAME@production`` (and not an existing file)."""
    return "@" in text and not Path(text).exists()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
