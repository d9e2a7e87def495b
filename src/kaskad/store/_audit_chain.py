"""The audit trail as a hash chain: each entry stores the SHA-256 of the previous entry
and its own, computed over its content and that previous hash, so an entry edited,
deleted or moved in the database breaks the chain at that point.

Private to :mod:`kaskad.store`; the migration 0010 chains entries written before it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kaskad.store.tables import AuditRow

# The hash "before" the first entry.
GENESIS = "0" * 64
# Serializes writers of the audit trail on PostgreSQL (SQLite writers are serialized).
_AUDIT_LOCK_KEY = 0x6B61736B6164_01


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain breaks: the entry ``id`` and why."""

    id: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the whole chain: entries checked, the newest hash (keep it
    elsewhere to detect removal of the newest entries), and every break found."""

    entries: int
    head: str
    breaks: tuple[ChainBreak, ...]

    @property
    def ok(self) -> bool:
        return not self.breaks


def entry_hash(
    *,
    id: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str,
    before: Any,
    after: Any,
    detail: Any,
    prev_hash: str,
) -> str:
    """SHA-256 of an entry's content (canonical JSON) and the previous entry's hash."""
    when = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    content = {
        "id": id,
        "at": when.astimezone(dt.UTC).isoformat(),
        "actor": actor,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def chain(session: Session, row: AuditRow) -> None:
    """Add ``row`` to the session as the newest entry of the chain (flushes)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})
    last = session.execute(
        select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
    ).scalar_one_or_none()
    row.prev_hash = last or GENESIS
    row.hash = ""
    session.add(row)
    session.flush()
    row.hash = _hash_of(row.id, row, row.prev_hash)
    session.flush()


def check(rows: Iterable[Any]) -> ChainReport:
    """Check rows (with the columns of :class:`AuditRow`) in ``id`` order."""
    breaks: list[ChainBreak] = []
    expected_prev = GENESIS
    count = 0
    for row in rows:
        count += 1
        if row.prev_hash != expected_prev:
            breaks.append(ChainBreak(row.id, "the previous entry is not the one it was chained to"))
        if _hash_of(row.id, row, row.prev_hash) != row.hash:
            breaks.append(ChainBreak(row.id, "its content does not match its hash"))
        expected_prev = row.hash
    return ChainReport(entries=count, head=expected_prev, breaks=tuple(breaks))


def _hash_of(id: int, row: Any, prev_hash: str) -> str:
    return entry_hash(
        id=id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        before=row.before,
        after=row.after,
        detail=row.detail,
        prev_hash=prev_hash,
    )


CHAIN_COLUMNS = (
    AuditRow.id,
    AuditRow.at,
    AuditRow.actor,
    AuditRow.action,
    AuditRow.target,
    AuditRow.before,
    AuditRow.after,
    AuditRow.detail,
    AuditRow.prev_hash,
    AuditRow.hash,
)
