"""Decision plans: the components (with content hashes) behind each served plan hash.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 200


def upgrade() -> None:
    op.create_table(
        "decision_plans",
        sa.Column("plan_hash", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pipeline", sa.String(NAME), nullable=False),
        sa.Column("release", sa.String(400), nullable=True),
        sa.Column("components", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("decision_plans")
