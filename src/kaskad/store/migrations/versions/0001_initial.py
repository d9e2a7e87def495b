"""Initial registry schema: model versions, releases, stages, stage history, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 200
ACTOR = 200
SHA256 = 64


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("framework", sa.String(50), nullable=False),
        sa.Column("artifact_sha256", sa.String(SHA256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("sample", sa.JSON(), nullable=False),
        sa.Column("training_data", sa.JSON(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("created_by", sa.String(ACTOR), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(NAME), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("plan_hash", sa.String(SHA256), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("golden_sha256", sa.String(SHA256), nullable=True),
        sa.Column("golden_count", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("created_by", sa.String(ACTOR), nullable=False),
        sa.UniqueConstraint("pipeline", "number", name="uq_releases_pipeline_number"),
    )
    op.create_table(
        "stages",
        sa.Column("pipeline", sa.String(NAME), primary_key=True),
        sa.Column("stage", sa.String(NAME), primary_key=True),
        sa.Column("release_number", sa.Integer(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.Column("updated_by", sa.String(ACTOR), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline", "release_number"],
            ["releases.pipeline", "releases.number"],
            name="fk_stages_release",
        ),
    )
    op.create_table(
        "stage_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(NAME), nullable=False),
        sa.Column("stage", sa.String(NAME), nullable=False),
        sa.Column("from_release", sa.Integer(), nullable=True),
        sa.Column("to_release", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("actor", sa.String(ACTOR), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
    )
    op.create_index("ix_stage_history_pipeline_stage", "stage_history", ["pipeline", "stage"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("actor", sa.String(ACTOR), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(400), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_action", "audit", ["action"])
    op.create_index("ix_audit_target", "audit", ["target"])


def downgrade() -> None:
    op.drop_index("ix_audit_target", table_name="audit")
    op.drop_index("ix_audit_action", table_name="audit")
    op.drop_table("audit")
    op.drop_index("ix_stage_history_pipeline_stage", table_name="stage_history")
    op.drop_table("stage_history")
    op.drop_table("stages")
    op.drop_table("releases")
    op.drop_table("model_versions")
