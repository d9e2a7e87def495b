"""How ``kaskad --help`` reads: commands grouped in the order of the work, option help
without type noise, option names never cut in a narrow terminal.

Typer renders help with Rich; three of its defaults do not suit a command used by people:
every option shows its Python type (``<bool>``, ``<str>``), arguments show as
``{pipeline}``, and in an 80-column terminal the option-name column is cut
(``--allow-environment-…``). :func:`install` adjusts the parameter classes once, when
the command line is built.
"""

from __future__ import annotations

import inspect
from typing import Any

from rich.columns import Columns
from rich.table import Table
from rich.text import Text
from typer import rich_utils
from typer.core import TyperArgument, TyperOption

__all__ = ["PANELS", "install"]

# The help's command panels, in the order of the work: make and check a pipeline, register
# and release it, run it, serve it, watch it, deliver it to a closed network.
BUILD = "Build & check"
REGISTRY = "Registry & releases"
RUN = "Run & backtest"
SERVE = "Serve"
MONITOR = "Monitor & audit"
DELIVER = "Deliver"
PANELS = (BUILD, REGISTRY, RUN, SERVE, MONITOR, DELIVER)


def _no_type(self: TyperOption | TyperArgument, ctx: Any) -> str | None:
    """Only an explicit metavar (``FILE``, ``NAME@STAGE``) is worth a column; a type
    (``<str>``, ``<bool>``) is not."""
    return self.metavar


def _argument_name(self: TyperArgument) -> str:
    return (self.metavar or str(self.name)).upper()


def _argument_usage(self: TyperArgument) -> str:
    name = _argument_name(self)
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


class _HelpTable(Table):
    """Typer's help tables; in the options table (the one that highlights) every column but
    the help text keeps its width: option names wrap or shrink never, the help wraps."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        if self.highlight and not self.columns and renderables:
            for _ in renderables[:-1]:
                self.add_column(no_wrap=True, overflow="ignore")
            self.add_column(ratio=1, overflow="fold")
        if self.highlight and renderables:  # a long URL or option name in the help folds
            help_text = renderables[-1]
            parts = help_text.renderables if isinstance(help_text, Columns) else [help_text]
            for part in parts:
                if isinstance(part, Text):
                    part.overflow = "fold"
        super().add_row(*renderables, **kwargs)


_installed = False
_command_help = rich_utils._make_command_help


def _one_paragraph(*, help_text: str, markup_mode: Any) -> Any:
    """A command's line in a group's help: its first paragraph as one flowing text (Typer
    keeps the docstring's line breaks in rich mode, which cuts sentences mid-line)."""
    first, _, rest = inspect.cleandoc(help_text).partition("\n\n")
    if not first.startswith("\b"):
        first = " ".join(first.split("\n"))
    return _command_help(help_text=first + ("\n\n" + rest if rest else ""), markup_mode=markup_mode)


def install() -> None:
    """Adjust Typer's help rendering for kaskad (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    rich_utils._make_command_help = _one_paragraph
    TyperOption.display_type_rich = _no_type  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _no_type  # type: ignore[assignment]
    TyperArgument._rich_display_name = _argument_name  # type: ignore[method-assign]
    TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    rich_utils.Table = _HelpTable  # type: ignore[attr-defined]
