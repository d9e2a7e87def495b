"""Options and helpers shared by the commands: the store, the actor, release references.

Imported by every command at start: it imports only Typer and Rich's console, never the
library's heavier parts (those are imported inside the commands that use them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kaskad.cli.exitcodes import ExitCode
from kaskad.store.defaults import DEFAULT_FOLDER, STORE_ENV, find_store

if TYPE_CHECKING:
    from rich.progress import Progress

out = Console()
err = Console(stderr=True)


_new_store: list[Path] = []  # a default store that did not exist when the command began


def resolve_store(value: str | None) -> str:
    """``--store``/``KASKAD_STORE`` when given; else the nearest ``.kaskad`` folder here
    or above; else ``./.kaskad``, announced once the command has made it
    (:func:`announce_new_store`)."""
    if value:
        return value
    found = find_store()
    if found is not None:
        return str(found)
    made = Path.cwd().absolute() / DEFAULT_FOLDER
    _new_store[:] = [made]
    return str(made)


def announce_new_store() -> None:
    """Say where a store was made when no ``--store`` was given and none was found."""
    for made in _new_store:
        if made.is_dir():
            err.print(
                f"note: no {DEFAULT_FOLDER} store here or in a folder above: made a new "
                f"store at {made} (choose one with --store or KASKAD_STORE)",
                highlight=False,
            )
    _new_store.clear()


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar=STORE_ENV,
        callback=resolve_store,
        help=f"Store: a folder (SQLite + artifacts) or a database URL. Default: the "
        f"nearest {DEFAULT_FOLDER} folder here or above (up to the folder holding .git), "
        f"else ./{DEFAULT_FOLDER}.",
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
    """The ``--store`` option's value, or the store :func:`resolve_store` finds."""
    return store or resolve_store(None)


def cache_root(location: str | None) -> Path:
    """Where releases are written out to run: beside the store's database (for a
    database URL, under the nearest ``.kaskad`` folder, else ``./.kaskad``)."""
    if location and "://" in location:
        return (find_store() or DEFAULT_FOLDER) / "releases"
    return Path(location or resolve_store(None)) / "releases"


def is_release_ref(text: str) -> bool:
    """``NAME@3`` or ``NAME@production`` (and not an existing file)."""
    return "@" in text and not Path(text).exists()


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> typer.Exit:
    """Print ``error: MESSAGE`` on standard error; the exit to raise, with a code from the
    one table (:class:`~kaskad.cli.exitcodes.ExitCode`)."""
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)
