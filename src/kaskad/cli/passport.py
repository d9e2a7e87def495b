"""``kaskad passport NAME@N``: a release's model documentation, from recorded facts only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kaskad.cli.common import StoreOpt, cache_root, fail, out
from kaskad.cli.exitcodes import ExitCode, exit_code_for
from kaskad.cli.registry import opened
from kaskad.errors import KaskadError


def passport(
    ref: Annotated[
        str, typer.Argument(help="The release: NAME@NUMBER or NAME@STAGE.", show_default=False)
    ],
    output: Annotated[
        list[Path],
        typer.Option(
            "--output",
            "-o",
            help="Where to write it; the ending says the format: .html, .pdf, .cdx.json"
            " (CycloneDX ML-BOM) or .json. Repeat for several.",
            show_default=False,
        ),
    ],
    backtest: Annotated[
        list[Path] | None,
        typer.Option(
            "--backtest",
            help="A backtest summary (written by kaskad backtest --summary FILE), shown as"
            " validation evidence. Repeat for several.",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Write the model passport of a release: purpose, logic, data, limitations, validation
    evidence, monitoring and change history, generated only from what kaskad recorded."""
    from kaskad.passport import gather, write_outputs
    from kaskad.passport.render import output_format

    try:
        for path in output:
            output_format(path)
    except KaskadError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    with opened(store) as s:
        facts = gather(s, ref, cache_root(store), tuple(backtest or ()))
    try:
        write_outputs(facts, output)
    except KaskadError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    for path in output:
        out.print(f"wrote {path}", highlight=False)
