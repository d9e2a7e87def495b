"""Four eyes: a stage can require that a release be approved, by an identity other than
the one that created it, before promotion to it. Private to :mod:`kaskad.store`.

An identity is an actor without what ``--actor`` adds: ``alice@host (as risk)`` and
``alice@host (as ops)`` are the same person; over HTTP it is ``api-key:LABEL``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kaskad.errors import ApprovalError, NotFoundError
from kaskad.store._audit import write_audit
from kaskad.store._base import StoreBase, now
from kaskad.store._names import check_stage
from kaskad.store._releases import no_such_release, release_row
from kaskad.store.tables import ApprovalRow, ReleaseRow, StagePolicyRow

_ADDED = " (as "


def identity_of(actor: str) -> str:
    """The identity behind ``actor``: ``alice@host (as risk)`` → ``alice@host``."""
    return actor.split(_ADDED, 1)[0].strip()


class ApprovalMethods(StoreBase):
    """Which stages require approval, and approving releases for them."""

    def require_approval(
        self, pipeline: str, stage: str, actor: str, required: bool = True
    ) -> None:
        """Make promotion of ``pipeline`` to ``stage`` need an approval (or no longer);
        NotFoundError for a pipeline with no release (a misspelt name would guard
        nothing)."""
        check_stage(stage)

        def change(session: Session) -> None:
            known = session.scalar(
                select(ReleaseRow.number).where(ReleaseRow.pipeline == pipeline).limit(1)
            )
            if known is None:
                raise NotFoundError(no_such_release(session, pipeline, ""))
            row = session.get(StagePolicyRow, (pipeline, stage))
            before = None if row is None else {"requires_approval": row.requires_approval}
            if row is None:
                row = StagePolicyRow(pipeline=pipeline, stage=stage)
                session.add(row)
            row.requires_approval = required
            row.updated_at = now()
            row.updated_by = actor
            after = {"requires_approval": required}
            write_audit(session, actor, "stage.policy", f"{pipeline}@{stage}", before, after)

        self._write(f"setting the approval policy of {pipeline}@{stage}", change)

    def requires_approval(self, pipeline: str, stage: str) -> bool:
        with self._read(f"reading the approval policy of {pipeline}@{stage}") as session:
            return stage_requires_approval(session, pipeline, stage)

    def approve(self, pipeline: str, number: int, stage: str, actor: str) -> None:
        """Approve release ``number`` of ``pipeline`` for ``stage``; refused (K607) when
        ``actor`` is the release's creator."""
        check_stage(stage)

        def change(session: Session) -> None:
            release = release_row(session, pipeline, number)
            if release is None:
                missing = f"{pipeline} has no release {number}"
                raise NotFoundError(no_such_release(session, pipeline, missing))
            who = identity_of(actor)
            if who == identity_of(release.created_by):
                raise ApprovalError(
                    f"{pipeline}@{number} was created by {who}: its creator cannot approve it"
                    " (four eyes: another identity must approve)"
                )
            exists = session.scalar(
                select(ApprovalRow.id).where(
                    ApprovalRow.pipeline == pipeline,
                    ApprovalRow.number == number,
                    ApprovalRow.stage == stage,
                    ApprovalRow.approver == who,
                )
            )
            if exists is None:
                session.add(
                    ApprovalRow(
                        pipeline=pipeline, number=number, stage=stage, approver=who, at=now()
                    )
                )
            target = f"{pipeline}@{number}"
            write_audit(session, actor, "release.approve", target, None, {"stage": stage})

        self._write(f"approving {pipeline}@{number} for {stage}", change)

    def approvers(self, pipeline: str, number: int, stage: str) -> list[str]:
        """The identities that approved release ``number`` of ``pipeline`` for ``stage``."""
        with self._read(f"reading the approvals of {pipeline}@{number}") as session:
            return approvers_of(session, pipeline, number, stage)


def stage_requires_approval(session: Session, pipeline: str, stage: str) -> bool:
    row = session.get(StagePolicyRow, (pipeline, stage))
    return row is not None and row.requires_approval


def approvers_of(session: Session, pipeline: str, number: int, stage: str) -> list[str]:
    query = (
        select(ApprovalRow.approver)
        .where(
            ApprovalRow.pipeline == pipeline,
            ApprovalRow.number == number,
            ApprovalRow.stage == stage,
        )
        .order_by(ApprovalRow.id)
    )
    return list(session.scalars(query))


def check_approved(session: Session, pipeline: str, stage: str, number: int, creator: str) -> None:
    """Refuse (K607) promotion of a release no identity but its creator approved for a
    stage that requires approval."""
    if not stage_requires_approval(session, pipeline, stage):
        return
    others = [
        a for a in approvers_of(session, pipeline, number, stage) if a != identity_of(creator)
    ]
    if not others:
        raise ApprovalError(
            f"{pipeline}@{stage} requires approval: {pipeline}@{number} has none by an identity"
            f" other than its creator; run `kaskad release approve {pipeline}@{number}"
            f" --stage {stage}` as another person (or POST /v1/pipelines/NAME/approve with an"
            " approver key)"
        )
