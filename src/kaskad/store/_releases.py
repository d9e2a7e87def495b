"""Releases in the registry, and resolving ``NAME@NUMBER|latest|STAGE`` references.

Private to :mod:`kaskad.store`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kaskad.errors import ArtifactMissingError, NotFoundError
from kaskad.store._audit import write_audit
from kaskad.store._base import StoreBase, now
from kaskad.store._names import check_name, listing, unknown_name
from kaskad.store._records import release_record, to_json
from kaskad.store.api import Release
from kaskad.store.artifacts import check_sha256
from kaskad.store.refs import ReleaseSelector
from kaskad.store.tables import ReleaseRow, StageRow


class ReleaseMethods(StoreBase):
    """Creating, reading, listing and resolving releases."""

    def add_release(
        self,
        *,
        pipeline: str,
        plan_hash: str,
        manifest: dict[str, Any],
        components: list[dict[str, Any]],
        environment: dict[str, Any],
        golden_sha256: str | None,
        golden_count: int,
        description: str,
        actor: str,
    ) -> Release:
        """Record the next release of ``pipeline`` (1 for a new pipeline).

        The golden cases artifact, when given, must already be in :attr:`artifacts`.
        """
        check_name(pipeline, "pipeline name")
        golden = None if golden_sha256 is None else check_sha256(golden_sha256)
        if golden is not None and not self.artifacts.exists(golden):
            raise ArtifactMissingError(f"golden cases of {pipeline}", golden, repr(self.artifacts))
        values = {
            "manifest": to_json(manifest, "manifest"),
            "components": to_json(components, "components"),
            "environment": to_json(environment, "environment"),
        }

        def change(session: Session) -> Release:
            latest = session.scalar(
                select(func.max(ReleaseRow.number)).where(ReleaseRow.pipeline == pipeline)
            )
            row = ReleaseRow(
                pipeline=pipeline,
                number=(latest or 0) + 1,
                plan_hash=plan_hash,
                golden_sha256=golden,
                golden_count=golden_count,
                description=description,
                created_at=now(),
                created_by=actor,
                **values,
            )
            session.add(row)
            session.flush()
            release = release_record(row)
            after = {"number": row.number, "plan_hash": plan_hash, "golden_sha256": golden}
            write_audit(session, actor, "release.create", release.ref, None, after)
            return release

        return self._write(f"creating a release of {pipeline}", change)

    def get_release(self, pipeline: str, number: int) -> Release:
        with self._read(f"reading release {pipeline}@{number}") as session:
            row = release_row(session, pipeline, number)
            if row is None:
                raise NotFoundError(
                    no_such_release(session, pipeline, f"{pipeline} has no release {number}")
                )
            return release_record(row)

    def list_releases(self, pipeline: str | None = None) -> list[Release]:
        """Every release (of ``pipeline`` only, when given), by pipeline then number."""
        query = select(ReleaseRow).order_by(ReleaseRow.pipeline, ReleaseRow.number)
        if pipeline is not None:
            query = query.where(ReleaseRow.pipeline == pipeline)
        with self._read("listing releases") as session:
            return [release_record(row) for row in session.scalars(query)]

    def resolve(self, ref: str) -> Release:
        """The release ``ref`` names: ``NAME@3``, ``NAME@latest`` or ``NAME@STAGE``."""
        parsed = ReleaseSelector.parse(ref)
        pipeline, selector = parsed.name, parsed.selector
        with self._read(f"resolving {ref}") as session:
            if selector.isdigit():
                row = release_row(session, pipeline, int(selector))
                missing = f"{pipeline} has no release {int(selector)}"
            elif selector == "latest":
                row = session.scalar(
                    select(ReleaseRow)
                    .where(ReleaseRow.pipeline == pipeline)
                    .order_by(ReleaseRow.number.desc())
                    .limit(1)
                )
                missing = f"{pipeline} has no releases"
            else:
                number = session.scalar(
                    select(StageRow.release_number).where(
                        StageRow.pipeline == pipeline, StageRow.stage == selector
                    )
                )
                row = None if number is None else release_row(session, pipeline, number)
                missing = f"no release of {pipeline} is in stage {selector}"
            if row is None:
                raise NotFoundError(no_such_release(session, pipeline, missing))
            return release_record(row)


def release_row(session: Session, pipeline: str, number: int) -> ReleaseRow | None:
    return session.scalar(
        select(ReleaseRow).where(ReleaseRow.pipeline == pipeline, ReleaseRow.number == number)
    )


def no_such_release(session: Session, pipeline: str, head: str) -> str:
    """A message for a missing release that says what does exist."""
    numbers = list(
        session.scalars(
            select(ReleaseRow.number)
            .where(ReleaseRow.pipeline == pipeline)
            .order_by(ReleaseRow.number)
        )
    )
    if not numbers:
        names = list(
            session.scalars(select(ReleaseRow.pipeline).distinct().order_by(ReleaseRow.pipeline))
        )
        return unknown_name(f"pipeline {pipeline} has no releases", pipeline, names, "pipelines")
    message = f"{head}; releases: {listing(numbers)}"
    stages = session.execute(
        select(StageRow.stage, StageRow.release_number)
        .where(StageRow.pipeline == pipeline)
        .order_by(StageRow.stage)
    ).all()
    if stages:
        message += "; stages: " + ", ".join(f"{s} → {n}" for s, n in stages)
    return message
