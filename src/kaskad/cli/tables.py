"""Tables that fit the terminal: identifiers are never cut, text wraps, and when even that
does not fit, each row is printed as a block of ``header  value`` lines.

Rich's default squeezes every column and cuts cells with an ellipsis (``loan_…``), which
hides the very names a user copies into the next command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Columns", "print_rows"]

_BORDER = 1  # a box's left border; each column adds its padding and a separator
_FOLDED = 16  # a text column narrower than its longest word folds the word


@dataclass(frozen=True)
class Columns:
    """The columns of a table: their headers; which hold identifiers (names, references,
    hashes, paths, times: never broken inside) and which are numbers (right-aligned).
    Every other column holds text that may wrap between words."""

    headers: Sequence[str]
    identifiers: frozenset[int] = field(default_factory=frozenset)
    numbers: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, *headers: str, identifiers: Sequence[int] = (), numbers: Sequence[int] = ()
    ) -> Columns:
        return cls(tuple(headers), frozenset(identifiers), frozenset(numbers))


def _width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.splitlines()), default=0)


def _longest_word(cell: str) -> int:
    words = Text.from_markup(cell).plain.split()
    return max((len(w) for w in words), default=0)


def min_width(columns: Columns, rows: Sequence[Sequence[str]]) -> int:
    """The narrowest the table can be with identifiers whole and text wrapped at words."""
    total = _BORDER
    for i, header in enumerate(columns.headers):
        cells = [row[i] for row in rows]
        if i in columns.identifiers:
            widest = max([_longest_word(header), *(_width(c) for c in cells)])
        else:  # text wraps at words, and a very long word (a path) folds
            widest = min(max([_longest_word(header), *map(_longest_word, cells)]), _FOLDED)
        total += widest + 3  # one space each side and the separator
    return total


def print_rows(
    console: Console, columns: Columns, rows: Sequence[Sequence[str]], title: str | None = None
) -> None:
    """Print ``rows`` (cells in Rich markup) as a table when it fits ``console``'s width
    with identifiers whole, else vertically: one block of ``header  value`` per row."""
    if min_width(columns, rows) <= console.width:
        table = Table(title=title)
        for i, header in enumerate(columns.headers):
            table.add_column(
                header,
                no_wrap=i in columns.identifiers,
                overflow="fold",
                justify="right" if i in columns.numbers else "left",
            )
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    if title:
        console.print(f"[bold]{title}[/]")
    label = max(len(h) for h in columns.headers)
    for n, row in enumerate(rows):
        if n:
            console.print()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True, min_width=label)
        grid.add_column(overflow="fold")
        for header, cell in zip(columns.headers, row, strict=True):
            grid.add_row(header, cell)
        console.print(grid)
