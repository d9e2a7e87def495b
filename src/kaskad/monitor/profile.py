"""Profiles of decision-log rows: the counts every monitoring comparison is made of.

A *series* is one monitored quantity of decided records, named ``SECTION:NAME``:

- ``input:FIELD`` (nested fields as ``parent.child``): the record as received (masked);
- ``output:NAME``: features and model scores in the decision's result;
- ``rule:RULESET.RULE``: a rule's outcome (``hit``, ``pass``, ``unknown``);
- ``decision`` and ``reasons`` (the reasons of one decision joined with ``+``).

Each series has a kind, inferred from the values (:func:`infer_layout`): ``numeric``
(numbers, binned at the reference's deciles, right-closed bins), ``category`` (at most
:data:`TOP_VALUES` values, the rest as ``(other)``) or ``presence`` (identifiers, dates
and times, lists, hashes of sensitive fields: only whether the value is there). Every series counts
missing values. :func:`freeze` makes the bins from reference rows; :func:`count` counts
other rows in those same bins, so the two compare bin by bin.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from kaskad.compile.naming import HIT, PASS, UNKNOWN

TOP_VALUES = 20
OTHER = "(other)"
DECILES = np.linspace(0.0, 1.0, 11)[1:-1]
OUTCOMES = (HIT, PASS, UNKNOWN)
# result fields that describe the request, not the decision
_META = {"decision_id", "pipeline", "release", "plan_hash", "duration_ms", "status", "errors"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_MAX_DISTINCT = 50  # more distinct strings than this (and mostly unique): an identifier

Row = Mapping[str, Any]
Series = dict[str, Any]


def decided(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.get("status") == "decided" and isinstance(r.get("output"), dict)]


def value_of(row: Row, key: str) -> Any:
    """The value of series ``key`` in a decision-log row (None when missing)."""
    section, _, name = key.partition(":")
    output = row.get("output") or {}
    if section == "input":
        value: Any = row.get("input")
        for part in name.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value
    if key == "decision":
        return output.get("decision")
    if key == "reasons":
        reasons = output.get("reasons")
        return "+".join(map(str, reasons)) if isinstance(reasons, list) and reasons else None
    return output.get(name)


def _flatten(value: Any, prefix: str, out: dict[str, list[Any]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out.setdefault(prefix, []).append(value)


def infer_layout(rows: Sequence[Row]) -> dict[str, str]:
    """Series key → kind, from the values of decided rows."""
    seen: dict[str, list[Any]] = {}
    for row in rows:
        flat: dict[str, list[Any]] = {}
        if isinstance(row.get("input"), Mapping):
            _flatten(row["input"], "", flat)
        for path, values in flat.items():
            seen.setdefault(f"input:{path}", []).extend(values)
        for name, value in (row.get("output") or {}).items():
            if name in _META or name.startswith("shadow.") or name in ("decision", "reasons"):
                continue
            seen.setdefault(f"output:{name}", []).append(value)
    layout = {"decision": "category", "reasons": "category"}
    for key, values in sorted(seen.items()):
        present = [v for v in values if v is not None]
        if present and all(v in OUTCOMES for v in present) and key.startswith("output:"):
            layout["rule:" + key.partition(":")[2]] = "category"
        else:
            layout[key] = _kind(present)
    return layout


def _kind(values: list[Any]) -> str:
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "numeric"
    if values and all(isinstance(v, str | bool) for v in values):
        distinct = len(set(values))
        hashed = all(isinstance(v, str) and v.startswith("sha256:") for v in values)
        dated = all(isinstance(v, str) and _DATE.match(v) for v in values)  # time moves on
        if (distinct <= _MAX_DISTINCT or distinct < 0.5 * len(values)) and not (hashed or dated):
            return "category"
    return "presence"


def _numbers(values: list[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    array = np.asarray(numbers, dtype=np.float64)
    return array[~np.isnan(array)]


def _label(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def freeze(rows: Sequence[Row], layout: Mapping[str, str] | None = None) -> dict[str, Series]:
    """Bins (reference deciles, top values) and counts of every series of ``rows``."""
    chosen = decided(rows)
    kinds = dict(layout) if layout is not None else infer_layout(chosen)
    series: dict[str, Series] = {}
    for key, kind in kinds.items():
        values = [value_of(r, key) for r in chosen]
        present = [v for v in values if v is not None]
        spec: Series = {"kind": kind}
        if kind == "numeric":
            numbers = _numbers(present)
            edges = np.unique(np.quantile(numbers, DECILES)) if numbers.size else np.array([])
            spec["edges"] = [float(e) for e in edges]
        elif kind == "category":
            fixed = list(OUTCOMES) if key.startswith("rule:") else []
            common = [v for v, _ in Counter(map(_label, present)).most_common(TOP_VALUES)]
            spec["values"] = fixed + sorted(set(common) - set(fixed))
        series[key] = {**spec, **_counts(spec, values)}
    return series


def count(rows: Sequence[Row], reference: Mapping[str, Series]) -> dict[str, Series]:
    """The counts of ``rows`` in the bins of ``reference`` (a :func:`freeze` result)."""
    chosen = decided(rows)
    out: dict[str, Series] = {}
    for key, spec in reference.items():
        values = [value_of(r, key) for r in chosen]
        bins = {k: v for k, v in spec.items() if k in ("kind", "edges", "values")}
        out[key] = {**bins, **_counts(spec, values)}
    return out


def _counts(spec: Mapping[str, Any], values: list[Any]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    result: dict[str, Any] = {"n": len(values), "missing": len(values) - len(present)}
    if spec["kind"] == "numeric":
        numbers = _numbers(present)
        edges = np.asarray(spec["edges"], dtype=np.float64)
        binned = np.bincount(np.searchsorted(edges, numbers, side="left"), minlength=edges.size + 1)
        result["counts"] = [int(c) for c in binned]
    elif spec["kind"] == "category":
        names: list[str] = list(spec["values"])
        tally = Counter(map(_label, present))
        known = [tally.get(v, 0) for v in names]
        result["counts"] = [*known, len(present) - sum(known)]
    return result


def tally(rows: Iterable[Row], column: str) -> dict[str, int]:
    """How many rows have each value of ``column`` (None as ``(none)``)."""
    counts = Counter("(none)" if r.get(column) is None else str(r.get(column)) for r in rows)
    return dict(counts.most_common())


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return (content_type or "(none)").split(";", 1)[0].strip().lower() or "(none)"
