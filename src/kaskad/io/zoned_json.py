"""JSON Lines of a schema with zoned datetimes, read by Polars at full speed.

A zoned datetime's text without an offset is a local time of its zone, which Polars' JSON
reader cannot know: such fields (at any depth) are read as text, then typed by the reading
contract's grammar in Polars (:func:`kaskad.execute.contract_frame.text_expr`, which
applies the zone). When any of their values cannot be read that way the caller reads the
lines record by record instead, so a value is refused exactly as the contract refuses it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.execute.contract_frame import text_expr
from kaskad.spec.schema import Schema
from kaskad.spec.types import STRING, DType

Access = Callable[[pl.Expr], pl.Expr]


def zoned(dtype: DType) -> bool:
    """Whether ``dtype`` holds a datetime with a time zone anywhere inside."""
    if dtype.kind == "datetime":
        return bool(dtype.tz)
    if dtype.kind == "list" and dtype.item is not None:
        return zoned(dtype.item)
    return any(zoned(f.dtype) for f in dtype.fields)


def _as_text(dtype: DType) -> DType:
    """``dtype`` with every zoned datetime inside read as text."""
    if dtype.kind == "datetime" and dtype.tz:
        return STRING
    if dtype.kind == "list" and dtype.item is not None:
        return replace(dtype, item=_as_text(dtype.item))
    if dtype.kind == "object":
        return replace(
            dtype, fields=tuple(replace(f, dtype=_as_text(f.dtype)) for f in dtype.fields)
        )
    return dtype


def _typed(x: pl.Expr, dtype: DType) -> pl.Expr:
    """Text read for the zoned datetimes inside ``dtype`` → their values."""
    if not zoned(dtype):
        return x
    if dtype.kind == "datetime":
        return text_expr(x, dtype)
    if dtype.kind == "list":
        assert dtype.item is not None
        return x.list.eval(_typed(pl.element(), dtype.item))
    fields = [_typed(x.struct.field(f.name), f.dtype).alias(f.name) for f in dtype.fields]
    return pl.when(x.is_null()).then(None).otherwise(pl.struct(fields))


def _leaves(dtype: DType) -> list[Access]:
    """How to reach every zoned datetime inside ``dtype``, as one flat column each."""
    if dtype.kind == "datetime":
        return [_itself] if dtype.tz else []
    if dtype.kind == "list":
        assert dtype.item is not None
        return [_after(_exploded, a) for a in _leaves(dtype.item)]
    return [_after(_field(f.name), a) for f in dtype.fields for a in _leaves(f.dtype)]


def _itself(x: pl.Expr) -> pl.Expr:
    return x


def _exploded(x: pl.Expr) -> pl.Expr:
    return x.explode()


def _field(name: str) -> Access:
    def reach(x: pl.Expr) -> pl.Expr:
        return x.struct.field(name)

    return reach


def _after(first: Access, then: Access) -> Access:
    def reach(x: pl.Expr) -> pl.Expr:
        return then(first(x))

    return reach


def read_zoned(data: bytes, schema: Schema) -> pl.DataFrame | None:
    """The lines as a frame in the schema's types; None when Polars cannot read them or a
    zoned datetime's text is not readable (then the contract reads them one by one)."""
    text_types = {f.name: to_polars_dtype(_as_text(f.dtype)) for f in schema.fields}
    try:
        raw = pl.read_ndjson(io.BytesIO(data), schema=text_types)
        typed = raw.with_columns(
            _typed(pl.col(f.name), f.dtype).alias(f.name) for f in schema.fields if zoned(f.dtype)
        )
        for f in schema.fields:
            for reach in _leaves(f.dtype):
                before = raw.select(reach(pl.col(f.name))).to_series().null_count()
                if typed.select(reach(pl.col(f.name))).to_series().null_count() != before:
                    return None
        return typed.cast({f.name: to_polars_dtype(f.dtype) for f in schema.fields})
    except pl.exceptions.PolarsError:
        return None


__all__ = ["read_zoned", "zoned"]
