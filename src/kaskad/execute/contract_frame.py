"""The reading contract over whole columns (Polars): the same grammar as
:mod:`kaskad.execute.contract`, read vectorized.

:func:`read_columns` types the top-level columns of a raw frame (text columns read by the
grammar, numeric columns checked) and says which values could not be read; the problem of
such a value is :func:`kaskad.execute.contract.read_value`'s, so it is the same on every
path. ``tests/execute/test_contract.py`` checks that both readers agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from kaskad.execute.contract import (
    BLANKS,
    DATE_TEXT,
    DATETIME_TEXT,
    INTEGER_TEXT,
    NUMBER_TEXT,
    TEXT_READ,
)
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field

__all__ = ["Read", "read_columns", "text_expr"]

_FLOATS = (pl.Float32, pl.Float64)
_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def utc_of_local(local: pl.Expr, tz: str) -> pl.Expr:
    """Naive local times of zone ``tz`` as naive UTC (the earlier of a repeated hour, and
    a time skipped by a clock change moved forward, as Python's zoneinfo does)."""
    return (
        local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )


def _full(pattern: str) -> str:
    return f"^(?:{pattern})$"


def text_expr(text: pl.Expr, dtype: DType) -> pl.Expr:
    """Text as ``dtype`` by the contract's grammar; null when empty or not readable."""
    kind = dtype.kind
    if kind in ("string", "category"):
        return pl.when(text != "").then(text)
    trimmed = text.str.strip_chars(BLANKS)
    if kind == "integer":
        ok = trimmed.str.contains(_full(INTEGER_TEXT))
        return pl.when(ok).then(trimmed.cast(pl.Int64, strict=False))
    if kind == "float":
        ok = trimmed.str.contains(_full(NUMBER_TEXT))
        number = pl.when(ok).then(trimmed.cast(pl.Float64, strict=False))
        return pl.when(number.is_finite()).then(number)
    if kind == "boolean":
        lower = trimmed.str.to_lowercase()
        return pl.when(lower == "true").then(True).when(lower == "false").then(False)
    if kind == "date":
        ok = trimmed.str.contains(_full(DATE_TEXT))
        return pl.when(ok).then(trimmed.str.to_date("%Y-%m-%d", strict=False))
    if kind == "datetime":
        ok = trimmed.str.contains(_full(DATETIME_TEXT))
        # one shape: 'T' between date and time, a time for a date alone, 'Z' as +00:00
        iso = (
            pl.when(trimmed.str.len_chars() == 10)
            .then(trimmed + "T00:00:00")
            .otherwise(trimmed.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T"))
            .str.replace(r"Z$", "+00:00")
        )
        aware = iso.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC", strict=False
        ).dt.replace_time_zone(None)
        naive = iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)
        if dtype.tz:  # a local time of the field's zone, as naive UTC
            naive = utc_of_local(naive, dtype.tz)
        has_offset = iso.str.contains(r"[+-]\d{2}:\d{2}$")
        return pl.when(ok).then(pl.when(has_offset).then(aware).otherwise(naive))
    raise AssertionError(f"{dtype} is not read from text")


@dataclass(frozen=True)
class Read:
    """A raw frame's top-level columns read by the contract: ``frame`` (unreadable values
    null) and, per field that has any, a mask of the rows whose value could not be read."""

    frame: pl.DataFrame
    unread: dict[str, pl.Series]

    def first(self) -> tuple[int, str] | None:
        """(row, field name) of the first unreadable value, in row then field order."""
        found = [(int(mask.arg_true()[0]), name) for name, mask in self.unread.items()]
        return min(found, key=lambda f: f[0]) if found else None


def read_columns(frame: pl.DataFrame, schema: Schema, naive_local: bool = False) -> Read:
    """Type the scalar columns of ``frame`` that need the contract: text columns of every
    scalar field (empty text is missing), integer columns of float fields, and any
    floating column of an integer field (refused: an integer field takes integers).
    With ``naive_local`` (typed input such as Parquet), a datetime column without a zone
    for a field with one holds local times of the field's zone."""
    exprs: list[pl.Expr] = []
    checked: list[Field] = []
    for f in schema.fields:
        got = frame.schema.get(f.name)
        if got is None or f.dtype.kind not in (*TEXT_READ, "string", "category"):
            continue
        col = pl.col(f.name)
        if got == pl.String:
            exprs.append(text_expr(col, f.dtype).alias(f.name))
            if f.dtype.kind in TEXT_READ:
                checked.append(f)
        elif f.dtype.kind == "integer" and isinstance(got, _FLOATS):
            exprs.append(pl.lit(None, dtype=pl.Int64).alias(f.name))
            checked.append(f)
        elif f.dtype.kind == "float" and isinstance(got, _INTEGERS):
            exprs.append(col.cast(pl.Float64).alias(f.name))
        elif naive_local and _local_times(got, f.dtype):
            exprs.append(utc_of_local(col.cast(pl.Datetime("us")), f.dtype.tz).alias(f.name))
            checked.append(f)
    if not exprs:
        return Read(frame, {})
    typed = frame.with_columns(exprs)
    unread: dict[str, pl.Series] = {}
    for f in checked:
        lost = typed[f.name].null_count() - _blank(frame[f.name], f.dtype).sum()
        if lost:
            mask = ~_blank(frame[f.name], f.dtype) & typed[f.name].is_null()
            unread[f.name] = mask
    return Read(typed, unread)


def _local_times(got: pl.DataType, dtype: DType) -> bool:
    """A typed datetime column without a zone, for a field in a time zone."""
    return (
        dtype.kind == "datetime"
        and bool(dtype.tz)
        and isinstance(got, pl.Datetime)
        and got.time_zone is None
    )


def _blank(raw: pl.Series, dtype: DType) -> pl.Series:
    """Where a raw value is no value: null, or text that is empty (after the white space
    the grammar allows)."""
    if raw.dtype == pl.String:
        return raw.is_null() | (raw.str.strip_chars(BLANKS) == "")
    return raw.is_null()
