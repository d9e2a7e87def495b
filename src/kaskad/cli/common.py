"""Options and helpers shared by the commands: the store, the actor, release references."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kaskad.deliver.environment import default_actor

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


def actor_name(actor: str | None) -> str:
    return actor or default_actor()


def is_release_ref(text: str) -> bool:
    """``NAME@3`` or ``NAME@production`` (and not an existing file)."""
    return "@" in text and not Path(text).exists()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
