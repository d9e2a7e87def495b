"""Stage pointers (promotion, rollback) and their history. Private to :mod:`kaskad.store`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kaskad.errors import NotFoundError, StoreError
from kaskad.store._approvals import check_approved
from kaskad.store._audit import write_audit
from kaskad.store._base import StoreBase, now
from kaskad.store._names import check_stage
from kaskad.store._records import stage_change_record
from kaskad.store._releases import no_such_release, release_row
from kaskad.store.api import StageChange
from kaskad.store.tables import StageHistoryRow, StageRow

ROLLBACK = "rollback"


class StageMethods(StoreBase):
    """Moving stages, reading them and their history, rolling back."""

    def set_stage(
        self, pipeline: str, stage: str, number: int, actor: str, action: str = "promote"
    ) -> StageChange:
        """Point ``stage`` of ``pipeline`` at release ``number``; a stage that requires
        approval takes only a release approved by an identity other than its creator
        (:class:`~kaskad.errors.ApprovalError`, K607)."""
        check_stage(stage)

        def change(session: Session) -> StageChange:
            release = release_row(session, pipeline, number)
            if release is None:
                missing = f"{pipeline} has no release {number}"
                raise NotFoundError(no_such_release(session, pipeline, missing))
            if action == "promote":
                check_approved(session, pipeline, stage, number, release.created_by)
            return _move(session, pipeline, stage, number, actor, action)

        return self._write(f"moving {stage} of {pipeline} to release {number}", change)

    def stages(self, pipeline: str) -> dict[str, int]:
        """Where each stage of ``pipeline`` points: ``{"production": 3, "shadow": 4}``."""
        query = (
            select(StageRow.stage, StageRow.release_number)
            .where(StageRow.pipeline == pipeline)
            .order_by(StageRow.stage)
        )
        with self._read(f"reading the stages of {pipeline}") as session:
            return {stage: number for stage, number in session.execute(query)}

    def stage_history(self, pipeline: str, stage: str | None = None) -> list[StageChange]:
        """Every move of ``pipeline``'s stages (of ``stage`` only, when given), oldest first."""
        query = (
            select(StageHistoryRow)
            .where(StageHistoryRow.pipeline == pipeline)
            .order_by(StageHistoryRow.id)
        )
        if stage is not None:
            query = query.where(StageHistoryRow.stage == stage)
        with self._read(f"reading the stage history of {pipeline}") as session:
            return [stage_change_record(row) for row in session.scalars(query)]

    def rollback(self, pipeline: str, stage: str, actor: str) -> StageChange:
        """Point ``stage`` back at the release it served before its current one.

        Rollbacks undo promotions in order: promote 1, 2, 3 then roll back twice → 1.
        """

        def change(session: Session) -> StageChange:
            row = session.get(StageRow, (pipeline, stage), with_for_update=True)
            if row is None:
                known = ", ".join(
                    session.scalars(select(StageRow.stage).where(StageRow.pipeline == pipeline))
                )
                raise NotFoundError(
                    f"cannot roll back: stage {stage} of {pipeline} points at no release"
                    f" (stages: {known or 'none'})"
                )
            history = session.scalars(
                select(StageHistoryRow)
                .where(StageHistoryRow.pipeline == pipeline, StageHistoryRow.stage == stage)
                .order_by(StageHistoryRow.id)
            )
            target = rollback_target(
                [(h.action, h.to_release) for h in history], row.release_number
            )
            if target is None:
                raise StoreError(
                    f"cannot roll back {stage} of {pipeline}: before release"
                    f" {row.release_number} it pointed at no other release"
                )
            return _move(session, pipeline, stage, target, actor, ROLLBACK)

        return self._write(f"rolling back {stage} of {pipeline}", change)


def rollback_target(moves: Sequence[tuple[str, int | None]], current: int) -> int | None:
    """The release a rollback returns to, given a stage's moves (action, to), oldest first.

    Promotions push onto a stack and rollbacks pop it, so repeated rollbacks walk back
    through the releases the stage served rather than bouncing between two.
    """
    stack: list[int] = []
    for action, to in moves:
        if action == ROLLBACK and stack:
            stack.pop()
        if to is not None and (not stack or stack[-1] != to):
            stack.append(to)
    while stack and stack[-1] == current:
        stack.pop()
    return stack[-1] if stack else None


def _move(
    session: Session, pipeline: str, stage: str, number: int, actor: str, action: str
) -> StageChange:
    at = now()
    row = session.get(StageRow, (pipeline, stage), with_for_update=True)
    before = None if row is None else row.release_number
    if row is None:
        session.add(
            StageRow(
                pipeline=pipeline,
                stage=stage,
                release_number=number,
                updated_at=at,
                updated_by=actor,
            )
        )
    else:
        row.release_number, row.updated_at, row.updated_by = number, at, actor
    history = StageHistoryRow(
        pipeline=pipeline,
        stage=stage,
        from_release=before,
        to_release=number,
        action=action,
        actor=actor,
        at=at,
    )
    session.add(history)
    session.flush()
    write_audit(
        session,
        actor,
        f"release.{action}",
        f"{pipeline}@{number}",
        {"stage": stage, "release": before},
        {"stage": stage, "release": number},
    )
    return stage_change_record(history)
