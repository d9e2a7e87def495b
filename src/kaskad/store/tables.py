"""The registry's tables (SQLAlchemy 2 declarative), portable across SQLite and PostgreSQL.

The schema itself is created and changed only by the Alembic migrations in
``kaskad/store/migrations``; these classes must stay in step with them
(``tests/store`` checks that the migrated schema matches).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored
    as UTC and marked UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone; use UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# Python None is stored as SQL NULL (not the JSON text 'null') so "IS NULL" works.
JSONValue = JSON(none_as_null=True)

NAME = 200  # model, pipeline and stage names
ACTOR = 200
SHA256 = 64


class Base(DeclarativeBase):
    pass


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    framework: Mapped[str] = mapped_column(String(50), nullable=False)
    artifact_sha256: Mapped[str] = mapped_column(String(SHA256), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    environment: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, nullable=False)
    outputs: Mapped[list[str]] = mapped_column(JSONValue, nullable=False)
    sample: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, nullable=False)
    training_data: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(ACTOR), nullable=False)


class ModelStageRow(Base):
    """Where a stage of a registered model points now: (name, stage) → version number."""

    __tablename__ = "model_stages"

    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    stage: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(ACTOR), nullable=False)


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("pipeline", "number", name="uq_releases_pipeline_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(NAME), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    plan_hash: Mapped[str] = mapped_column(String(SHA256), nullable=False)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, nullable=False)
    environment: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    golden_sha256: Mapped[str | None] = mapped_column(String(SHA256), nullable=True)
    golden_count: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(ACTOR), nullable=False)


class StageRow(Base):
    """Where a stage of a pipeline points now: (pipeline, stage) → release number."""

    __tablename__ = "stages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["pipeline", "release_number"],
            ["releases.pipeline", "releases.number"],
            name="fk_stages_release",
        ),
    )

    pipeline: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    stage: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    release_number: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(ACTOR), nullable=False)


class StagePolicyRow(Base):
    """Four eyes: whether promotion to (pipeline, stage) needs an approval."""

    __tablename__ = "stage_policies"

    pipeline: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    stage: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    requires_approval: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(ACTOR), nullable=False)


class ApprovalRow(Base):
    """An approval of release ``number`` of ``pipeline`` for ``stage`` by ``approver``."""

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("pipeline", "number", "stage", "approver", name="uq_approvals"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(NAME), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    stage: Mapped[str] = mapped_column(String(NAME), nullable=False)
    approver: Mapped[str] = mapped_column(String(ACTOR), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class StageHistoryRow(Base):
    """Every move of a stage pointer, in order (``id`` increases)."""

    __tablename__ = "stage_history"
    __table_args__ = (Index("ix_stage_history_pipeline_stage", "pipeline", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(NAME), nullable=False)
    stage: Mapped[str] = mapped_column(String(NAME), nullable=False)
    from_release: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_release: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(50), nullable=False)
    actor: Mapped[str] = mapped_column(String(ACTOR), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class AuditRow(Base):
    """Who did what to which target, with the state before and after."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(ACTOR), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(400), nullable=False, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    # The hash chain (kaskad/store/_audit_chain.py): the previous entry's hash and this one's.
    prev_hash: Mapped[str] = mapped_column(String(SHA256), nullable=False)
    hash: Mapped[str] = mapped_column(String(SHA256), nullable=False)


class RunRow(Base):
    """One batch run (``kaskad run``) and its summary; ``id`` increases."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(NAME), nullable=False, index=True)
    plan_hash: Mapped[str] = mapped_column(String(SHA256), nullable=False)
    release: Mapped[str | None] = mapped_column(String(400), nullable=True)
    input: Mapped[str] = mapped_column(Text, nullable=False)
    output: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    rows_in: Mapped[int] = mapped_column(BigInteger, nullable=False)
    decided: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rejected: Mapped[int] = mapped_column(BigInteger, nullable=False)
    decisions: Mapped[dict[str, int]] = mapped_column(JSONValue, nullable=False)
    rejections: Mapped[dict[str, dict[str, int]]] = mapped_column(JSONValue, nullable=False)
    rules: Mapped[dict[str, dict[str, int]]] = mapped_column(JSONValue, nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    duration_s: Mapped[float] = mapped_column(Float, nullable=False)
    actor: Mapped[str] = mapped_column(String(ACTOR), nullable=False)


class DecisionRow(Base):
    """One served decision or rejection (``kaskad serve``'s durable decision log).

    ``input`` has the schema's sensitive fields replaced by ``sha256:<hex>``; every row
    keeps the request's content type and a fingerprint of the body's shape (accepted
    records: of the record as parsed).
    """

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_pipeline_at", "pipeline", "at"),
        Index("ix_decisions_business_key", "business_key"),
    )

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    pipeline: Mapped[str] = mapped_column(String(NAME), nullable=False)
    release: Mapped[str | None] = mapped_column(String(400), nullable=True)
    plan_hash: Mapped[str] = mapped_column(String(SHA256), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    input: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    timings: Mapped[dict[str, float]] = mapped_column(JSONValue, nullable=False)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(SHA256), nullable=True)
    # keeping the log (migration 0008, docs/audit.md): the schema's key fields as
    # text, the sha256 of the input as logged and of the whole record (both kept when a
    # person's input is erased), and when it was erased
    business_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    input_sha256: Mapped[str | None] = mapped_column(String(SHA256), nullable=True)
    record_sha256: Mapped[str | None] = mapped_column(String(SHA256), nullable=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ShadowDecisionRow(Base):
    """One challenger's output for one served decision, computed after the reply.

    ``output`` holds the challenger's ``shadow.NAME.*`` fields without the prefix
    (``decision``, ``reasons``, reported outputs, ``error``).
    """

    __tablename__ = "shadow_decisions"

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shadow: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    pipeline: Mapped[str] = mapped_column(String(NAME), nullable=False)
    decision: Mapped[str | None] = mapped_column(String(200), nullable=True)
    output: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DecisionPlanRow(Base):
    """The components behind a plan hash seen in the decision log, written once per plan:
    an auditor joins ``decisions.plan_hash`` here for the content hash of every schema,
    feature set, rule set, model and shadow that made a decision."""

    __tablename__ = "decision_plans"

    plan_hash: Mapped[str] = mapped_column(String(SHA256), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    pipeline: Mapped[str] = mapped_column(String(NAME), nullable=False)
    release: Mapped[str | None] = mapped_column(String(400), nullable=True)  # first served as
    components: Mapped[list[dict[str, str]]] = mapped_column(JSONValue, nullable=False)


class ArtifactRow(Base):
    """One artifact kept in the database (a store given by URL): its address and size.

    Written in the same transaction as its chunks, so a row means complete content.
    """

    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(String(SHA256), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chunks: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class ArtifactChunkRow(Base):
    """The content of an artifact, in order, in pieces small enough to stream."""

    __tablename__ = "artifact_chunks"
    __table_args__ = (PrimaryKeyConstraint("sha256", "seq", name="pk_artifact_chunks"),)

    sha256: Mapped[str] = mapped_column(String(SHA256), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class ReleaseReferenceRow(Base):
    """The monitoring reference frozen for a release: bins, quantiles and rates of every
    input field, feature, rule outcome, score and decision (:mod:`kaskad.monitor`)."""

    __tablename__ = "release_references"

    pipeline: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)  # what it was computed from
    reference: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)


class DecisionLabelRow(Base):
    """An outcome that arrived after a decision (``kaskad labels load``), by decision id
    (``key_kind`` ``decision_id``) or by a business key (``input:FIELD``)."""

    __tablename__ = "decision_labels"

    pipeline: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    key_kind: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    label: Mapped[float] = mapped_column(Float, nullable=False)
    labelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


_PARTITION = re.compile(r"^decisions_(y\d{4}m\d{2}|default)$")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's schema comparison filter: the decision log's monthly partitions on
    PostgreSQL (``decisions_yYYYYmMM``, ``decisions_default``) and their indexes are the
    ``decisions`` table, not tables of their own."""
    table = getattr(obj, "table", obj) if type_ in ("index", "unique_constraint") else obj
    table_name = getattr(table, "name", name) if type_ != "table" else name
    return not (isinstance(table_name, str) and _PARTITION.match(table_name))
