"""Input at the door: records and frames are checked against the schema.

A record (one decision) is coerced from JSON-like values; a frame (batch) is cast to
the schema's types. A record's problems are :class:`~kaskad.errors.FieldProblem` values;
the frame check writes the same problems as the same text (their ``message``) for
missing required fields and values outside a category, so a rejected record looks the
same in every mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import FieldProblem, InputError
from kaskad.execute.constraints import check_value, column_checks, nan_is_missing
from kaskad.execute.contract import describe, read_value, wrong_type
from kaskad.execute.contract_frame import text_expr
from kaskad.execute.masking import redact
from kaskad.spec.schema import Schema
from kaskad.spec.types import NO_CONSTRAINTS, Constraints, DType, Field


def missing(path: str) -> FieldProblem:
    return FieldProblem(path, "missing", "a value", "nothing")


def not_allowed(path: str, value: str) -> FieldProblem:
    return FieldProblem(path, "not_allowed", "one of the schema's allowed values", f"'{value}'")


# ---- one record -------------------------------------------------------------------------


def coerce_record(schema: Schema, record: Any) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Typed values of a JSON-like record, and the problems found (empty when valid).
    Values are read by the reading contract (:mod:`kaskad.execute.contract`), then checked
    against the schema: required fields, allowed values, constraints."""
    errors: list[FieldProblem] = []
    if not isinstance(record, Mapping):
        return {}, [FieldProblem(None, "not_an_object", "an object with fields", describe(record))]
    return _object(schema.fields, record, "", errors), errors


def _object(
    fields: tuple[Field, ...], raw: Mapping[str, Any], prefix: str, errors: list[FieldProblem]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        out[f.name] = read_field(f, raw.get(f.name), prefix, errors)
    return out


def read_field(f: Field, raw: Any, prefix: str, errors: list[FieldProblem]) -> Any:
    """The value of field ``f`` of an object (``raw``: what the object holds for it), its
    problems appended to ``errors``; a sensitive field's problems never show its value."""
    path = f"{prefix}{f.name}"
    before = len(errors)
    value = _value(f.dtype, raw, path, errors, f.constraints)
    if value is None and f.required and len(errors) == before:
        errors.append(missing(path))  # a value of the wrong type is reported as such
    if f.sensitive and len(errors) > before:  # never echo a sensitive value
        errors[before:] = [redact(p) for p in errors[before:]]
    return value


def _value(
    dtype: DType,
    raw: Any,
    path: str,
    errors: list[FieldProblem],
    constraints: Constraints = NO_CONSTRAINTS,
) -> Any:
    if raw is None:
        return None
    kind = dtype.kind
    if kind == "object":
        if isinstance(raw, Mapping):
            return _object(dtype.fields, raw, f"{path}.", errors)
    elif kind == "list":
        if isinstance(raw, list):
            assert dtype.item is not None
            item_errors: list[FieldProblem] = []
            items = [_value(dtype.item, x, f"{path}[]", item_errors) for x in raw]
            if dtype.item.kind == "object" and None in raw:  # a missing element: fields missing
                _object(dtype.item.fields, {}, f"{path}[].", item_errors)
            errors.extend(_order_list_errors(dtype.item, f"{path}[]", item_errors))
            return items
    else:
        value, problem = read_value(raw, dtype, path)
        if problem is not None:
            errors.append(problem)
            return None
        if kind == "category" and value is not None and value not in dtype.values:
            errors.append(not_allowed(path, value))
        if isinstance(value, float) and math.isnan(value) and nan_is_missing(dtype, constraints):
            return None
        errors.extend(check_value(value, dtype, constraints, path))
        return value
    errors.append(wrong_type(path, str(dtype), describe(raw)))
    return None


def _order_list_errors(item: DType, path: str, errors: list[FieldProblem]) -> list[FieldProblem]:
    """Distinct problems of list elements, ordered by field, allowed values before
    missing ones: the order the batch check produces."""
    leaves = [path] if item.kind != "object" else [f"{path}.{f.name}" for f in item.fields]

    def key(problem: FieldProblem) -> tuple[int, int]:
        leaf = problem.path
        index = leaves.index(leaf) if leaf in leaves else len(leaves)
        return index, int(problem.problem == "missing")

    return sorted(dict.fromkeys(errors), key=key)


# ---- a frame ----------------------------------------------------------------------------


def prepare_frame(schema: Schema, frame: pl.DataFrame, source: str = "input") -> pl.DataFrame:
    """Select and cast the schema's fields; a missing optional column becomes all-missing,
    and empty text in a string or category column is missing (the contract)."""
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
        if frame.schema[f.name] == pl.String and f.dtype.kind in ("string", "category"):
            col = text_expr(col, f.dtype)  # empty text is missing, as for one record
        if frame.schema[f.name] != target:
            col = col.cast(target, strict=True)
        if nan_is_missing(f.dtype, f.constraints):
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
    """A list of problem messages per row, the ``message`` of :func:`coerce_record`'s
    problems for the problems a frame can still have after :func:`prepare_frame`. Build it
    only for rows :func:`validation_failed` flags: it is much slower than the flags."""
    checks = _all_checks(schema)
    if not checks:
        return pl.lit([], dtype=pl.List(pl.String))
    return pl.concat_list([c.message for c in checks]).list.drop_nulls()


def _not_allowed_format(path: str) -> str:
    """The message of :func:`not_allowed` as a ``pl.format`` template (``{}``: the value)."""
    return not_allowed(path, "\0").message.replace("{", "{{").replace("}", "}}").replace("\0", "{}")


def _not_allowed_message(path: str, value: pl.Expr, hidden: bool) -> pl.Expr:
    """The :func:`not_allowed` message of ``value``; without the value for a sensitive
    field (``hidden``), as :func:`coerce_record` gives it."""
    if hidden:  # one text per value (as long as ``value``), never the value itself
        text = pl.lit(redact(not_allowed(path, "")).message)
        return pl.when(value.is_null()).then(text).otherwise(text)
    return pl.format(_not_allowed_format(path), value)


def _checks(f: Field, col: pl.Expr, path: str, hidden: bool = False) -> list[_Check]:
    out: list[_Check] = []
    dtype = f.dtype
    hidden = hidden or f.sensitive  # within a sensitive field: messages never echo values
    if dtype.kind == "category":
        bad = col.is_not_null() & ~col.is_in(list(dtype.values))
        out.append(_Check(bad, pl.when(bad).then(_not_allowed_message(path, col, hidden))))
    elif dtype.kind in ("integer", "float", "string"):
        for constraint in column_checks(col, dtype, f.constraints, path):
            fails = col.is_not_null() & constraint.fails
            out.append(_Check(fails, pl.when(fails).then(pl.lit(constraint.problem.message))))
    elif dtype.kind == "object":
        present = col.is_not_null()
        for child in dtype.fields:
            child_col = col.struct.field(child.name)
            for check in _checks(child, child_col, f"{path}.{child.name}", hidden):
                out.append(_Check(present & check.fails, pl.when(present).then(check.message)))
    elif dtype.kind == "list" and dtype.item is not None and dtype.item.kind in _LIST_CHECKED:
        out.extend(_list_checks(dtype.item, col, f"{path}[]", hidden))
    if f.required:
        out.append(
            _Check(col.is_null(), pl.when(col.is_null()).then(pl.lit(missing(path).message)))
        )
    return out


_LIST_CHECKED = ("object", "category", "float")  # item kinds with checks (float: finite)


def _list_checks(item: DType, col: pl.Expr, path: str, hidden: bool) -> list[_Check]:
    """Checks over list elements: one message per distinct problem, in element order."""
    out: list[_Check] = []
    elem = pl.element()
    leaves: list[tuple[str, DType, pl.Expr, bool, Constraints, bool]] = []
    if item.kind != "object":
        leaves.append((path, item, elem, False, NO_CONSTRAINTS, hidden))
    else:
        for child in item.fields:
            value = elem.struct.field(child.name)
            leaves.append(
                (
                    f"{path}.{child.name}",
                    child.dtype,
                    value,
                    child.required,
                    child.constraints,
                    hidden or child.sensitive,
                )
            )
    for leaf_path, dtype, value, required, constraints, secret in leaves:
        for constraint in column_checks(value, dtype, constraints, leaf_path):
            bad_any = col.list.agg((value.is_not_null() & constraint.fails).any())
            message = pl.lit(constraint.problem.message)
            out.append(_Check(bad_any, pl.when(bad_any).then(message)))
        if dtype.kind == "category":
            bad = value.is_not_null() & ~value.is_in(list(dtype.values))
            msgs = col.list.agg(
                _not_allowed_message(leaf_path, value, secret)
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
                _Check(any_missing, pl.when(any_missing).then(pl.lit(missing(leaf_path).message)))
            )
    return out
