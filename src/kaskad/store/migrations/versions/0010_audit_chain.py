"""The audit trail as a hash chain: each entry stores the previous entry's hash and its
own (see kaskad/store/_audit_chain.py); entries written before are chained here, in order.

Revision ID: 0010
Revises: 0009
Create Date: 2025-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kaskad.store._audit_chain import GENESIS, entry_hash
from kaskad.store.tables import AuditRow

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    bind = op.get_bind()
    columns = (
        AuditRow.id,
        AuditRow.at,
        AuditRow.actor,
        AuditRow.action,
        AuditRow.target,
        AuditRow.before,
        AuditRow.after,
        AuditRow.detail,
    )
    prev = GENESIS
    for row in bind.execute(sa.select(*columns).order_by(AuditRow.id)).all():
        own = entry_hash(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            before=row.before,
            after=row.after,
            detail=row.detail,
            prev_hash=prev,
        )
        bind.execute(
            sa.update(AuditRow).where(AuditRow.id == row.id).values(prev_hash=prev, hash=own)
        )
        prev = own
    with op.batch_alter_table("audit") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)


def downgrade() -> None:
    raise NotImplementedError("kaskad does not downgrade the audit trail")
