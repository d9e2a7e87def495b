"""Conversions between record values, NumPy arrays and Polars series, shared by both executors
so that feature functions and models see exactly the same numbers in every mode."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from kaskad.spec.types import DType

NAN = float("nan")


def series_to_array(series: pl.Series, dtype: DType) -> np.ndarray[Any, Any]:
    """A column as a feature function receives it (batch mode)."""
    if dtype.kind in ("integer", "float", "boolean"):
        return series.cast(pl.Float64).to_numpy()
    if dtype.kind == "date":
        return series.to_numpy().astype("datetime64[D]")
    if dtype.kind == "datetime":
        return series.to_numpy().astype("datetime64[us]")
    return _objects(series.to_list(), dtype)


def value_to_array(value: Any, dtype: DType) -> np.ndarray[Any, Any]:
    """One value as a feature function receives it (per-record mode): an array of length 1."""
    if dtype.kind in ("integer", "float", "boolean"):
        return np.array([NAN if value is None else float(value)], dtype=np.float64)
    if dtype.kind == "date":
        return np.array([value if value is not None else "NaT"], dtype="datetime64[D]")
    if dtype.kind == "datetime":
        return np.array([value if value is not None else "NaT"], dtype="datetime64[us]")
    return _objects([value], dtype)


def _objects(values: list[Any], dtype: DType) -> np.ndarray[Any, Any]:
    """A one-dimensional array of Python values: text, or for a list or object field a list
    of dicts or a dict per row (NumPy would make a list of lists two-dimensional)."""
    if dtype.kind not in ("list", "object"):
        return np.array(values, dtype=object)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def array_to_series(name: str, values: Any, dtype: DType, length: int) -> pl.Series:
    """A feature function's result as a column; NaN and None become missing values."""
    arr = np.asarray(values)
    if arr.shape != (length,):
        raise ValueError(f"returned shape {arr.shape}, expected ({length},)")
    if dtype.kind in ("float", "integer"):
        floats = arr.astype(np.float64)
        series = pl.Series(name, floats, dtype=pl.Float64).fill_nan(None)
        if dtype.kind == "integer":
            series = series.round(0).cast(pl.Int64)
        return series
    if dtype.kind == "boolean":
        return pl.Series(name, [_to_bool(v) for v in arr.tolist()], dtype=pl.Boolean)
    return pl.Series(name, [_to_str(v) for v in arr.tolist()], dtype=pl.String)


def array_to_value(values: Any, dtype: DType) -> Any:
    """A feature function's length-1 result as one value (per-record mode)."""
    arr = np.asarray(values)
    if arr.shape != (1,):
        raise ValueError(f"returned shape {arr.shape}, expected (1,)")
    if dtype.kind in ("float", "integer"):
        v = float(arr[0] if arr.dtype == np.float64 else arr.astype(np.float64)[0])
        if v != v:  # NaN
            return None
        return round(v) if dtype.kind == "integer" else v
    if dtype.kind == "boolean":
        return _to_bool(arr.tolist()[0])
    return _to_str(arr.tolist()[0])


def _to_bool(v: Any) -> bool | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return bool(v)


def _to_str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def model_row(values: Sequence[Any], kinds: Sequence[str] | None = None) -> list[Any]:
    """Model inputs of one record: floats, NaN for missing, booleans as 1.0/0.0; an input
    the model takes as text (``kinds``) stays a string, None when missing."""
    if kinds is None or "text" not in kinds:
        return [NAN if v is None else float(v) for v in values]
    return [
        (None if v is None else str(v)) if kind == "text" else (NAN if v is None else float(v))
        for v, kind in zip(values, kinds, strict=True)
    ]


def clean_float(v: float) -> float | None:
    return None if math.isnan(v) else v


def json_value(v: Any) -> Any:
    """A value as JSON shows it: dates and datetimes in ISO format."""
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, list):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    return v
