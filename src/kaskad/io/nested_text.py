"""Text inside lists and objects read by the reading contract, as JSON Lines are.

A Parquet file written from JSON Lines by a tool that did not know the schema (``pl.
read_ndjson(...).write_parquet(...)``) holds dates and times inside lists and objects as
text. The JSON Lines reader reads such text by the contract's grammar; so do Parquet,
PostgreSQL and Spark sources, through :func:`read_nested_text`: one contract on every path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import FieldProblem
from kaskad.execute.contract import read_nested
from kaskad.spec.schema import Schema

__all__ = ["NestedRead", "read_nested_text"]

_TEXT = (pl.String, pl.Categorical, pl.Enum)


def _text_where_typed(got: Any, want: Any) -> bool:
    """Whether ``got`` holds text where ``want`` holds another type (at any depth)."""
    if isinstance(want, pl.Struct):
        if not isinstance(got, pl.Struct):
            return False
        have = {f.name: f.dtype for f in got.fields}
        return any(f.name in have and _text_where_typed(have[f.name], f.dtype) for f in want.fields)
    if isinstance(want, (pl.List, pl.Array)):
        return isinstance(got, (pl.List, pl.Array)) and _text_where_typed(got.inner, want.inner)
    return got == pl.String and not isinstance(want, _TEXT)


@dataclass(frozen=True)
class NestedRead:
    """``frame`` with its nested text read in the schema's types (values that cannot be
    read are null), and each row's problems (0-based row: problems), paths without the
    leading dot (``previous_loans[].opened``)."""

    frame: pl.DataFrame
    problems: dict[int, list[FieldProblem]]


def read_nested_text(frame: pl.DataFrame, schema: Schema) -> NestedRead:
    """Read the list and object columns of ``frame`` that hold text where the schema has
    dates, times, numbers or booleans, value by value with
    :func:`kaskad.execute.contract.read_nested` (what JSON Lines input goes through)."""
    problems: dict[int, list[FieldProblem]] = {}
    columns: list[pl.Series] = []
    for f in schema.fields:
        got = frame.schema.get(f.name)
        if got is None or f.dtype.kind not in ("object", "list"):
            continue
        target = to_polars_dtype(f.dtype)
        if not _text_where_typed(got, target):
            continue
        values = []
        for row, raw in enumerate(frame[f.name].to_list()):
            value, found = read_nested(raw, f.dtype, f.name)
            values.append(value)
            for p in found:
                problems.setdefault(row, []).append(p)
        columns.append(pl.Series(f.name, values, dtype=target))
    if not columns:
        return NestedRead(frame, {})
    return NestedRead(frame.with_columns(columns), problems)
