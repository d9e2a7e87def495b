"""Input at the door: records and frames are checked against the schema.

A record (one decision) is coerced from JSON-like values; a frame (batch) is cast to
the schema's types. Both report the same messages for missing required fields and
values outside a category, so a rejected record looks the same in every mode.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import InputError
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field


def missing_message(path: str) -> str:
    return f"{path}: required field is missing"


def category_message(path: str, value: str) -> str:
    return f"{path}: '{value}' is not an allowed value"


# ---- one record -------------------------------------------------------------------------


def coerce_record(schema: Schema, record: Any) -> tuple[dict[str, Any], list[str]]:
    """Typed values of a JSON-like record, and the problems found (empty when valid)."""
    errors: list[str] = []
    if not isinstance(record, Mapping):
        return {}, [f"the input must be an object with fields, got {_kind(record)}"]
    return _object(schema.fields, record, "", errors), errors


def _object(
    fields: tuple[Field, ...], raw: Mapping[str, Any], prefix: str, errors: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        path = f"{prefix}{f.name}"
        given = raw.get(f.name)
        value = _value(f.dtype, given, path, errors)
        if given is None and f.required:  # a value of the wrong type is reported as such
            errors.append(missing_message(path))
        out[f.name] = value
    return out


def _value(dtype: DType, raw: Any, path: str, errors: list[str]) -> Any:
    if raw is None:
        return None
    kind = dtype.kind
    bad: str | None = None  # a specific message; the generic one is built only on failure
    if kind == "string":
        if isinstance(raw, str):
            return raw
    elif kind == "category":
        if isinstance(raw, str):
            if raw not in dtype.values:
                errors.append(category_message(path, raw))
            return raw
    elif kind == "integer":
        if isinstance(raw, int) and not isinstance(raw, bool):
            if -(2**63) <= raw < 2**63:
                return raw
            bad = f"{path}: {raw} is out of the integer range"
        elif isinstance(raw, float) and raw.is_integer():
            return int(raw)
    elif kind == "float":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value = float(raw)
            return None if math.isnan(value) else value
    elif kind == "boolean":
        if isinstance(raw, bool):
            return raw
    elif kind == "date":
        parsed = _date(raw)
        if parsed is not None:
            return parsed
        bad = f"{path}: expected a date as YYYY-MM-DD, got {raw!r}"
    elif kind == "datetime":
        parsed_dt = _datetime(raw)
        if parsed_dt is not None:
            return parsed_dt
        bad = f"{path}: expected a date and time in ISO format, got {raw!r}"
    elif kind == "object" and isinstance(raw, Mapping):
        return _object(dtype.fields, raw, f"{path}.", errors)
    elif kind == "list" and isinstance(raw, list):
        assert dtype.item is not None
        item_errors: list[str] = []
        items = [_value(dtype.item, x, f"{path}[]", item_errors) for x in raw]
        if dtype.item.kind == "object" and None in raw:  # a missing element: fields missing
            _object(dtype.item.fields, {}, f"{path}[].", item_errors)
        errors.extend(_order_list_errors(dtype.item, f"{path}[]", item_errors))
        return items
    errors.append(bad or f"{path}: expected {dtype}, got {_kind(raw)}")
    return None


def _order_list_errors(item: DType, path: str, errors: list[str]) -> list[str]:
    """Distinct messages about list elements, ordered by field, allowed values before
    missing ones: the order the batch check produces."""
    leaves = [path] if item.kind != "object" else [f"{path}.{f.name}" for f in item.fields]

    def key(msg: str) -> tuple[int, int]:
        leaf = msg.split(": ", 1)[0]
        index = leaves.index(leaf) if leaf in leaves else len(leaves)
        return index, int(msg.endswith("required field is missing"))

    return sorted(dict.fromkeys(errors), key=key)


def _date(raw: Any) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return None
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str) and len(raw) == 10:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _datetime(raw: Any) -> dt.datetime | None:
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            return None
    else:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _kind(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true/false"
    if isinstance(raw, (int, float)):
        return f"number {raw!r}"
    if isinstance(raw, str):
        return f"text {raw[:40]!r}"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, Mapping):
        return "an object"
    return type(raw).__name__


# ---- a frame ----------------------------------------------------------------------------


def prepare_frame(schema: Schema, frame: pl.DataFrame, source: str = "input") -> pl.DataFrame:
    """Select and cast the schema's fields; a missing optional column becomes all-missing."""
    exprs: list[pl.Expr] = []
    missing_required: list[str] = []
    for f in schema.fields:
        target = to_polars_dtype(f.dtype)
        if f.name not in frame.columns:
            if f.required:
                missing_required.append(f.name)
            exprs.append(pl.lit(None, dtype=target).alias(f.name))
            continue
        col = pl.col(f.name)
        if frame.schema[f.name] != target:
            col = col.cast(target, strict=True)
        if f.dtype.kind == "float":
            col = col.fill_nan(None)
        exprs.append(col.alias(f.name))
    if missing_required:
        raise InputError(
            f"{source}: required column(s) missing: {', '.join(missing_required)}"
            f" (columns present: {', '.join(frame.columns[:20])})"
        )
    try:
        return frame.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{source}: cannot read as the schema's types: {exc}") from exc


@dataclass(frozen=True)
class _Check:
    """One check of a frame: whether a row fails it, and the message(s) it then gets
    (a text, or a list of texts for checks over list elements)."""

    fails: pl.Expr
    message: pl.Expr


def _all_checks(schema: Schema) -> list[_Check]:
    checks: list[_Check] = []
    for f in schema.fields:
        checks.extend(_checks(f, pl.col(f.name), f.name))
    return checks


def validation_failed(schema: Schema) -> pl.Expr:
    """True for rows that fail any check (cheap: no messages are built)."""
    checks = _all_checks(schema)
    if not checks:
        return pl.lit(False)
    return pl.any_horizontal([c.fails.fill_null(False) for c in checks])


def validation_errors(schema: Schema) -> pl.Expr:
    """A list of problem messages per row, identical to :func:`coerce_record`'s. Build it
    only for rows :func:`validation_failed` flags: it is much slower than the flags."""
    checks = _all_checks(schema)
    if not checks:
        return pl.lit([], dtype=pl.List(pl.String))
    return pl.concat_list([c.message for c in checks]).list.drop_nulls()


def _checks(f: Field, col: pl.Expr, path: str) -> list[_Check]:
    out: list[_Check] = []
    dtype = f.dtype
    if dtype.kind == "category":
        bad = col.is_not_null() & ~col.is_in(list(dtype.values))
        out.append(
            _Check(
                bad, pl.when(bad).then(pl.format(f"{path}: '{{}}' is not an allowed value", col))
            )
        )
    elif dtype.kind == "object":
        present = col.is_not_null()
        for child in dtype.fields:
            for check in _checks(child, col.struct.field(child.name), f"{path}.{child.name}"):
                out.append(_Check(present & check.fails, pl.when(present).then(check.message)))
    elif (
        dtype.kind == "list"
        and dtype.item is not None
        and dtype.item.kind
        in (
            "object",
            "category",
        )
    ):
        out.extend(_list_checks(dtype.item, col, f"{path}[]"))
    if f.required:
        out.append(
            _Check(col.is_null(), pl.when(col.is_null()).then(pl.lit(missing_message(path))))
        )
    return out


def _list_checks(item: DType, col: pl.Expr, path: str) -> list[_Check]:
    """Checks over list elements: one message per distinct problem, in element order."""
    out: list[_Check] = []
    elem = pl.element()
    leaves: list[tuple[str, DType, pl.Expr, bool]] = []
    if item.kind == "category":
        leaves.append((path, item, elem, False))
    else:
        for child in item.fields:
            leaves.append(
                (f"{path}.{child.name}", child.dtype, elem.struct.field(child.name), child.required)
            )
    for leaf_path, dtype, value, required in leaves:
        if dtype.kind == "category":
            bad = value.is_not_null() & ~value.is_in(list(dtype.values))
            msgs = col.list.agg(
                pl.format(f"{leaf_path}: '{{}}' is not an allowed value", value)
                .filter(bad)
                .unique(maintain_order=True)
            )
            out.append(
                _Check(
                    col.list.agg(bad.any()), msgs.fill_null(pl.lit([], dtype=pl.List(pl.String)))
                )
            )
        if required:
            any_missing = col.list.agg(value.is_null().any())
            out.append(
                _Check(any_missing, pl.when(any_missing).then(pl.lit(missing_message(leaf_path))))
            )
    return out
