"""What monitoring keeps in the store and reads from it: the reference frozen per release
(``release_references``), labels that arrive after decisions (``decision_labels``), and
windows of the decision log (rows of one pipeline between two times, or the last N).

The numbers themselves are computed by :mod:`kaskad.monitor`; this module only moves
rows. Windows are read with the index on ``(pipeline, at)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from kaskad.errors import NotFoundError
from kaskad.store import _engine
from kaskad.store._names import unknown_name
from kaskad.store.tables import (
    DecisionLabelRow,
    DecisionRow,
    ReleaseReferenceRow,
    ReleaseRow,
    ShadowDecisionRow,
)

WINDOW_COLUMNS = (
    "decision_id",
    "at",
    "release",
    "status",
    "input",
    "output",
    "errors",
    "content_type",
    "fingerprint",
)


def save_reference(
    location: str, pipeline: str, number: int, source: str, reference: dict[str, Any]
) -> None:
    """Freeze ``reference`` for release ``pipeline@number`` (a second call replaces it)."""
    row = {
        "pipeline": pipeline,
        "number": number,
        "at": dt.datetime.now(dt.UTC),
        "source": source,
        "reference": reference,
    }
    with _engine.reading(location) as engine, _engine.writer(engine).begin() as conn:
        table = ReleaseReferenceRow
        conn.execute(delete(table).where(table.pipeline == pipeline, table.number == number))
        conn.execute(insert(table), [row])


def load_reference(location: str, pipeline: str, number: int) -> tuple[str, dict[str, Any]]:
    """The source and the reference frozen for ``pipeline@number``; NotFoundError if none."""
    with _engine.reading(location) as engine, Session(engine) as session:
        found = session.get(ReleaseReferenceRow, (pipeline, number))
        if found is None:
            raise NotFoundError(f"release {pipeline}@{number} has no monitoring reference")
        return found.source, dict(found.reference)


@dataclass(frozen=True)
class WindowRows:
    """Decision-log rows of one pipeline (oldest first) and the shadows' outputs for them."""

    rows: list[dict[str, Any]]
    shadows: dict[str, dict[str, dict[str, Any]]]  # decision id -> shadow -> output


def check_pipeline_known(location: str, pipeline: str) -> None:
    """NotFoundError, naming the pipelines there are, when the store holds neither a
    decision nor a release of ``pipeline`` (a misspelt name is not a quiet window)."""
    with _engine.reading(location) as engine, Session(engine) as session:
        logged = session.scalar(
            select(DecisionRow.decision_id).where(DecisionRow.pipeline == pipeline).limit(1)
        )
        released = session.scalar(
            select(ReleaseRow.number).where(ReleaseRow.pipeline == pipeline).limit(1)
        )
        if logged is not None or released is not None:
            return
        names = sorted(
            set(session.scalars(select(DecisionRow.pipeline).distinct()))
            | set(session.scalars(select(ReleaseRow.pipeline).distinct()))
        )
    message = f"the store holds no decision and no release of pipeline {pipeline}"
    raise NotFoundError(unknown_name(message, pipeline, names, "pipelines"))


def read_window(
    location: str,
    pipeline: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    last: int | None = None,
    skip: int = 0,
    release: str | None = None,
) -> WindowRows:
    """Rows with ``since <= at < until`` (either may be open), or the newest ``last`` rows
    before the newest ``skip`` ones (``last=500, skip=500``: the 500 before the last 500)."""
    table = DecisionRow
    columns = [getattr(table, c) for c in WINDOW_COLUMNS]
    query = select(*columns).where(table.pipeline == pipeline, table.status != "probe")
    if release is not None:
        query = query.where(table.release == release)
    if since is not None:
        query = query.where(table.at >= since)
    if until is not None:
        query = query.where(table.at < until)
    if last is not None:
        query = query.order_by(table.at.desc()).offset(skip).limit(last)
    else:
        query = query.order_by(table.at)
    with _engine.reading(location) as engine, Session(engine) as session:
        rows = [dict(zip(WINDOW_COLUMNS, r, strict=True)) for r in session.execute(query)]
        if last is not None:
            rows.reverse()
        shadows: dict[str, dict[str, dict[str, Any]]] = {}
        ids = [r["decision_id"] for r in rows if r["status"] == "decided"]
        shadow = ShadowDecisionRow
        for start in range(0, len(ids), 5000):
            chosen = select(shadow.decision_id, shadow.shadow, shadow.output).where(
                shadow.decision_id.in_(ids[start : start + 5000])
            )
            for decision_id, name, output in session.execute(chosen):
                shadows.setdefault(decision_id, {})[name] = output
    return WindowRows(rows, shadows)


@dataclass(frozen=True)
class Label:
    """One outcome: by decision id or business key, its value (0/1 for a default) and
    when it was observed."""

    key: str
    label: float
    labelled_at: dt.datetime | None


def save_labels(location: str, pipeline: str, key_kind: str, labels: Iterable[Label]) -> int:
    """Store labels (a label loaded again for the same key replaces the old one)."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "pipeline": pipeline,
            "key_kind": key_kind,
            "key": item.key,
            "label": item.label,
            "labelled_at": item.labelled_at,
            "loaded_at": now,
        }
        for item in labels
    ]
    table = DecisionLabelRow
    with _engine.reading(location) as engine, _engine.writer(engine).begin() as conn:
        for start in range(0, len(rows), 5000):
            part = rows[start : start + 5000]
            conn.execute(
                delete(table).where(
                    table.pipeline == pipeline,
                    table.key_kind == key_kind,
                    table.key.in_([r["key"] for r in part]),
                )
            )
            conn.execute(insert(table), part)
    return len(rows)


def read_labels(location: str, pipeline: str) -> dict[tuple[str, str], Label]:
    """Every label of ``pipeline`` by ``(key_kind, key)``."""
    table = DecisionLabelRow
    query = select(table.key_kind, table.key, table.label, table.labelled_at).where(
        table.pipeline == pipeline
    )
    with _engine.reading(location) as engine, Session(engine) as session:
        return {
            (kind, key): Label(key, label, at) for kind, key, label, at in session.execute(query)
        }
