"""The reading contract every source keeps: what a source is, how a raw frame from any of
them (a Parquet batch, CSV text, a PostgreSQL fetch) is checked and typed against the
schema, and how input that cannot be read is reported (:class:`MalformedInputError`).

File sources live in :mod:`kaskad.io.sources`, the PostgreSQL source in
:mod:`kaskad.io.postgres`; both build on this module and neither imports the other at
import time.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import InputError
from kaskad.execute.inputs import prepare_frame
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FROM_TEXT",
    "NESTED",
    "MalformedInputError",
    "Source",
    "cannot_read",
    "check_columns",
    "conform",
    "first_failure",
    "json_problem",
    "ndjson_reads",
    "reason",
    "wrapped",
]

DEFAULT_CHUNK_SIZE = 50_000
NESTED = ("object", "list")  # kinds read from JSON (or Parquet/PostgreSQL structures) only
FROM_TEXT = ("integer", "float", "boolean", "date", "datetime")  # kinds converted from text


class MalformedInputError(InputError):
    """Input that cannot be read as the schema's types, and where: ``line`` (1-based, text
    files) or ``row`` (0-based index, Parquet and PostgreSQL), and ``column`` (a dotted
    path such as ``applicant.age`` or ``transactions[].day``) when one is to blame."""

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source, self.problem = source, problem
        self.line, self.row, self.column = line, row, column
        where = [
            f"line {line}" if line is not None else "",
            f"row index {row}" if row is not None else "",
        ]
        where.append(f"column {column}" if column else "")
        place = ", ".join(w for w in where if w)
        super().__init__(f"{source}: {place + ': ' if place else ''}{problem}")


class Source(ABC):
    """An input read as typed chunks of at most ``chunk_size`` rows."""

    name: str  # shown in messages and in the run summary
    schema: Schema
    chunk_size: int

    @abstractmethod
    def chunks(self) -> Iterator[pl.DataFrame]:
        """The input's rows in order, as frames with exactly the schema's columns and types."""

    @abstractmethod
    def count_rows(self) -> int | None:
        """How many rows the input holds, when that is cheap to know (for a progress bar):
        exact for Parquet and tables, the number of lines for text files (a value that
        spans lines makes it an overestimate), ``None`` for queries."""

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return self.chunks()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, chunk_size={self.chunk_size})"


# ---- a raw frame in the schema's types ----------------------------------------------------


def conform(
    frame: pl.DataFrame,
    schema: Schema,
    source: str,
    offset: int = 0,
    line_of: Callable[[int], int | None] | None = None,
) -> pl.DataFrame:
    """``frame`` in the schema's types. Text columns of numbers, booleans, dates and
    datetimes are read as :func:`_from_text` says; others are cast. A value that cannot be
    read is reported at its row index (``offset`` + its row in ``frame``), or at its line
    when ``line_of`` maps row indexes to lines."""

    def malformed(row: int, path: str, problem: str) -> MalformedInputError:
        if line_of is not None:
            return MalformedInputError(source, problem, line=line_of(offset + row), column=path)
        return MalformedInputError(source, problem, row=offset + row, column=path)

    texts = [
        f
        for f in schema.fields
        if f.dtype.kind in FROM_TEXT and frame.schema.get(f.name) == pl.String
    ]
    if texts:
        typed = frame.with_columns(
            [_from_text(pl.col(f.name), f.dtype).alias(f.name) for f in texts]
        )
        for at, f in sorted(_unread(frame, typed, texts), key=lambda found: found[0])[:1]:
            raise malformed(at, f.name, cannot_read(frame[f.name][at], f.dtype))
        frame = typed
    try:
        return prepare_frame(schema, frame, source)
    except InputError as exc:
        for f in schema.fields:
            if f.name not in frame.columns:
                continue
            column = frame[f.name]
            row = _first_cast_failure(column, to_polars_dtype(f.dtype))
            if row is not None:
                raise malformed(row, *_bad_part(column.slice(row, 1), f.dtype, f.name)) from exc
        raise


_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")
_DATETIME_TZ_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")


def _from_text(text: pl.Expr, dtype: DType) -> pl.Expr:
    """Text as ``dtype`` (what cannot be read becomes null).
    Numbers, dates and booleans are read as JSON writes them; datetimes in ISO 8601, an
    offset converted to UTC."""
    kind = dtype.kind
    if kind == "integer":
        return text.cast(pl.Int64, strict=False)
    if kind == "float":
        return text.cast(pl.Float64, strict=False)
    if kind == "boolean":
        lower = text.str.to_lowercase()
        return pl.when(lower == "true").then(True).when(lower == "false").then(False)
    if kind == "date":
        return text.str.to_date("%Y-%m-%d", strict=False)
    if kind == "datetime":
        naive = [text.str.to_datetime(f, time_unit="us", strict=False) for f in _DATETIME_FORMATS]
        aware = [
            text.str.to_datetime(
                f, time_unit="us", time_zone="UTC", strict=False
            ).dt.replace_time_zone(None)
            for f in _DATETIME_TZ_FORMATS
        ]
        return pl.coalesce([*aware, *naive])
    raise AssertionError(f"{dtype} is not read from text")


def _unread(
    text: pl.DataFrame, typed: pl.DataFrame, fields: list[Field]
) -> Iterator[tuple[int, Field]]:
    """(first row, field) of each column where a text became null when read."""
    for f in fields:
        if typed[f.name].null_count() != text[f.name].null_count():
            lost = text[f.name].is_not_null() & typed[f.name].is_null()
            yield int(lost.arg_true()[0]), f


def _first_cast_failure(series: pl.Series, target: pl.DataType) -> int | None:
    return first_failure(series.len(), lambda lo, hi: _cast_fails(series, lo, hi, target))


def _cast_fails(series: pl.Series, lo: int, hi: int, target: pl.DataType) -> bool:
    try:
        series.slice(lo, hi - lo).cast(target, strict=True)
    except pl.exceptions.PolarsError:
        return True
    return False


def _bad_part(one: pl.Series, dtype: DType, path: str) -> tuple[str, str]:
    """The path to the innermost field of a one-row ``one`` that cannot be cast to ``dtype``,
    and the problem."""
    if dtype.kind == "object" and isinstance(one.dtype, pl.Struct):
        present = {f.name for f in one.dtype.fields}
        for f in dtype.fields:
            child = one.struct.field(f.name) if f.name in present else None
            target = to_polars_dtype(f.dtype)
            if child is not None and _cast_fails(child, 0, 1, target):
                return _bad_part(child, f.dtype, f"{path}.{f.name}")
    elif dtype.kind == "list" and dtype.item is not None and isinstance(one.dtype, pl.List):
        items = one.explode()
        i = _first_cast_failure(items, to_polars_dtype(dtype.item))
        if i is not None:
            return _bad_part(items.slice(i, 1), dtype.item, f"{path}[]")
    problem = cannot_read(one[0], dtype)
    if one.dtype == pl.String and dtype.kind in FROM_TEXT:
        problem += f" (text inside a list or object is not converted: store {dtype} values)"
    return path, problem


# ---- JSON values ------------------------------------------------------------------------


def ndjson_reads(lines: Sequence[bytes], types: dict[str, pl.DataType]) -> bool:
    """Whether Polars reads these JSON Lines with these column types."""
    try:
        pl.read_ndjson(io.BytesIO(b"".join(lines)), schema=types)
    except pl.exceptions.PolarsError:
        return False
    return True


def json_problem(value: Any, dtype: DType, path: str) -> tuple[str, DType, Any] | None:
    """The innermost part of a JSON value that Polars cannot read as ``dtype``: its path,
    type and value; ``None`` when the whole value reads."""
    if ndjson_reads([json.dumps({"v": value}).encode()], {"v": to_polars_dtype(dtype)}):
        return None
    if dtype.kind == "object" and isinstance(value, dict):
        for f in dtype.fields:
            found = json_problem(value.get(f.name), f.dtype, f"{path}.{f.name}")
            if found is not None:
                return found
    elif dtype.kind == "list" and dtype.item is not None and isinstance(value, list):
        for item in value:
            found = json_problem(item, dtype.item, f"{path}[]")
            if found is not None:
                return found
    return path, dtype, value


# ---- checks and messages ----------------------------------------------------------------


def first_failure(n: int, fails: Callable[[int, int], bool]) -> int | None:
    """The first index in ``range(n)`` whose item fails, by bisection; ``fails(lo, hi)``
    says whether any item in ``[lo, hi)`` fails (each item failing on its own)."""
    if n == 0 or not fails(0, n):
        return None
    lo, hi = 0, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fails(lo, mid):
            hi = mid
        else:
            lo = mid
    return lo


def check_columns(source: str, schema: Schema, present: set[str], line: int | None = None) -> None:
    """Raise :class:`MalformedInputError` when a required column is not ``present``."""
    missing = [f.name for f in schema.fields if f.required and f.name not in present]
    if missing:
        problem = "required column" + ("s " if len(missing) > 1 else " ")
        problem += f"{', '.join(missing)} missing (columns present: "
        problem += f"{', '.join(sorted(present)[:20]) or 'none'})"
        raise MalformedInputError(source, problem, line=line, column=missing[0])


def cannot_read(value: Any, dtype: DType) -> str:
    """The problem with a value that is not of its field's type (long values cut short)."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"cannot read {shown} as {dtype}"


def reason(exc: BaseException) -> str:
    """The first line of a library error, for messages."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def wrapped(source: str, what: str, *errors: type[Exception]) -> Iterator[None]:
    """Library errors at the boundary → :class:`InputError` naming the source."""
    try:
        yield
    except InputError:
        raise
    except errors as exc:
        raise InputError(f"{source}: cannot read as {what}: {reason(exc)}") from exc
