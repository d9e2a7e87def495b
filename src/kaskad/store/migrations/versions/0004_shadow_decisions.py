"""Shadow decisions: challenger outputs computed after the reply (``kaskad serve``).

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 200


def upgrade() -> None:
    op.create_table(
        "shadow_decisions",
        sa.Column("decision_id", sa.String(36), primary_key=True),
        sa.Column("shadow", sa.String(NAME), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pipeline", sa.String(NAME), nullable=False),
        sa.Column("decision", sa.String(200), nullable=True),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("shadow_decisions")
