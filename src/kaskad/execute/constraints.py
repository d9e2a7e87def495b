"""Field constraints (``min``, ``max``, ``finite``, ``max_length``, ``pattern``), checked
alike on one value (the per-record executor) and on a column (the batch executor).

Each constraint has one problem code and one message; the message names the bound, never
the value, so both executors write exactly the same text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl

from kaskad.errors import FieldProblem
from kaskad.spec.types import Constraints, DType

__all__ = ["ColumnCheck", "check_value", "column_checks", "finite_applies", "nan_is_missing"]


def finite_applies(dtype: DType, constraints: Constraints) -> bool:
    """Whether NaN and ±infinity are refused for this field (floats, unless ``finite: false``)."""
    return dtype.kind == "float" and constraints.finite


def nan_is_missing(dtype: DType, constraints: Constraints) -> bool:
    """Whether a NaN is read as a missing value (floats with ``finite: false``)."""
    return dtype.kind == "float" and not constraints.finite


def _problems(path: str, c: Constraints) -> Iterator[tuple[str, FieldProblem]]:
    if c.min is not None:
        yield "min", FieldProblem(path, "below_min", str(c.min))
    if c.max is not None:
        yield "max", FieldProblem(path, "above_max", str(c.max))
    if c.max_length is not None:
        yield "max_length", FieldProblem(path, "too_long", str(c.max_length))
    if c.pattern is not None:
        yield "pattern", FieldProblem(path, "no_match", c.pattern)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def check_value(value: Any, dtype: DType, c: Constraints, path: str) -> list[FieldProblem]:
    """The constraint problems of one read value (None: no problem, missing is checked
    elsewhere). Order: finite, min, max, max_length, pattern."""
    if value is None:
        return []
    out: list[FieldProblem] = []
    if finite_applies(dtype, c) and isinstance(value, float) and not math.isfinite(value):
        out.append(FieldProblem(path, "not_finite"))
    for key, problem in _problems(path, c):
        if (
            (key == "min" and value < c.min)
            or (key == "max" and value > c.max)
            or (key == "max_length" and len(value) > (c.max_length or 0))
            or (key == "pattern" and _regex(c.pattern or "").fullmatch(value) is None)
        ):
            out.append(problem)
    return out


@dataclass(frozen=True)
class ColumnCheck:
    """One constraint over a column: whether a value breaks it, and the problem it then has."""

    fails: pl.Expr
    problem: FieldProblem


def column_checks(value: pl.Expr, dtype: DType, c: Constraints, path: str) -> list[ColumnCheck]:
    """The constraints of a field as checks over its column ``value`` (same order and
    problems as :func:`check_value`; a NaN breaks no bound, as in Python)."""
    out: list[ColumnCheck] = []
    if finite_applies(dtype, c):
        out.append(
            ColumnCheck(value.is_nan() | value.is_infinite(), FieldProblem(path, "not_finite"))
        )
    number = value if dtype.kind != "float" else pl.when(~value.is_nan()).then(value)
    for key, problem in _problems(path, c):
        if key == "min":
            out.append(ColumnCheck(number < c.min, problem))
        elif key == "max":
            out.append(ColumnCheck(number > c.max, problem))
        elif key == "max_length":
            out.append(ColumnCheck(value.str.len_chars() > (c.max_length or 0), problem))
        elif key == "pattern":
            out.append(ColumnCheck(~value.str.contains(f"^(?:{c.pattern})$"), problem))
    return out
