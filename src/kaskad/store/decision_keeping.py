"""Keeping the decision log for years: reading a time window in chunks, lookup by
business key, pruning old decisions and erasing a person's inputs.

- :func:`iter_decisions` streams the rows of a window (pipeline, ``since`` inclusive,
  ``until`` exclusive, statuses) in chunks, oldest first: replay, export and backtests
  from real traffic read through it, with memory bounded by the chunk size.
- :func:`decisions_by_key` finds the decisions of one business key (the schema's
  ``key: true`` fields as the server logged them), by the key itself or after erasure by
  its ``sha256:`` digest.
- :func:`prune` deletes every decision (and its challengers' outputs) logged before a
  time; on PostgreSQL the months entirely before it are dropped as whole partitions. The
  prune is written to the audit trail (``decisions.prune``) in the same transaction.
- :func:`erase` removes the logged inputs of one business key: ``input`` becomes NULL,
  ``business_key`` its sha256 digest, ``erased_at`` is set; the decision's outputs and
  both content hashes stay, so :func:`kaskad.store.decision_hashes.verify` still passes.
  The erasure is written to the audit trail (``decisions.erase``) with the key's digest,
  never the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, delete, select, update
from sqlalchemy.orm import Session

from kaskad.errors import StoreError
from kaskad.store import _engine, _partitions
from kaskad.store._audit import write_audit
from kaskad.store.api import AuditEntry
from kaskad.store.tables import DecisionRow, ShadowDecisionRow

__all__ = [
    "EraseResult",
    "PruneResult",
    "business_key_digest",
    "decisions_by_key",
    "erase",
    "iter_decisions",
    "prepare_months",
    "prune",
]

DEFAULT_CHUNK = 2_000


def _columns(row: DecisionRow) -> dict[str, Any]:
    return {c.name: getattr(row, c.key) for c in DecisionRow.__table__.columns}


def _window(
    pipeline: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    statuses: Iterable[str] | None,
) -> Select[DecisionRow]:
    query = select(DecisionRow)
    if pipeline is not None:
        query = query.where(DecisionRow.pipeline == pipeline)
    if since is not None:
        query = query.where(DecisionRow.at >= since)
    if until is not None:
        query = query.where(DecisionRow.at < until)
    if statuses is not None:
        query = query.where(DecisionRow.status.in_(list(statuses)))
    return query


def iter_decisions(
    location: str,
    *,
    pipeline: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    statuses: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[list[dict[str, Any]]]:
    """Rows of the window as dicts (column → value), oldest first, ``chunk`` at a time
    (keyset pagination on ``(at, decision_id)``: no long-open cursor)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    base = _window(pipeline, since, until, statuses)
    if ids is not None:
        base = base.where(DecisionRow.decision_id.in_(list(ids)))
    after: tuple[dt.datetime, str] | None = None
    with _engine.reading(location) as engine:
        while True:
            query = base.order_by(DecisionRow.at, DecisionRow.decision_id).limit(chunk)
            if after is not None:
                at, last = after
                query = query.where(
                    (DecisionRow.at > at)
                    | ((DecisionRow.at == at) & (DecisionRow.decision_id > last))
                )
            with Session(engine) as session:
                rows = [_columns(r) for r in session.scalars(query)]
            if not rows:
                return
            yield rows
            after = (rows[-1]["at"], rows[-1]["decision_id"])
            if len(rows) < chunk:
                return


def business_key_digest(key: str) -> str:
    """What an erased business key is replaced with: ``sha256:<hex>`` of the key."""
    if key.startswith("sha256:"):
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def decisions_by_key(location: str, key: str, pipeline: str | None = None) -> list[dict[str, Any]]:
    """The decisions logged for business ``key`` (also after erasure), oldest first."""
    keys = list(dict.fromkeys([key, business_key_digest(key)]))
    query = select(DecisionRow).where(DecisionRow.business_key.in_(keys))
    if pipeline is not None:
        query = query.where(DecisionRow.pipeline == pipeline)
    with _engine.reading(location) as engine, Session(engine) as session:
        return [_columns(r) for r in session.scalars(query.order_by(DecisionRow.at))]


@dataclass(frozen=True)
class PruneResult:
    before: dt.datetime
    pipeline: str | None
    decisions: int
    shadows: int
    partitions_dropped: tuple[str, ...]
    audit: AuditEntry


@dataclass(frozen=True)
class EraseResult:
    key_digest: str
    decisions: tuple[str, ...]  # ids whose input was erased now
    already_erased: int
    audit: AuditEntry | None  # None when nothing matched


@contextmanager
def _writing(location: str) -> Iterator[Connection]:
    """One write transaction on the store at ``location``."""
    engine = _engine.open_engine(_engine.locate(location, None).url)
    try:
        _engine.migrate(engine)
        with _engine.writer(engine).begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _audit(
    conn: Connection, actor: str, action: str, target: str, detail: dict[str, Any]
) -> AuditEntry:
    with Session(bind=conn) as session:
        return write_audit(session, actor, action, target, None, None, detail)


def prune(
    location: str, before: dt.datetime, actor: str, pipeline: str | None = None
) -> PruneResult:
    """Delete the decisions logged before ``before`` (of one pipeline, or all), with their
    challengers' outputs; recorded in the audit trail as ``decisions.prune``."""
    if before.tzinfo is None:
        raise StoreError(f"prune before {before.isoformat()}: give a time zone (UTC)")
    with _writing(location) as conn:
        dropped: dict[str, int] = {}
        if pipeline is None and _partitions.is_partitioned(conn):
            dropped = _partitions.drop_months_before(conn, before)
        old_shadows = ShadowDecisionRow.at < before
        old = DecisionRow.at < before
        if pipeline is not None:
            old_shadows = old_shadows & (ShadowDecisionRow.pipeline == pipeline)
            old = old & (DecisionRow.pipeline == pipeline)
        shadows = conn.execute(delete(ShadowDecisionRow).where(old_shadows)).rowcount
        deleted = conn.execute(delete(DecisionRow).where(old)).rowcount + sum(dropped.values())
        detail = {
            "before": before.isoformat(),
            "decisions": deleted,
            "shadows": shadows,
            "partitions_dropped": sorted(dropped),
        }
        entry = _audit(conn, actor, "decisions.prune", pipeline or "decisions", detail)
    return PruneResult(before, pipeline, deleted, shadows, tuple(sorted(dropped)), entry)


def erase(
    location: str, key: str, actor: str, reason: str, pipeline: str | None = None
) -> EraseResult:
    """Erase the logged inputs of business ``key``; recorded as ``decisions.erase``."""
    if not reason.strip():
        raise StoreError("erasing a person's data needs a reason (e.g. the request's number)")
    digest = business_key_digest(key)
    with _writing(location) as conn:
        match: ColumnElement[bool] = DecisionRow.business_key.in_([key, digest])
        if pipeline is not None:
            match = match & (DecisionRow.pipeline == pipeline)
        found = conn.execute(
            select(DecisionRow.decision_id, DecisionRow.erased_at).where(match)
        ).all()
        fresh = tuple(i for i, erased in found if erased is None)
        if not found:
            return EraseResult(digest, (), 0, None)
        if fresh:
            conn.execute(
                update(DecisionRow)
                .where(match & DecisionRow.erased_at.is_(None))
                .values(input=None, business_key=digest, erased_at=dt.datetime.now(dt.UTC))
            )
        detail = {
            "business_key_sha256": digest,
            "reason": reason,
            "decisions": list(fresh),
            "already_erased": len(found) - len(fresh),
        }
        entry = _audit(conn, actor, "decisions.erase", pipeline or "decisions", detail)
    return EraseResult(digest, fresh, len(found) - len(fresh), entry)


def prepare_months(location: str, first: dt.datetime, last: dt.datetime) -> list[str]:
    """On PostgreSQL, make the monthly partitions from ``first``'s month to ``last``'s
    (e.g. before loading an archive); the names created (none on SQLite)."""
    with _writing(location) as conn:
        if not _partitions.is_partitioned(conn):
            return []
        months = _partitions.months_between(_partitions.month_of(first), _partitions.month_of(last))
        return _partitions.ensure_months(conn, months)
