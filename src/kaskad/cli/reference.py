"""The ``kaskad`` command as a Click command, for the documentation site's CLI reference
(``mkdocs-click`` reads it: the reference is generated from the commands themselves)."""

from __future__ import annotations

import typer.main

from kaskad.cli.main import app

command = typer.main.get_command(app)
