"""The audit trail: who did what to which model, release or stage, and when.

Every change of the registry writes its entry with :func:`write_audit` in the same
transaction; entries form a hash chain (:mod:`kaskad.store._audit_chain`) that
:meth:`AuditMethods.verify_audit` checks. Private to :mod:`kaskad.store`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kaskad.store._audit_chain import CHAIN_COLUMNS, ChainReport, chain, check
from kaskad.store._base import StoreBase, now
from kaskad.store._records import audit_record, to_json
from kaskad.store.api import AuditEntry
from kaskad.store.tables import AuditRow


class AuditMethods(StoreBase):
    """Recording and reading the audit trail."""

    def record_audit(
        self,
        actor: str,
        action: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Record that ``actor`` did ``action`` (e.g. ``environment.override``) to ``target``."""
        return self._write(
            f"recording {action} on {target}",
            lambda s: write_audit(s, actor, action, target, before, after, detail),
        )

    def audit_log(
        self, limit: int = 100, target: str | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """Audit entries, newest first.

        ``target`` matches exactly or as a prefix before ``@``: ``loan_decision`` matches
        ``loan_decision@3``; ``action`` matches exactly.
        """
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if target is not None:
            prefix = AuditRow.target.startswith(target + "@", autoescape=True)
            query = query.where(or_(AuditRow.target == target, prefix))
        if action is not None:
            query = query.where(AuditRow.action == action)
        with self._read("reading the audit log") as session:
            return [audit_record(row) for row in session.scalars(query)]

    def verify_audit(self) -> ChainReport:
        """Check the whole audit chain: an entry edited, deleted or moved breaks it."""
        query = select(*CHAIN_COLUMNS).order_by(AuditRow.id)
        with self._read("verifying the audit trail") as session:
            return check(session.execute(query))


def write_audit(
    session: Session,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    row = AuditRow(
        at=now(),
        actor=actor,
        action=action,
        target=target,
        before=to_json(before, "before"),
        after=to_json(after, "after"),
        detail=to_json(detail or {}, "detail"),
    )
    chain(session, row)
    return audit_record(row)
