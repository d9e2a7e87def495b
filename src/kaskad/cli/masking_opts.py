"""The masking options of commands whose outputs echo input fields (``kaskad run``,
``kaskad decide``, ``kaskad backtest``) and what they resolve to.

By default the sensitive input fields an output echoes are written as digests: keyed
HMAC with ``--masking-key-file`` / ``--masking-key-env`` (as ``kaskad serve``), else
unkeyed sha256 with a warning. ``--unmasked`` writes them in clear, and only once that
choice is recorded in the store's audit trail under the caller's identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kaskad.cli.exitcodes import ExitCode
from kaskad.errors import KaskadError

if TYPE_CHECKING:
    from kaskad.execute.output_masking import OutputMasking
    from kaskad.spec.schema import Schema

MaskingKeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="File holding the secret of keyed masking (HMAC-SHA-256) of the sensitive"
        " fields the output echoes.",
        show_default=False,
    ),
]
MaskingKeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        help="Environment variable holding the masking secret (instead of a file).",
        show_default=False,
    ),
]
MaskingKeyIdOpt = Annotated[
    str, typer.Option(help="Id of the masking key, kept with every masked value.")
]
UnmaskedOpt = Annotated[
    bool,
    typer.Option(
        "--unmasked",
        help="Write the sensitive fields the output echoes in clear; recorded in the"
        " store's audit trail under your identity.",
    ),
]


def output_masking(
    err: Console,
    schema: Schema,
    columns: Iterable[str],
    *,
    file: Path | None,
    env: str | None,
    key_id: str,
    unmasked: bool,
    pipeline: str,
    output: str,
    store: str | None,
    actor: str,
) -> OutputMasking | None:
    """How the output's echoed sensitive fields are written (None: in clear, because
    none is echoed or ``--unmasked`` was recorded). Exits with code 2 when the key cannot
    be read or the unmasked output cannot be recorded."""
    from kaskad.execute.masking import load_masking_key
    from kaskad.execute.output_masking import OutputMasking, echoed_sensitive

    fields = echoed_sensitive(schema, columns)
    if not fields:
        return None
    named = ", ".join(fields)
    try:
        if unmasked:
            from kaskad.store import Store

            with Store.open(store) as opened:
                detail = {"output": output, "fields": list(fields)}
                opened.record_audit(actor, "output.unmasked", pipeline, detail=detail)
            err.print(
                f"[yellow]warning:[/] sensitive field(s) {named} written in clear"
                f" (recorded in the audit trail as {escape(actor)})",
                highlight=False,
            )
            return None
        key = None
        if file is not None or env is not None:
            key = load_masking_key(key_id, file=file, env=env)
        else:
            err.print(
                f"[yellow]warning:[/] sensitive field(s) {named} written as unkeyed sha256,"
                " which can be reversed by enumeration: give --masking-key-file",
                highlight=False,
            )
    except KaskadError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(ExitCode.USAGE) from None
    return OutputMasking(fields, key)
