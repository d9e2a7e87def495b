"""The log of batch runs (see :mod:`kaskad.batch.summary`). Private to :mod:`kaskad.store`."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from kaskad.errors import NotFoundError, StoreError
from kaskad.store._base import StoreBase
from kaskad.store._records import to_json
from kaskad.store.api import RunRecord
from kaskad.store.tables import RunRow

RUN_STATUSES = ("completed", "failed")


class RunMethods(StoreBase):
    """Recording, listing and reading batch runs (a run is a log entry, not a registry
    change: no audit entry)."""

    def add_run(
        self,
        *,
        pipeline: str,
        plan_hash: str,
        input: str,
        output: str,
        status: str,
        rows_in: int,
        decided: int,
        rejected: int,
        decisions: dict[str, int],
        rejections: dict[str, dict[str, int]],
        rules: dict[str, dict[str, int]],
        started_at: dt.datetime,
        finished_at: dt.datetime,
        duration_s: float,
        actor: str,
        release: str | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """Record a batch run and its summary (see :mod:`kaskad.batch.summary`)."""
        if status not in RUN_STATUSES:
            raise StoreError(f"run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        row = RunRow(
            pipeline=pipeline,
            plan_hash=plan_hash,
            release=release,
            input=input,
            output=output,
            status=status,
            error=error,
            rows_in=rows_in,
            decided=decided,
            rejected=rejected,
            decisions=to_json(decisions, "decisions"),
            rejections=to_json(rejections, "rejections"),
            rules=to_json(rules, "rules"),
            started_at=started_at,
            finished_at=finished_at,
            duration_s=duration_s,
            actor=actor,
        )

        def change(session: Session) -> RunRecord:
            session.add(row)
            session.flush()
            return _run_record(row)

        return self._write(f"recording a run of {pipeline}", change)

    def list_runs(self, pipeline: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Runs, newest first (of ``pipeline`` only, when given)."""
        query = select(RunRow).order_by(RunRow.id.desc()).limit(limit)
        if pipeline is not None:
            query = query.where(RunRow.pipeline == pipeline)
        with self._read("listing runs") as session:
            return [_run_record(row) for row in session.scalars(query)]

    def get_run(self, run_id: int) -> RunRecord:
        with self._read(f"reading run {run_id}") as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFoundError(f"there is no run {run_id}; `kaskad runs` lists them")
            return _run_record(row)


def _run_record(row: RunRow) -> RunRecord:
    return RunRecord(**{f.name: getattr(row, f.name) for f in dataclasses.fields(RunRecord)})
