"""The registry: model versions, releases, stage pointers and the audit trail; and the
log of batch runs.

One :class:`Store` per process (or per command) opened with :meth:`Store.open`; it is
safe to share between threads. Every method that changes the registry writes its audit
entry in the same transaction as the change it records (a run is a log entry of its own,
not a registry change).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from kaskad.errors import ArtifactMissingError, NotFoundError, StoreError
from kaskad.store import _engine
from kaskad.store._names import check_name, check_stage, listing, unknown_name
from kaskad.store._records import (
    audit_record,
    model_record,
    release_record,
    stage_change_record,
    to_json,
)
from kaskad.store.api import AuditEntry, ModelVersion, Release, RunRecord, StageChange
from kaskad.store.artifacts import ArtifactStore, check_sha256
from kaskad.store.refs import ReleaseSelector
from kaskad.store.tables import (
    AuditRow,
    ModelVersionRow,
    ReleaseRow,
    RunRow,
    StageHistoryRow,
    StageRow,
)

T = TypeVar("T")

# Concurrent writers that picked the same next number collide on a unique constraint;
# the loser retries with a fresh read.
WRITE_ATTEMPTS = 20
ROLLBACK = "rollback"
RUN_STATUSES = ("completed", "failed")
# Errors that mean "another transaction got there first; try again":
# PostgreSQL unique violation, serialization failure, deadlock; SQLite unique/primary key.
_RACE_SQLSTATES = frozenset({"23505", "40001", "40P01"})
_RACE_SQLITE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


class Store:
    """Registry of model versions and releases, over SQLite or PostgreSQL.

    Use :meth:`open`; the constructor takes an engine whose schema is already current.
    """

    def __init__(self, engine: Engine, artifacts: ArtifactStore) -> None:
        self._engine = engine
        self._writer = _engine.writer(engine)
        self._closed = False
        self.artifacts = artifacts

    @classmethod
    def open(
        cls, location: str | Path | None = None, artifacts: ArtifactStore | None = None
    ) -> Store:
        """Open (creating and migrating as needed) the store at ``location``.

        ``None`` is the folder ``./.kaskad``; a folder holds ``kaskad.db`` and
        ``artifacts/``; a URL (``sqlite:///…``, ``postgresql://…``) names the database,
        and artifacts then default to ``./.kaskad/artifacts``.
        """
        where = _engine.locate(location, artifacts)
        engine = _engine.open_engine(where.url)
        try:
            _engine.migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, where.artifacts)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return _engine.shown(self._engine.url)

    def __repr__(self) -> str:
        return f"Store({self.url!r}, artifacts={self.artifacts!r})"

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _database_errors(self, what: str) -> Iterator[None]:
        if self._closed:
            raise StoreError(f"{what}: the store {self.url} is closed")
        try:
            yield
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StoreError(f"{what}: database error at {self.url}: {cause}") from exc

    @contextmanager
    def _read(self, what: str) -> Iterator[Session]:
        with self._database_errors(what), Session(self._engine) as session:
            yield session

    def _write(self, what: str, change: Callable[[Session], T]) -> T:
        """Run ``change`` in one write transaction, retrying when a concurrent writer won."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with (
                    self._database_errors(what),
                    Session(self._writer, expire_on_commit=False) as session,
                    session.begin(),
                ):
                    return change(session)
            except StoreError as exc:
                cause = exc.__cause__
                if not isinstance(cause, DBAPIError) or not _lost_a_race(cause):
                    raise
                if attempt == WRITE_ATTEMPTS - 1:
                    raise StoreError(
                        f"{what}: gave up after {WRITE_ATTEMPTS} attempts that collided with"
                        f" concurrent writers: {cause.orig}"
                    ) from cause
                time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
        raise AssertionError("unreachable")

    # -- audit ----------------------------------------------------------------------

    def record_audit(
        self,
        actor: str,
        action: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Record that ``actor`` did ``action`` (e.g. ``environment.override``) to ``target``."""
        return self._write(
            f"recording {action} on {target}",
            lambda s: _audit(s, actor, action, target, before, after, detail),
        )

    def audit_log(
        self, limit: int = 100, target: str | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """Audit entries, newest first.

        ``target`` matches exactly or as a prefix before ``@``: ``loan_decision`` matches
        ``loan_decision@3``; ``action`` matches exactly.
        """
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if target is not None:
            prefix = AuditRow.target.startswith(target + "@", autoescape=True)
            query = query.where(or_(AuditRow.target == target, prefix))
        if action is not None:
            query = query.where(AuditRow.action == action)
        with self._read("reading the audit log") as session:
            return [audit_record(row) for row in session.scalars(query)]

    # -- models ---------------------------------------------------------------------

    def add_model_version(
        self,
        *,
        name: str,
        framework: str,
        artifact_sha256: str,
        description: str,
        metrics: dict[str, Any],
        environment: dict[str, Any],
        inputs: list[dict[str, Any]],
        outputs: list[str],
        sample: list[dict[str, Any]],
        training_data: dict[str, Any] | None,
        actor: str,
    ) -> ModelVersion:
        """Register the next version of model ``name`` (1 for a new name).

        The artifact must already be in :attr:`artifacts`.
        """
        check_name(name, "model name")
        digest = check_sha256(artifact_sha256)
        if not self.artifacts.exists(digest):
            raise ArtifactMissingError(f"model {name}", digest, repr(self.artifacts))
        values = {
            "metrics": to_json(metrics, "metrics"),
            "environment": to_json(environment, "environment"),
            "inputs": to_json(inputs, "inputs"),
            "outputs": to_json(outputs, "outputs"),
            "sample": to_json(sample, "sample"),
            "training_data": to_json(training_data, "training_data"),
        }

        def change(session: Session) -> ModelVersion:
            latest = session.scalar(
                select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name)
            )
            row = ModelVersionRow(
                name=name,
                version=(latest or 0) + 1,
                framework=framework,
                artifact_sha256=digest,
                description=description,
                created_at=_now(),
                created_by=actor,
                **values,
            )
            session.add(row)
            session.flush()
            after = {"version": row.version, "framework": framework, "artifact_sha256": digest}
            _audit(session, actor, "model.register", f"model:{name}@{row.version}", None, after)
            return model_record(row)

        return self._write(f"registering model {name}", change)

    def get_model(self, name: str, version: int | None = None) -> ModelVersion:
        """Version ``version`` of model ``name``, or its latest version when ``None``."""
        with self._read(f"reading model {name}") as session:
            query = select(ModelVersionRow).where(ModelVersionRow.name == name)
            if version is None:
                query = query.order_by(ModelVersionRow.version.desc()).limit(1)
            else:
                query = query.where(ModelVersionRow.version == version)
            row = session.scalar(query)
            if row is not None:
                return model_record(row)
            versions = list(
                session.scalars(
                    select(ModelVersionRow.version)
                    .where(ModelVersionRow.name == name)
                    .order_by(ModelVersionRow.version)
                )
            )
            if versions:
                raise NotFoundError(
                    f"model {name} has no version {version}; versions: {listing(versions)}"
                )
            names = list(
                session.scalars(
                    select(ModelVersionRow.name).distinct().order_by(ModelVersionRow.name)
                )
            )
            raise NotFoundError(unknown_name(f"no model named {name} is registered", name, names))

    def list_models(self, name: str | None = None) -> list[ModelVersion]:
        """Every model version (of ``name`` only, when given), by name then version."""
        query = select(ModelVersionRow).order_by(ModelVersionRow.name, ModelVersionRow.version)
        if name is not None:
            query = query.where(ModelVersionRow.name == name)
        with self._read("listing models") as session:
            return [model_record(row) for row in session.scalars(query)]

    # -- releases -------------------------------------------------------------------

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
                created_at=_now(),
                created_by=actor,
                **values,
            )
            session.add(row)
            session.flush()
            release = release_record(row)
            after = {"number": row.number, "plan_hash": plan_hash, "golden_sha256": golden}
            _audit(session, actor, "release.create", release.ref, None, after)
            return release

        return self._write(f"creating a release of {pipeline}", change)

    def get_release(self, pipeline: str, number: int) -> Release:
        with self._read(f"reading release {pipeline}@{number}") as session:
            row = _release_row(session, pipeline, number)
            if row is None:
                raise NotFoundError(
                    _no_such_release(session, pipeline, f"{pipeline} has no release {number}")
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
                row = _release_row(session, pipeline, int(selector))
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
                row = None if number is None else _release_row(session, pipeline, number)
                missing = f"no release of {pipeline} is in stage {selector}"
            if row is None:
                raise NotFoundError(_no_such_release(session, pipeline, missing))
            return release_record(row)

    # -- stages ---------------------------------------------------------------------

    def set_stage(
        self, pipeline: str, stage: str, number: int, actor: str, action: str = "promote"
    ) -> StageChange:
        """Point ``stage`` of ``pipeline`` at release ``number``."""
        check_stage(stage)

        def change(session: Session) -> StageChange:
            if _release_row(session, pipeline, number) is None:
                missing = f"{pipeline} has no release {number}"
                raise NotFoundError(_no_such_release(session, pipeline, missing))
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

    # -- runs -----------------------------------------------------------------------

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


# -- helpers (one transaction each is the caller's business) -------------------------


def _lost_a_race(exc: DBAPIError) -> bool:
    orig = exc.orig
    return (
        getattr(orig, "sqlstate", None) in _RACE_SQLSTATES
        or getattr(orig, "sqlite_errorname", None) in _RACE_SQLITE
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _move(
    session: Session, pipeline: str, stage: str, number: int, actor: str, action: str
) -> StageChange:
    now = _now()
    row = session.get(StageRow, (pipeline, stage), with_for_update=True)
    before = None if row is None else row.release_number
    if row is None:
        session.add(
            StageRow(
                pipeline=pipeline,
                stage=stage,
                release_number=number,
                updated_at=now,
                updated_by=actor,
            )
        )
    else:
        row.release_number, row.updated_at, row.updated_by = number, now, actor
    history = StageHistoryRow(
        pipeline=pipeline,
        stage=stage,
        from_release=before,
        to_release=number,
        action=action,
        actor=actor,
        at=now,
    )
    session.add(history)
    session.flush()
    _audit(
        session,
        actor,
        f"release.{action}",
        f"{pipeline}@{number}",
        {"stage": stage, "release": before},
        {"stage": stage, "release": number},
    )
    return stage_change_record(history)


def _audit(
    session: Session,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    row = AuditRow(
        at=_now(),
        actor=actor,
        action=action,
        target=target,
        before=to_json(before, "before"),
        after=to_json(after, "after"),
        detail=to_json(detail or {}, "detail"),
    )
    session.add(row)
    session.flush()
    return audit_record(row)


def _run_record(row: RunRow) -> RunRecord:
    return RunRecord(**{f.name: getattr(row, f.name) for f in dataclasses.fields(RunRecord)})


def _release_row(session: Session, pipeline: str, number: int) -> ReleaseRow | None:
    return session.scalar(
        select(ReleaseRow).where(ReleaseRow.pipeline == pipeline, ReleaseRow.number == number)
    )


def _no_such_release(session: Session, pipeline: str, head: str) -> str:
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
