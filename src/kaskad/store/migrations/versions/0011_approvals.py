"""Four eyes: stages that require approval before promotion, and the approvals given
(see kaskad/store/_approvals.py and docs/security.md).

Revision ID: 0011
Revises: 0010
Create Date: 2025-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stage_policies",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("stage", sa.String(200), primary_key=True),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(200), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pipeline", "number", "stage", "approver", name="uq_approvals"),
    )


def downgrade() -> None:
    op.drop_table("approvals")
    op.drop_table("stage_policies")
