"""Schema types → Polars/Arrow types."""

from __future__ import annotations

import polars as pl

from kaskad.spec.types import DType

_SCALARS: dict[str, pl.DataType] = {
    "string": pl.String(),
    "category": pl.String(),
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "null": pl.Null(),
    "any": pl.Null(),
}


def to_polars_dtype(dtype: DType) -> pl.DataType:
    """The Polars type that holds values of ``dtype``."""
    if dtype.kind == "object":
        return pl.Struct([pl.Field(f.name, to_polars_dtype(f.dtype)) for f in dtype.fields])
    if dtype.kind == "list":
        assert dtype.item is not None
        return pl.List(to_polars_dtype(dtype.item))
    return _SCALARS[dtype.kind]
