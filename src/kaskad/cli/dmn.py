"""``kaskad import-dmn``: DMN decision tables → kaskad table files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from kaskad.cli.common import err, out
from kaskad.cli.exitcodes import ExitCode


def import_dmn(
    file: Annotated[Path, typer.Argument(help="A DMN 1.1-1.5 file (.dmn, .xml).")],
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", "-o", help="Project folder; tables go to its tables/."),
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Replace table files that already exist.")
    ] = False,
) -> None:
    """Import the decision tables of a DMN file (Camunda, Drools, …) as
    tables/NAME.yaml; refuse, naming the element and its line, what kaskad cannot run."""
    from kaskad.cli.render import print_problems
    from kaskad.dmn import DmnImportError, read_dmn, write_tables

    try:
        model = read_dmn(file)
        paths = write_tables(model, output_dir, force)
    except DmnImportError as exc:
        print_problems(err, exc.problems)
        raise typer.Exit(ExitCode.FAILED) from None
    for path, table in zip(paths, model.tables, strict=True):
        out.print(
            f"wrote {escape(str(path))}: table {table.name} ({table.hit_policy}, "
            f"{_count(len(table.inputs), 'input')}, {_count(len(table.outputs), 'output')}, "
            f"{_count(len(table.rules), 'rule')}) from decision "
            f"'{escape(table.decision_name or table.decision_id)}'",
            highlight=False,
            soft_wrap=True,
        )
        for borrowed in table.borrowed:
            out.print(
                f"  input {borrowed.input} comes from decision '{escape(borrowed.decision)}': "
                f"it reads {borrowed.field}",
                highlight=False,
                soft_wrap=True,
            )
        for feel_name, field in table.renamed:
            out.print(
                f"  the FEEL name '{escape(feel_name)}' is read as the field {field}",
                highlight=False,
                soft_wrap=True,
            )
    if model.tables:
        out.print("pipeline steps, in this order (a table after those it reads):")
        for table in model.tables:
            out.print(f"  - table: tables/{table.name}.yaml", highlight=False, soft_wrap=True)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"
