"""Decision log: one row per served decision or rejection (``kaskad serve``).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 200
SHA256 = 64


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(36), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pipeline", sa.String(NAME), nullable=False),
        sa.Column("release", sa.String(400), nullable=True),
        sa.Column("plan_hash", sa.String(SHA256), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(SHA256), nullable=True),
    )
    op.create_index("ix_decisions_pipeline_at", "decisions", ["pipeline", "at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_pipeline_at", table_name="decisions")
    op.drop_table("decisions")
