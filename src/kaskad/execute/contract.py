"""The reading contract: how a value that enters kaskad becomes a value of its field's type.

Every way a record enters (HTTP JSON and XML, ``kaskad decide``, JSON Lines, CSV, Parquet,
PostgreSQL, Spark) hands its values to this module, or to :mod:`kaskad.execute.contract_frame`,
which reads whole columns with Polars from the same grammar (the patterns below) and asks
:func:`read_value` for the problem of any value it cannot read. The table of accepted and
refused texts is in ``docs/inputs.md``; in short:

- a value arrives *typed* (a JSON number or ``true``/``false``, a Parquet or PostgreSQL
  column of that type) or as *text* (CSV and XML cells, JSON strings, text columns), and
  text is read by one grammar whatever carried it;
- empty text is no value (missing), quoted or not; numbers, booleans, dates and datetimes
  may be surrounded by white space (spaces, tabs, line breaks), text fields are kept as
  written;
- numbers are written as JSON writes them: no ``+``, no leading zeros, no thousands
  separators, no ``NaN``/``Infinity``/``inf`` (the JSON tokens ``NaN``, ``Infinity`` and
  ``-Infinity`` are read as the text they are, and refused);
- an integer field takes integers only (``11.0`` is refused), within 64 bits;
- a float field takes any number whose value is within the float range (``1e309`` is
  refused; a JSON integer beyond 64 bits is the nearest float); a typed NaN or ±infinity
  is left to the field's ``finite`` constraint (:mod:`kaskad.execute.constraints`);
- booleans are ``true``/``false`` in any letter case; dates ``YYYY-MM-DD``; datetimes
  ISO 8601 ``YYYY-MM-DD[T| ]HH:MM:SS[.ffffff][Z|±HH:MM]`` or a date alone (midnight), an
  offset converted to UTC; without an offset, a local time of the field's time zone
  (:mod:`kaskad.spec.timezone`), UTC when it has none.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kaskad.errors import FieldProblem
from kaskad.spec.timezone import zone
from kaskad.spec.types import DType

__all__ = [
    "BLANKS",
    "DATETIME_TEXT",
    "DATE_TEXT",
    "INTEGER_TEXT",
    "NUMBER_TEXT",
    "TEXT_READ",
    "JsonNumber",
    "describe",
    "loads",
    "read_nested",
    "read_value",
    "wrong_type",
]

# the grammar of text values (Python ``re`` and Rust ``regex`` read these alike)
BLANKS = " \t\r\n"  # white space allowed around numbers, booleans, dates and datetimes
INTEGER_TEXT = r"-?(?:0|[1-9][0-9]*)"
NUMBER_TEXT = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
DATE_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
DATETIME_TEXT = (
    DATE_TEXT + r"(?:[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
BOOLEAN_TEXTS = {"true": True, "false": False}
TEXT_READ = ("integer", "float", "boolean", "date", "datetime")  # kinds read from text
INT64 = (-(2**63), 2**63 - 1)

_INTEGER = re.compile(INTEGER_TEXT)
_NUMBER = re.compile(NUMBER_TEXT)
_DATE = re.compile(DATE_TEXT)
_DATETIME = re.compile(DATETIME_TEXT)


class JsonNumber(str):
    """A JSON number kept as the text it was written as: one beyond what a Python float or
    a 64-bit integer holds (``1e309``, ``100000000000000000000000000``), or one of the
    non-JSON tokens ``NaN``, ``Infinity``, ``-Infinity``. It is text (so the decision log
    stores it as written, and a store never meets a number it cannot write) that the
    contract reads as a number's text."""

    __slots__ = ()


def int64_of(text: str) -> int | None:
    """The value of integer ``text`` (``-?[0-9]+``) when a 64-bit integer holds it. Text
    too long to be one is not converted: Python refuses ``int()`` of over 4,300 digits."""
    if len(text.lstrip("-0")) > 19:
        return None
    value = int(text)
    return value if INT64[0] <= value <= INT64[1] else None


def _parse_int(text: str) -> Any:
    value = int64_of(text)
    return JsonNumber(text) if value is None else value


def _parse_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else JsonNumber(text)


def loads(text: str | bytes) -> Any:
    """JSON text as Python values, as every kaskad JSON reader reads it: numbers that a
    64-bit integer or a finite float cannot hold, and the tokens ``NaN``/``Infinity``/
    ``-Infinity``, become :class:`JsonNumber` text. Raises ``json.JSONDecodeError`` (and
    ``UnicodeDecodeError`` for bytes that are not UTF-8)."""
    return json.loads(
        text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=JsonNumber
    )


# ---- one value ----------------------------------------------------------------------------


def wrong_type(path: str, expected: str, got: str) -> FieldProblem:
    return FieldProblem(path, "wrong_type", expected, got)


def out_of_range(path: str, kind: str, got: str) -> FieldProblem:
    return FieldProblem(path, "out_of_range", kind, got)


def read_value(raw: Any, dtype: DType, path: str) -> tuple[Any, FieldProblem | None]:
    """A scalar value (of a ``string``, ``category``, ``integer``, ``float``, ``boolean``,
    ``date`` or ``datetime`` field) read by the contract: the typed value (None when it is
    missing, or when it cannot be read) and the problem when it cannot be read."""
    if raw is None:
        return None, None
    kind = dtype.kind
    if isinstance(raw, Decimal):  # a PostgreSQL numeric: read as the text it is
        raw = JsonNumber(str(raw)) if raw.is_finite() else float(raw)
    if isinstance(raw, str) and not isinstance(raw, JsonNumber):
        if raw == "":
            return None, None
        if kind in ("string", "category"):
            return raw, None
        return _read_text(raw, dtype, path, f"text {describe_text(raw)}")
    if kind in ("string", "category"):
        return None, wrong_type(path, str(dtype), describe(raw))
    if isinstance(raw, JsonNumber):
        return _read_text(raw, dtype, path, f"number {raw}")
    if kind == "integer":
        if isinstance(raw, int) and not isinstance(raw, bool):
            if INT64[0] <= raw <= INT64[1]:
                return raw, None
            return None, out_of_range(path, "integer", str(raw))
    elif kind == "float":
        if isinstance(raw, float):
            return raw, None
        if isinstance(raw, int) and not isinstance(raw, bool):
            try:
                return float(raw), None
            except OverflowError:
                return None, out_of_range(path, "float", str(raw))
    elif kind == "boolean":
        if isinstance(raw, bool):
            return raw, None
    elif kind == "date":
        if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            return raw, None
        return None, wrong_type(path, "a date as YYYY-MM-DD", describe(raw))
    elif kind == "datetime":
        if isinstance(raw, dt.datetime):
            try:
                return _utc(raw, dtype.tz), None
            except ValueError:
                return None, wrong_type(path, f"a time that exists in {dtype.tz}", describe(raw))
        return None, wrong_type(path, "a date and time in ISO format", describe(raw))
    return None, wrong_type(path, str(dtype), describe(raw))


def read_nested(raw: Any, dtype: DType, path: str) -> tuple[Any, list[FieldProblem]]:
    """A value of any field type read by the contract (objects and lists element by
    element): the typed value and the problems of what could not be read. Only reading:
    required fields, allowed values and constraints are checked later."""
    problems: list[FieldProblem] = []
    return _nested(raw, dtype, path, problems), problems


def _nested(raw: Any, dtype: DType, path: str, problems: list[FieldProblem]) -> Any:
    if raw is None:
        return None
    if dtype.kind == "object":
        if isinstance(raw, Mapping):
            return {
                f.name: _nested(raw.get(f.name), f.dtype, f"{path}.{f.name}", problems)
                for f in dtype.fields
            }
    elif dtype.kind == "list":
        if isinstance(raw, list):
            assert dtype.item is not None
            return [_nested(x, dtype.item, f"{path}[]", problems) for x in raw]
    else:
        value, problem = read_value(raw, dtype, path)
        if problem is not None:
            problems.append(problem)
        return value
    problems.append(wrong_type(path, str(dtype), describe(raw)))
    return None


def _read_text(raw: str, dtype: DType, path: str, got: str) -> tuple[Any, FieldProblem | None]:
    kind = dtype.kind
    text = raw.strip(BLANKS)
    if text == "":
        return None, None
    if kind == "integer":
        if _INTEGER.fullmatch(text):
            value = int64_of(text)
            if value is not None:
                return value, None
            return None, out_of_range(path, "integer", text)
        return None, wrong_type(path, "integer", got)
    if kind == "float":
        if _NUMBER.fullmatch(text):
            number = float(text)
            if math.isfinite(number):
                return number, None
            return None, out_of_range(path, "float", text)
        return None, wrong_type(path, "float", got)
    if kind == "boolean":
        found = BOOLEAN_TEXTS.get(text.lower())
        if found is not None:
            return found, None
        return None, wrong_type(path, "boolean", got)
    if kind == "date":
        if _DATE.fullmatch(text):
            try:
                return dt.date.fromisoformat(text), None
            except ValueError:
                pass
        return None, wrong_type(path, "a date as YYYY-MM-DD", got)
    if kind == "datetime":
        if _DATETIME.fullmatch(text):
            try:
                return _utc(dt.datetime.fromisoformat(text), dtype.tz), None
            except ValueError:
                pass
        return None, wrong_type(path, "a date and time in ISO format", got)
    raise AssertionError(f"{dtype} is not read from text")


def _utc(value: dt.datetime, tz: str = "") -> dt.datetime:
    """A datetime as naive UTC: an offset converted; a naive value is a local time of the
    field's zone ``tz`` (UTC when none; the earlier of a repeated hour)."""
    if value.tzinfo is None and tz:
        local = value
        value = value.replace(tzinfo=zone(tz))
        if value.astimezone(dt.UTC).astimezone(value.tzinfo).replace(tzinfo=None) != local:
            raise ValueError(f"{local} does not exist in {tz} (the clocks moved past it)")
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def describe_text(text: str) -> str:
    return repr(text[:40])


def describe(raw: Any) -> str:
    """What arrived, as problems write it: ``text 'x'``, ``number 5``, ``true/false``."""
    if isinstance(raw, JsonNumber):
        return f"number {raw}"
    if isinstance(raw, bool):
        return "true/false"
    if isinstance(raw, (int, float, Decimal)):
        return f"number {raw!r}" if not isinstance(raw, Decimal) else f"number {raw}"
    if isinstance(raw, str):
        return f"text {describe_text(raw)}"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, Mapping):
        return "an object"
    if isinstance(raw, dt.datetime):
        return f"date and time {raw.isoformat()}"
    if isinstance(raw, dt.date):
        return f"date {raw.isoformat()}"
    return type(raw).__name__
