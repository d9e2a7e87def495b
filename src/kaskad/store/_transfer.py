"""Carrying releases between stores (an offline bundle): a release arrives with its own
number, its stage history and its audit entries, as they were where it was made.

Private to :mod:`kaskad.store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kaskad.errors import ArtifactMissingError, StoreError
from kaskad.store._audit import write_audit
from kaskad.store._audit_chain import chain
from kaskad.store._base import StoreBase, now
from kaskad.store._names import check_name, check_stage
from kaskad.store._records import to_json
from kaskad.store._releases import release_row
from kaskad.store.api import AuditEntry, ImportedRelease, Release, StageChange
from kaskad.store.tables import AuditRow, ReleaseRow, StageHistoryRow, StageRow


class TransferMethods(StoreBase):
    """Importing releases made in another store."""

    def import_release(
        self,
        release: Release,
        *,
        stages: dict[str, int],
        stage_history: Sequence[StageChange],
        audit: Sequence[AuditEntry],
        actor: str,
        detail: dict[str, Any],
    ) -> ImportedRelease:
        """Add ``release`` with its own number, as it was recorded elsewhere.

        Its artifacts (files and golden cases) must already be in :attr:`artifacts`.
        ``audit`` (the release's entries) is copied with its original times and actors;
        a stage of ``stages`` that points at this release is restored with its
        ``stage_history`` when that stage does not exist here yet. A release already here
        with the same plan is left as it is; one with another plan is an error. An
        ``release.import`` audit entry with ``detail`` records the import itself.
        """
        check_name(release.pipeline, "pipeline name")
        for sha in [*release.manifest.get("files", {}).values(), release.golden_sha256]:
            if sha is not None and not self.artifacts.exists(sha):
                raise ArtifactMissingError(f"a file of {release.ref}", sha, repr(self.artifacts))
        mine = sorted(stage for stage, number in stages.items() if number == release.number)
        for stage in mine:
            check_stage(stage)

        def change(session: Session) -> ImportedRelease:
            existing = release_row(session, release.pipeline, release.number)
            if existing is not None and existing.plan_hash != release.plan_hash:
                raise StoreError(
                    f"cannot import {release.ref}: this store already has {release.ref} with"
                    f" plan {existing.plan_hash[:12]}, the bundle's is {release.plan_hash[:12]}"
                )
            created = existing is None
            if created:
                session.add(_release_row(release))
                for entry in audit:
                    chain(session, _audit_row(entry))
            restored: list[str] = []
            kept: list[str] = []
            for stage in mine:
                row = session.get(StageRow, (release.pipeline, stage))
                if row is None:
                    _restore_stage(session, release, stage, stage_history)
                    restored.append(stage)
                elif row.release_number != release.number:
                    kept.append(stage)
            session.flush()
            if created or restored:
                after: dict[str, Any] = {
                    "number": release.number,
                    "plan_hash": release.plan_hash,
                    "stages": restored,
                }
                write_audit(session, actor, "release.import", release.ref, None, after, detail)
            return ImportedRelease(release.ref, created, restored, kept)

        return self._write(f"importing {release.ref}", change)


def _release_row(release: Release) -> ReleaseRow:
    return ReleaseRow(
        pipeline=release.pipeline,
        number=release.number,
        plan_hash=release.plan_hash,
        manifest=to_json(release.manifest, "manifest"),
        components=to_json(release.components, "components"),
        environment=to_json(release.environment, "environment"),
        golden_sha256=release.golden_sha256,
        golden_count=release.golden_count,
        description=release.description,
        created_at=release.created_at,
        created_by=release.created_by,
    )


def _audit_row(entry: AuditEntry) -> AuditRow:
    return AuditRow(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        before=to_json(entry.before, "before"),
        after=to_json(entry.after, "after"),
        detail=to_json(entry.detail, "detail"),
    )


def _restore_stage(
    session: Session, release: Release, stage: str, history: Sequence[StageChange]
) -> None:
    """Point ``stage`` at ``release`` with the moves that led there (those of this stage
    not yet recorded here), or one ``import`` move when there are none."""
    moves = [h for h in history if h.stage == stage and h.pipeline == release.pipeline]
    recorded = {
        (h.to_release, h.action, h.at)
        for h in session.scalars(
            select(StageHistoryRow).where(
                StageHistoryRow.pipeline == release.pipeline, StageHistoryRow.stage == stage
            )
        )
    }
    for move in moves:
        if (move.to_release, move.action, move.at) in recorded:
            continue
        session.add(
            StageHistoryRow(
                pipeline=move.pipeline,
                stage=move.stage,
                from_release=move.from_release,
                to_release=move.to_release,
                action=move.action,
                actor=move.actor,
                at=move.at,
            )
        )
    last = moves[-1] if moves else None
    if last is None or last.to_release != release.number:
        at = now()
        session.add(
            StageHistoryRow(
                pipeline=release.pipeline,
                stage=stage,
                from_release=None,
                to_release=release.number,
                action="import",
                actor="bundle",
                at=at,
            )
        )
    session.add(
        StageRow(
            pipeline=release.pipeline,
            stage=stage,
            release_number=release.number,
            updated_at=last.at if last is not None else now(),
            updated_by=last.actor if last is not None else "bundle",
        )
    )
