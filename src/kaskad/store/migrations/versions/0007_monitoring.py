"""Monitoring: the reference frozen per release, and labels that arrive later.

Revision ID: 0007
Revises: 0006
Create Date: 2025-01-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 200


def upgrade() -> None:
    op.create_table(
        "release_references",
        sa.Column("pipeline", sa.String(NAME), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
    )
    op.create_table(
        "decision_labels",
        sa.Column("pipeline", sa.String(NAME), primary_key=True),
        sa.Column("key_kind", sa.String(NAME), primary_key=True),
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("label", sa.Float(), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("decision_labels")
    op.drop_table("release_references")
