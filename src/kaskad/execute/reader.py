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
    """``coerce_record(schema, ·)`` as one function generated and compiled for ``schema``
    (see :class:`_Writer`); the closures below when Python cannot compile it."""
    try:
        return _Writer(schema).reader()
    except (SyntaxError, RecursionError, MemoryError):  # nested deeper than Python compiles
        return _closures(schema)


def _closures(schema: Schema) -> RecordReader:
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


class _Writer:
    """The reader as Python source: per top-level field its clean forms tested inline (a
    clean value read in a few comparisons, no call), any other value read again by
    :func:`read_field`, the one definition of the problems, as the closures do. An object
    type gets a function of its own; a constrained or unusual scalar calls its closure."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.names: dict[str, Any] = {
            "_SLOW": _SLOW,
            "_isfinite": math.isfinite,
            "_match": re.compile(DATE_TEXT).fullmatch,
            "_fromisoformat": dt.date.fromisoformat,
            "_date": dt.date,
            "_LOW": _LOW,
            "_HIGH": _HIGH,
            "_coerce": coerce_record,
            "_read_field": read_field,
            "_schema": schema,
        }
        self.functions: list[list[str]] = []
        self.count = 0

    def reader(self) -> RecordReader:
        lines = [
            "def _read(record):",
            "    if type(record) is not dict:",
            "        return _coerce(_schema, record)",
            "    out = {}",
            "    errors = []",
            "    get = record.get",
        ]
        for f in self.schema.fields:
            field = self.const(f)
            lines += [f"    raw = get({f.name!r})", "    try:", "        v = raw"]
            lines += self.field(f, "v", 2)
            lines += [
                f"        out[{f.name!r}] = v",
                "    except Exception:  # not clean: the general reader says what is wrong",
                f"        out[{f.name!r}] = _read_field({field}, raw, '', errors)",
            ]
        lines.append("    return out, errors")
        source = "\n\n".join("\n".join(fn) for fn in [*self.functions, lines])
        exec(compile(source, "<kaskad reader>", "exec"), self.names)
        read: RecordReader = self.names["_read"]
        return read

    def const(self, value: Any) -> str:
        self.count += 1
        name = f"_c{self.count}"
        self.names[name] = value
        return name

    def field(self, f: Field, v: str, depth: int) -> list[str]:
        """Lines that leave ``v`` clean (or raise ``_SLOW``), then check it is there when
        the field is required."""
        lines = self.value(f.dtype, f.constraints, v, depth)
        if f.required:
            lines += [f"if {v} is None:", "    raise _SLOW"]
        pad = "    " * depth
        return [pad + line for line in lines]

    def value(self, dtype: DType, constraints: Constraints, v: str, depth: int) -> list[str]:
        kind = dtype.kind
        checked = (
            constraints.min is not None
            or constraints.max is not None
            or constraints.max_length is not None
            or constraints.pattern is not None
        )
        if kind == "object":
            return [f"{v} = {self.object(dtype)}({v})"]
        if kind == "list":
            assert dtype.item is not None
            item = dtype.item
            if item.kind == "object":
                convert, objects = self.object(item), " or None in " + v
            else:
                convert, objects = self.const(_value(item, NO_CONSTRAINTS)), ""
            return [
                f"if {v} is not None:",
                f"    if type({v}) is not list{objects}:",
                "        raise _SLOW",
                f"    {v} = [{convert}(x) for x in {v}]",
            ]
        if checked or kind not in _INLINE:
            return [f"{v} = {self.const(_value(dtype, constraints))}({v})"]
        test = _INLINE[kind]
        if kind == "category":
            allowed = self.const(frozenset(x for x in dtype.values if x != ""))
            test = test.replace("ALLOWED", allowed)
        return [f"if {v} is not None:", *("    " + line for line in test.format(v=v).split("\n"))]

    def object(self, dtype: DType) -> str:
        name = f"_object{len(self.functions) + 1}"
        self.functions.append([])  # its place, kept while inner objects add theirs
        slot = len(self.functions) - 1
        lines = [
            f"def {name}(raw):",
            "    if raw is None:",
            "        return None",
            "    if type(raw) is not dict:",
            "        raise _SLOW",
            "    get = raw.get",
        ]
        values = []
        for i, f in enumerate(dtype.fields):
            v = f"v{i}"
            lines.append(f"    {v} = get({f.name!r})")
            lines += self.field(f, v, 1)
            values.append(f"{f.name!r}: {v}")
        lines.append("    return {" + ", ".join(values) + "}")
        self.functions[slot] = lines
        return name


# a clean value of each kind, tested inline for a value that is not None ({v}: its name);
# the same tests as the closures below
_INLINE = {
    "string": "if type({v}) is not str or {v} == '':\n    raise _SLOW",
    "category": "if type({v}) is not str or {v} not in ALLOWED:\n    raise _SLOW",
    "integer": "if type({v}) is not int or not _LOW <= {v} <= _HIGH:\n    raise _SLOW",
    "float": (
        "if type({v}) is float:\n"
        "    if not _isfinite({v}):\n"
        "        raise _SLOW\n"
        "elif type({v}) is int:\n"
        "    {v} = float({v})  # an OverflowError: the general reader reports it\n"
        "else:\n"
        "    raise _SLOW"
    ),
    "boolean": "if type({v}) is not bool:\n    raise _SLOW",
    "date": (
        "if type({v}) is str and _match({v}):\n"
        "    {v} = _fromisoformat({v})  # a ValueError: the general reader reports it\n"
        "elif type({v}) is not _date:\n"
        "    raise _SLOW"
    ),
}


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
