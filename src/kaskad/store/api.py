"""What the rest of kaskad needs from a store: records in, records out.

The registry and decision log live behind :class:`Store` (SQLAlchemy 2; SQLite by
default, PostgreSQL by URL; schema managed by Alembic). Content lives in an
:class:`ArtifactStore`, addressed by sha256 and verified on every read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version."""

    name: str
    version: int
    framework: str
    artifact_sha256: str
    description: str
    metrics: dict[str, Any]
    environment: dict[str, Any]  # {"python": "3.11.7", "platform": "...", "packages": {...}}
    inputs: list[dict[str, Any]]  # [{"name": "amount", "type": "float"}, ...]
    outputs: list[str]
    sample: list[dict[str, Any]]  # [{"input": {...}, "output": {...}}, ...]
    training_data: dict[str, Any] | None  # fingerprint and per-column profile
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True)
class Release:
    """An immutable, numbered snapshot of a pipeline with everything it needs."""

    pipeline: str
    number: int
    plan_hash: str
    manifest: dict[str, Any]  # {"entry": "pipeline.yaml", "files": {relpath: sha256}}
    components: list[dict[str, Any]]  # [{"kind", "name", "source", "sha256"}, ...]
    environment: dict[str, Any]
    golden_sha256: str | None  # JSON Lines artifact of {"input": ..., "output": ...}
    golden_count: int
    description: str
    created_at: dt.datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.pipeline}@{self.number}"


@dataclass(frozen=True)
class StageChange:
    """One move of a stage pointer (promotion or rollback)."""

    pipeline: str
    stage: str
    from_release: int | None
    to_release: int | None
    action: str  # promote | rollback
    actor: str
    at: dt.datetime


@dataclass(frozen=True)
class ImportedRelease:
    """What importing one release did: ``created`` (False: it was there already, same
    plan), the stages restored, and the stages left alone because they already point
    elsewhere here."""

    ref: str
    created: bool
    stages: list[str]
    stages_kept: list[str]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str  # e.g. model.register, release.create, release.promote, environment.override
    target: str  # e.g. "loan_decision@3"
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """One batch run as the store keeps it (see :class:`kaskad.batch.summary.RunSummary`)."""

    id: int
    pipeline: str
    plan_hash: str
    release: str | None  # "loan_decision@3" when a release was run, else None
    input: str
    output: str
    status: str  # completed | failed
    error: str | None
    rows_in: int
    decided: int
    rejected: int
    decisions: dict[str, int]  # {"approve": 15000, "reject": 4000, ...}
    rejections: dict[str, dict[str, int]]  # {"channel": {"not an allowed value": 3}}
    rules: dict[str, dict[str, int]]  # {"aml.cash_1m": {"hit": 5, "pass": 90, "unknown": 5}}
    started_at: dt.datetime
    finished_at: dt.datetime
    duration_s: float
    actor: str

    @property
    def rows_per_s(self) -> float:
        return self.rows_in / self.duration_s if self.duration_s > 0 else 0.0
