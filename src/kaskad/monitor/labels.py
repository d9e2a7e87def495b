"""Labels that arrive after the decision (a default months later, a confirmed fraud):
loaded from a file into the store, joined to the decision log, and turned into AUC, KS
and bad rate per decision and per vintage, counting only decisions old enough for their
label to be mature.

``--key decision_id`` joins on the decision id the server answered; any other column
name joins on that input field of the logged record (a business key such as an
application id), the latest decision of each key taking the label.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kaskad.backtest.metrics import auc, ks
from kaskad.errors import InputError
from kaskad.monitor.profile import Row, decided
from kaskad.registry.profile import read_table
from kaskad.store.monitoring import Label, read_labels, read_window, save_labels

DECISION_ID = "decision_id"
VINTAGES = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


def key_kind(key: str) -> str:
    return DECISION_ID if key == DECISION_ID else f"input:{key}"


def load_labels(
    location: str, pipeline: str, path: Path, *, key: str, label: str, at: str | None = None
) -> int:
    """Store the labels of ``path`` (CSV, Parquet, JSON Lines); how many were loaded.
    Every row needs a key and a numeric (0/1) label; ``at`` is when it was observed."""
    frame = read_table(path)
    missing = [c for c in (key, label, at) if c is not None and c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: no column {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(frame.columns)})"
        )
    items = []
    for i, row in enumerate(frame.iter_rows(named=True), start=2):
        value = float(row[label]) if isinstance(row[label], bool) else row[label]
        if row[key] is None or not isinstance(value, int | float):
            raise InputError(
                f"{path}: record {i - 1}: needs a {key!r} and a numeric {label!r} "
                f"(got {row[key]!r}, {value!r})"
            )
        items.append(Label(str(row[key]), float(value), _time(row[at]) if at else None))
    return save_labels(location, pipeline, key_kind(key), items)


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InputError(f"label time {value!r} is not an ISO date or time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def joined(rows: Sequence[Row], labels: Mapping[tuple[str, str], Label]) -> list[tuple[Row, float]]:
    """Decided rows that have a label, with it."""
    kinds = {kind for kind, _ in labels}
    out: list[tuple[Row, float]] = []
    seen: set[tuple[str, str]] = set()
    for row in reversed(decided(rows)):  # newest first: the latest decision of a key wins
        found = labels.get((DECISION_ID, row["decision_id"]))
        if found is None:
            for kind in kinds - {DECISION_ID}:
                value = (row.get("input") or {}).get(kind.partition(":")[2])
                if value is not None and (kind, str(value)) not in seen:
                    found = labels.get((kind, str(value)))
                    if found is not None:
                        seen.add((kind, str(value)))
                        break
        if found is not None:
            out.append((row, found.label))
    out.reverse()
    return out


def performance(pairs: Sequence[tuple[Row, float]], score: str) -> dict[str, Any]:
    """AUC (scikit-learn's), KS and bad rate of ``score`` over labelled rows."""
    usable = [
        (float(r["output"][score]), y)
        for r, y in pairs
        if isinstance(r["output"].get(score), int | float)
        and math.isfinite(float(r["output"][score]))
    ]
    labels = np.array([1 if y > 0 else 0 for _, y in pairs], dtype=np.int8)
    out: dict[str, Any] = {
        "labelled": len(pairs),
        "bad_rate": float(labels.mean()) if labels.size else None,
    }
    if usable:
        s = np.array([x for x, _ in usable], dtype=np.float64)
        y = np.array([1 if v > 0 else 0 for _, v in usable], dtype=np.int8)
        out["auc"] = auc(s, y)
        out["ks"] = ks(s, y)
    return out


def label_report(
    location: str,
    pipeline: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    maturity: dt.timedelta = dt.timedelta(0),
    vintage: str = "month",
    scores: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Performance of every score against the labels: overall, by decision and by
    vintage; decisions younger than ``maturity`` are left out (their labels are not in)."""
    if vintage not in VINTAGES:
        raise InputError(f"vintage {vintage!r}: use one of {', '.join(VINTAGES)}")
    cutoff = (now or dt.datetime.now(dt.UTC)) - maturity
    end = min(until, cutoff) if until is not None else cutoff
    rows = read_window(location, pipeline, since=since, until=end).rows
    pairs = joined(rows, read_labels(location, pipeline))
    names = list(scores) if scores is not None else _score_names(pairs)
    by_decision: dict[str, list[tuple[Row, float]]] = {}
    by_vintage: dict[str, list[tuple[Row, float]]] = {}
    for row, y in pairs:
        by_decision.setdefault(str(row["output"].get("decision")), []).append((row, y))
        by_vintage.setdefault(row["at"].strftime(VINTAGES[vintage]), []).append((row, y))
    return {
        "pipeline": pipeline,
        "mature_before": cutoff.isoformat(),
        "decided": len(decided(rows)),
        "labelled": len(pairs),
        "scores": {s: performance(pairs, s) for s in names},
        "by_decision": {
            d: {"labelled": len(p), **{s: performance(p, s) for s in names}}
            for d, p in sorted(by_decision.items())
        },
        "by_vintage": {
            v: {"labelled": len(p), **{s: performance(p, s) for s in names}}
            for v, p in sorted(by_vintage.items())
        },
    }


def _score_names(pairs: Sequence[tuple[Row, float]]) -> list[str]:
    """Outputs between 0 and 1 that are not rule outcomes: the model scores."""
    if not pairs:
        return []
    sample = pairs[0][0]["output"]
    return sorted(
        k
        for k, v in sample.items()
        if isinstance(v, float) and 0.0 <= v <= 1.0 and k not in ("duration_ms",)
    )
