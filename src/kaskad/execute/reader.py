"""A schema's record check compiled once: :func:`coerce_record` specialised per field.

:func:`compile_reader` builds, for each field of a schema, a closure that reads a clean
value (the right JSON type, allowed, within its constraints) without building a path or a
problem. Anything else in a top-level field (a wrong type, a missing required value, text
to parse with blanks, a NaN...) makes its closure give up, and that field is read again by
:func:`kaskad.execute.inputs.read_field`, the one definition of the problems; so the
values and problems are exactly those of :func:`coerce_record` (tested with hypothesis in
``tests/execute/test_reader.py``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from kaskad.errors import FieldProblem
from kaskad.execute.constraints import check_value
from kaskad.execute.contract import DATE_TEXT, INT64, read_value
from kaskad.execute.inputs import coerce_record, read_field
from kaskad.spec.schema import Schema
from kaskad.spec.types import NO_CONSTRAINTS, Constraints, DType, Field

__all__ = ["RecordReader", "compile_reader"]

RecordReader = Callable[[Any], tuple[dict[str, Any], list[FieldProblem]]]
Read = Callable[[Any], Any]  # a clean value, or raises (then the slow path decides)

_LOW, _HIGH = INT64


class _Slow(Exception):
    """The value is not a clean one: read it the general way."""


_SLOW = _Slow()


def compile_reader(schema: Schema) -> RecordReader:
    """``coerce_record(schema, ·)`` as closures built once for ``schema``."""
    fields = [(f, f.name, _field(f)) for f in schema.fields]

    def read(record: Any) -> tuple[dict[str, Any], list[FieldProblem]]:
        if type(record) is not dict:
            return coerce_record(schema, record)
        out: dict[str, Any] = {}
        errors: list[FieldProblem] = []
        get = record.get
        for f, name, fast in fields:
            raw = get(name)
            try:
                out[name] = fast(raw)
            except Exception:  # not clean: the general reader says what is wrong
                out[name] = read_field(f, raw, "", errors)
        return out, errors

    return read


def _field(f: Field) -> Read:
    """A field's reader: its value, or raises when missing but required or not clean."""
    value = _value(f.dtype, f.constraints)
    if not f.required:
        return value

    def required(raw: Any) -> Any:
        if raw is None:
            raise _SLOW
        result = value(raw)
        if result is None:
            raise _SLOW
        return result

    return required


def _value(dtype: DType, constraints: Constraints) -> Read:
    kind = dtype.kind
    if kind == "object":
        return _object(dtype)
    if kind == "list":
        assert dtype.item is not None
        return _list(dtype.item)
    scalar = _SCALARS.get(kind, _generic)(dtype)
    checked = (
        constraints.min is not None
        or constraints.max is not None
        or constraints.max_length is not None
        or constraints.pattern is not None
    )
    if not checked:
        return scalar

    def constrained(raw: Any) -> Any:
        result = scalar(raw)
        if result is not None and check_value(result, dtype, constraints, ""):
            raise _SLOW
        return result

    return constrained


def _object(dtype: DType) -> Read:
    fields = [(f.name, _field(f)) for f in dtype.fields]

    def read(raw: Any) -> Any:
        if raw is None:
            return None
        if type(raw) is not dict:
            raise _SLOW
        get = raw.get
        return {name: fast(get(name)) for name, fast in fields}

    return read


def _list(item: DType) -> Read:
    fast = _value(item, NO_CONSTRAINTS)
    objects = item.kind == "object"

    def read(raw: Any) -> Any:
        if raw is None:
            return None
        if type(raw) is not list or (objects and None in raw):
            raise _SLOW
        return [fast(x) for x in raw]

    return read


# ---- scalars: only the usual clean forms; the rest is read by the general reader ------


def _string(dtype: DType) -> Read:
    def read(raw: Any) -> Any:
        if raw is None:
            return None
        if type(raw) is not str or raw == "":
            raise _SLOW
        return raw

    return read


def _category(dtype: DType) -> Read:
    allowed = frozenset(v for v in dtype.values if v != "")

    def read(raw: Any) -> Any:
        if raw is None:
            return None
        if type(raw) is not str or raw not in allowed:
            raise _SLOW
        return raw

    return read


def _integer(dtype: DType) -> Read:
    def read(raw: Any) -> Any:
        if raw is None:
            return None
        if type(raw) is not int or not _LOW <= raw <= _HIGH:
            raise _SLOW
        return raw

    return read


def _float(dtype: DType) -> Read:
    isfinite = math.isfinite

    def read(raw: Any) -> Any:
        if raw is None:
            return None
        kind = type(raw)
        if kind is float and isfinite(raw):
            return raw
        if kind is int:
            return float(raw)  # an OverflowError: the general reader reports it
        raise _SLOW

    return read


def _boolean(dtype: DType) -> Read:
    def read(raw: Any) -> Any:
        if raw is None:
            return None
        if type(raw) is not bool:
            raise _SLOW
        return raw

    return read


def _date(dtype: DType) -> Read:
    pattern = re.compile(DATE_TEXT)
    fromisoformat = dt.date.fromisoformat

    def read(raw: Any) -> Any:
        if raw is None:
            return None
        kind = type(raw)
        if kind is str and pattern.fullmatch(raw):
            return fromisoformat(raw)  # a ValueError: the general reader reports it
        if kind is dt.date:
            return raw
        raise _SLOW

    return read


def _generic(dtype: DType) -> Read:
    """Any other scalar (datetimes): the contract's reader, giving up on a problem."""

    def read(raw: Any) -> Any:
        value, problem = read_value(raw, dtype, "")
        if problem is not None or (isinstance(value, float) and not math.isfinite(value)):
            raise _SLOW
        return value

    return read


_SCALARS: dict[str, Callable[[DType], Read]] = {
    "string": _string,
    "category": _category,
    "integer": _integer,
    "float": _float,
    "boolean": _boolean,
    "date": _date,
}
