"""Keeping the decision log: business key, content hashes, erasure; monthly partitions
on PostgreSQL (see kaskad/store/_partitions.py and docs/audit.md).

Revision ID: 0008
Revises: 0007
Create Date: 2025-02-01
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kaskad.store import _partitions

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = (
    ("business_key", "VARCHAR(400)"),
    ("input_sha256", "VARCHAR(64)"),
    ("record_sha256", "VARCHAR(64)"),
    ("erased_at", "TIMESTAMP WITH TIME ZONE"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("decisions") as batch:
            batch.add_column(sa.Column("business_key", sa.String(400), nullable=True))
            batch.add_column(sa.Column("input_sha256", sa.String(64), nullable=True))
            batch.add_column(sa.Column("record_sha256", sa.String(64), nullable=True))
            batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        op.create_index("ix_decisions_business_key", "decisions", ["business_key"])
        return
    # PostgreSQL: the same columns, in a table partitioned by month of ``at``
    for name, kind in NEW_COLUMNS:
        op.execute(f"ALTER TABLE decisions ADD COLUMN {name} {kind}")
    op.execute("ALTER TABLE decisions RENAME TO decisions_unpartitioned")
    op.execute("ALTER INDEX ix_decisions_pipeline_at RENAME TO ix_decisions_unpartitioned_at")
    op.execute(
        "ALTER TABLE decisions_unpartitioned RENAME CONSTRAINT decisions_pkey"
        " TO decisions_unpartitioned_pkey"
    )
    op.execute(
        "CREATE TABLE decisions (LIKE decisions_unpartitioned INCLUDING DEFAULTS,"
        " CONSTRAINT decisions_pkey PRIMARY KEY (decision_id, at)) PARTITION BY RANGE (at)"
    )
    op.execute(f"CREATE TABLE {_partitions.DEFAULT_PARTITION} PARTITION OF decisions DEFAULT")
    op.create_index("ix_decisions_pipeline_at", "decisions", ["pipeline", "at"])
    op.create_index("ix_decisions_business_key", "decisions", ["business_key"])
    op.execute("INSERT INTO decisions SELECT * FROM decisions_unpartitioned")
    first = bind.execute(sa.text("SELECT min(at) FROM decisions_unpartitioned")).scalar()
    op.execute("DROP TABLE decisions_unpartitioned")
    now = dt.datetime.now(dt.UTC)
    start = _partitions.month_of(first if isinstance(first, dt.datetime) else now)
    end = _partitions.month_of(now)
    for _ in range(_partitions.MONTHS_AHEAD):
        end = _partitions.next_month(end)
    _partitions.ensure_months(bind, _partitions.months_between(min(start, end), end))


def downgrade() -> None:
    raise NotImplementedError("kaskad does not downgrade the decision log")
