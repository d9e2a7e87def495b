"""Rows to the records of :mod:`kaskad.store.api`, and values to what JSON columns hold."""

from __future__ import annotations

import json
from typing import TypeVar

from kaskad.errors import StoreError
from kaskad.store.api import AuditEntry, ModelVersion, Release, StageChange
from kaskad.store.tables import AuditRow, ModelVersionRow, ReleaseRow, StageHistoryRow

T = TypeVar("T")


def to_json(value: T, field: str) -> T:
    """``value`` as it will come back from the database (or a clear error)."""
    if value is None:
        return value
    try:
        return json.loads(json.dumps(value, allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{field} cannot be stored as JSON ({exc}); use only dicts, lists, strings,"
            " finite numbers, booleans and null"
        ) from exc


def model_record(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        framework=row.framework,
        artifact_sha256=row.artifact_sha256,
        description=row.description,
        metrics=row.metrics,
        environment=row.environment,
        inputs=row.inputs,
        outputs=row.outputs,
        sample=row.sample,
        training_data=row.training_data,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def release_record(row: ReleaseRow) -> Release:
    return Release(
        pipeline=row.pipeline,
        number=row.number,
        plan_hash=row.plan_hash,
        manifest=row.manifest,
        components=row.components,
        environment=row.environment,
        golden_sha256=row.golden_sha256,
        golden_count=row.golden_count,
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def stage_change_record(row: StageHistoryRow) -> StageChange:
    return StageChange(
        pipeline=row.pipeline,
        stage=row.stage,
        from_release=row.from_release,
        to_release=row.to_release,
        action=row.action,
        actor=row.actor,
        at=row.at,
    )


def audit_record(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        before=row.before,
        after=row.after,
        detail=row.detail,
    )
