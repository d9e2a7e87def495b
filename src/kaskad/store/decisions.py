"""The durable decision log: every decision and every rejection, written before the reply.

A single writer thread takes records from a bounded queue and commits them in groups: all
records waiting when a commit starts go into one transaction (group commit). Each request
waits for the future of its record, resolved after that commit, so a 200 is only sent for
a decision that is already durable. A full queue refuses the record at once
(:class:`LogFull`, answered with 503 and ``Retry-After`` by the server), so memory stays
bounded under overload.

Records arrive as they are to be kept: the caller masks sensitive inputs and computes
fingerprints (see :mod:`kaskad.serve.decision_log`). Readers are in
:mod:`kaskad.store.decision_reads`; the journaled variant in :mod:`kaskad.store.journal`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from kaskad.errors import StoreError
from kaskad.jsonio import dumps_text
from kaskad.spec.common import ComponentRef
from kaskad.store import _engine, _partitions
from kaskad.store.decision_hashes import input_digest, record_digest
from kaskad.store.defaults import DEFAULT_QUEUE_SIZE as DEFAULT_QUEUE_SIZE
from kaskad.store.tables import DecisionPlanRow, DecisionRow, ShadowDecisionRow

LOG = logging.getLogger(__name__)
DEFAULT_WRITE_TIMEOUT_S = 5.0  # a commit waits at most this long for a locked store
ROOM_PROBE_BYTES = 256 * 1024  # a SQLite store after a fault: free room it must have
IDLE_PROBE_S = 5.0  # health() probes the store when no commit succeeded for this long
PARTITION_CHECK_S = 24 * 3600  # how often a running writer makes the next months' partitions


class LogFull(StoreError):
    """The decision log's queue (or journal) is full: the record is refused at once, and
    the server sheds the request (503 ``S503``, ``Retry-After``)."""

    code = "K604"


class RecordRefused(StoreError):
    """The store refused this one record (a value it cannot hold); the rest of its commit
    group was committed without it. The server answers that request alone with a problem
    (500 ``S511`` and an error id); the details go to the server log only."""

    code = "K606"


class ServedPlan(Protocol):
    """What :meth:`PlanRecord.of` reads of a plan (:class:`kaskad.Plan` is one)."""

    @property
    def hash(self) -> str: ...

    def all_components(self) -> list[ComponentRef]: ...


@dataclass(frozen=True)
class DecisionRecord:
    """One row of the log; ``input`` must already be masked (the server uses
    :func:`kaskad.serve.decision_log.mask`)."""

    decision_id: str
    pipeline: str
    release: str | None
    plan_hash: str
    status: str  # "decided" or "rejected"
    input: Any
    output: dict[str, Any] | None
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    content_type: str | None = None
    fingerprint: str | None = None
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    business_key: str | None = None  # the schema's key fields of the input, as text

    def row(self) -> dict[str, Any]:
        """The row to insert, with its content hashes (:mod:`kaskad.store.decision_hashes`);
        computed in the writer thread, off the request path."""
        row = {
            "decision_id": self.decision_id,
            "at": self.at,
            "pipeline": self.pipeline,
            "release": self.release,
            "plan_hash": self.plan_hash,
            "status": self.status,
            "input": self.input,
            "output": self.output,
            "timings": self.timings,
            "errors": self.errors,
            "content_type": self.content_type,
            "fingerprint": self.fingerprint,
            "business_key": self.business_key,
            "input_sha256": input_digest(self.input),
        }
        row["record_sha256"] = record_digest(row)
        return row


@dataclass(frozen=True)
class ShadowRecord:
    """One challenger's output for a served decision (``shadow_decisions`` table);
    ``output`` holds its ``shadow.NAME.*`` fields without the prefix."""

    decision_id: str
    pipeline: str
    shadow: str
    output: dict[str, Any]
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def row(self) -> dict[str, Any]:
        decision = self.output.get("decision")
        error = self.output.get("error")
        return {
            "decision_id": self.decision_id,
            "shadow": self.shadow,
            "at": self.at,
            "pipeline": self.pipeline,
            "decision": decision if isinstance(decision, str) else None,
            "output": self.output,
            "error": error if isinstance(error, str) else None,
        }


@dataclass(frozen=True)
class PlanRecord:
    """The components of a served plan (``decision_plans`` table), sent before the first
    decision of each plan; the writer keeps the first one per plan hash."""

    plan_hash: str
    pipeline: str
    release: str | None
    components: list[dict[str, str]]
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def of(cls, plan: ServedPlan, pipeline: str, release: str | None) -> PlanRecord:
        components = [
            {"kind": c.kind, "name": c.name, "source": c.source, "sha256": c.sha256}
            for c in plan.all_components()
        ]
        return cls(plan.hash, pipeline, release, components)

    def row(self) -> dict[str, Any]:
        return {
            "plan_hash": self.plan_hash,
            "at": self.at,
            "pipeline": self.pipeline,
            "release": self.release,
            "components": self.components,
        }


Record = DecisionRecord | ShadowRecord | PlanRecord


_STOP = object()


def take_group(waiting: queue.Queue[Any], stop: object) -> tuple[list[Any], bool]:
    """Block for one item, then take every item already waiting (a group commit's group);
    True as well once ``stop`` was taken (the items before it are still returned)."""
    item = waiting.get()
    if item is stop:
        return [], True
    group = [item]
    while True:
        try:
            nxt = waiting.get_nowait()
        except queue.Empty:
            return group, False
        if nxt is stop:
            return group, True
        group.append(nxt)


class DecisionSink(Protocol):
    """Where the server sends its records: :class:`DecisionLog` (committed to the store)
    or :class:`kaskad.store.journal.JournaledLog` (fsynced to a local journal first)."""

    def submit(self, record: Record) -> Future[None]:
        """Queue ``record``; the future resolves once it is durable. Raises
        :class:`LogFull` at once when the queue is full."""
        ...

    def submit_many(self, records: list[Record]) -> list[Future[None]]:
        """Queue all of ``records`` or none: :class:`LogFull` when they do not all fit."""
        ...

    def close(self) -> None:
        """Write what is queued, then stop."""
        ...

    def health(self) -> str | None:
        """Why a new record could not be made durable now (None: it can); may check the
        store, so call it off the event loop."""
        ...


class DecisionLog:
    """The writer thread and its bounded queue over one store database."""

    def __init__(
        self,
        location: str,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
    ) -> None:
        if queue_size < 1 or write_timeout_s <= 0:
            raise ValueError("the decision log's queue size and write timeout must be positive")
        where = _engine.locate(location, None)
        database = where.url.database if where.url.get_backend_name() == "sqlite" else None
        self._folder = Path(database).parent if database else None  # SQLite: its folder
        self._engine = _engine.open_engine(where.url, json_serializer=dumps_text)
        try:
            _engine.migrate(self._engine)  # without the write timeout: migrations may be long
        except BaseException:
            self._engine.dispose()
            raise
        self._engine.dispose()  # connections from now on wait at most write_timeout_s
        _engine.limit_waits(self._engine, write_timeout_s)
        self._writer = _engine.writer(self._engine)
        self._partitions_checked = 0.0
        self._check_partitions()
        self._problem: str | None = None  # why the last commit failed
        self._last_ok = time.monotonic()  # when a commit or probe last succeeded
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._submitting = threading.Lock()  # the queue's room only grows while held
        self._thread = threading.Thread(target=self._run, name="kaskad-decision-log", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> Future[None]:
        """Queue ``record``; the future resolves once it is committed. Raises
        :class:`LogFull` at once when the queue is full."""
        [done] = self.submit_many([record])
        return done

    def submit_many(self, records: list[Record]) -> list[Future[None]]:
        """Queue all of ``records`` or none: :class:`LogFull` at once when they do not
        all fit (so a refused batch leaves no rows behind)."""
        futures: list[Future[None]] = [Future() for _ in records]
        with self._submitting:  # only the writer takes items: the room cannot shrink
            if self._queue.maxsize - self._queue.qsize() < len(records):
                raise LogFull("the decision log is full; retry shortly")
            for record, done in zip(records, futures, strict=True):
                self._queue.put_nowait((record, done))
        return futures

    def health(self) -> str | None:
        """None while decisions can be logged: a commit succeeded in the last
        :data:`IDLE_PROBE_S` seconds, or a probe row is inserted and rolled back now
        (after a fault, a SQLite store's folder must also take a :func:`room_probe`);
        otherwise why not (``/ready`` answers 503 meanwhile, and recovers without
        traffic)."""
        if self._problem is None and time.monotonic() - self._last_ok < IDLE_PROBE_S:
            return None
        probe = DecisionRecord("kaskad-ready-probe", "-", None, "-", "probe", None, None)
        try:
            with self._writer.connect() as conn:
                transaction = conn.begin()
                try:
                    conn.execute(insert(DecisionRow), [probe.row()])
                finally:
                    transaction.rollback()
            if self._problem is not None and self._folder is not None:
                room_probe(self._folder)  # SQLite's rolled-back insert never touched the disk
        except Exception as exc:
            self._fault(exc)
            return self._problem
        self._recovered()
        return None

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._engine.dispose()

    def _run(self) -> None:
        stop = False
        while not stop:
            group, stop = take_group(self._queue, _STOP)
            if group:
                self._commit(group)
                if time.monotonic() - self._partitions_checked > PARTITION_CHECK_S:
                    self._check_partitions()

    def _check_partitions(self) -> None:
        """On PostgreSQL, this month's partition of the log and the next ones exist (a
        failure is left to the next check: rows go to the default partition meanwhile)."""
        self._partitions_checked = time.monotonic()
        if self._engine.dialect.name != "postgresql":
            return
        try:
            with self._writer.begin() as conn:
                _partitions.ensure_ahead(conn)
        except Exception as exc:
            LOG.warning("could not create the decision log's next partitions: %s", exc)

    def _commit(self, group: list[Any]) -> None:
        """Commit ``group`` in one transaction; when the store refuses a record (not a
        store fault), retry every record alone so a poison record fails by itself."""
        try:
            self._insert(group)
        except Exception as exc:
            if not store_fault(exc):
                for item in group:
                    self._commit_alone(item)
                return
            self._failed(exc, [done for _, done in group])
            return
        self._recovered()
        for _, done in group:
            done.set_result(None)

    def _commit_alone(self, item: tuple[Record, Future[None]]) -> None:
        record, done = item
        try:
            self._insert([item])
        except Exception as exc:
            if store_fault(exc):
                self._failed(exc, [done])
                return
            LOG.error("decision log: record refused by the store (%s): %s", kind(record), exc)
            refused = RecordRefused("the store refused this record")
            done.set_exception(refused)
            return
        self._recovered()
        done.set_result(None)

    def _failed(self, exc: BaseException, futures: list[Future[None]]) -> None:
        self._fault(exc)
        for done in futures:
            done.set_exception(exc)

    def _fault(self, exc: BaseException) -> None:
        """Note a store fault (logged once, until it ends) and drop the pooled connections,
        so that the next attempt starts on fresh ones (a connection that saw an I/O error
        may keep failing after the fault is gone)."""
        reason = public_reason(exc)
        if self._problem is None:
            LOG.error("decision log: cannot write to the store (%s): %s", reason, exc)
        self._problem = reason
        self._engine.dispose()

    def _recovered(self) -> None:
        self._last_ok = time.monotonic()
        if self._problem is not None:
            LOG.warning("decision log: the store takes writes again (%s before)", self._problem)
        self._problem = None

    def _insert(self, group: list[Any]) -> None:
        with self._writer.begin() as conn:
            plans = {r.plan_hash: r for r, _ in group if isinstance(r, PlanRecord)}
            if plans:
                known = select(DecisionPlanRow.plan_hash).where(
                    DecisionPlanRow.plan_hash.in_(list(plans))
                )
                for plan_hash in conn.scalars(known):
                    del plans[plan_hash]
            if plans:
                conn.execute(insert(DecisionPlanRow), [r.row() for r in plans.values()])
            decisions = [r.row() for r, _ in group if isinstance(r, DecisionRecord)]
            shadows = [r.row() for r, _ in group if isinstance(r, ShadowRecord)]
            if decisions:
                conn.execute(insert(DecisionRow), decisions)
            if shadows:
                conn.execute(insert(ShadowDecisionRow), shadows)


def room_probe(folder: Path) -> None:
    """Write :data:`ROOM_PROBE_BYTES` to a file in ``folder`` and remove it: an
    ``OSError`` (no space left, read-only) when the folder cannot take a commit's worth
    of writes."""
    probe = folder / f".kaskad-room-probe-{os.getpid()}-{threading.get_ident()}"
    try:
        with probe.open("wb", buffering=0) as out:
            out.write(b"\0" * ROOM_PROBE_BYTES)
            os.fsync(out.fileno())
    finally:
        probe.unlink(missing_ok=True)


def kind(record: Record) -> str:
    """What a record is, for the log (never its values)."""
    if isinstance(record, DecisionRecord):
        return f"decision {record.decision_id}"
    if isinstance(record, ShadowRecord):
        return f"shadow {record.shadow} of {record.decision_id}"
    return f"plan {record.plan_hash}"


def store_fault(exc: BaseException) -> bool:
    """False when the store refused the values of a record (data out of range, text it
    cannot encode, a duplicate key, a value the JSON writer cannot write); True for
    anything else (unreachable, locked, read-only, full, a missing table), when no record
    could be written."""
    if isinstance(exc, (DataError, IntegrityError)):
        return False
    if isinstance(exc, DBAPIError):
        return True
    if isinstance(exc, StatementError):  # raised before the database saw the statement
        exc = exc.orig if isinstance(exc.orig, BaseException) else exc
    return not isinstance(exc, (ValueError, TypeError, OverflowError, StatementError))


def error_reason(exc: BaseException) -> str:
    """The first line of an error, for ``/ready`` and logs."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


_REASONS = (  # (words in the error, the reason shown without internals), first match wins
    (
        ("locked", "lock timeout", "statement timeout", "canceling statement"),
        "the store is locked: writes time out",
    ),
    (
        ("readonly", "read-only", "read only", "permission denied", "unable to open"),
        "the store cannot be written (read-only)",
    ),
    (("disk", "full", "no space"), "the store is full"),
    (("no such table", "does not exist", "undefinedtable"), "the decision log's table is missing"),
    (("connect", "connection", "closed", "terminat"), "the store is unreachable"),
)


def public_reason(exc: BaseException) -> str:
    """Why the log cannot be written, for ``/ready`` and clients: a kind of fault, never
    the error's text (which may hold hosts, users, paths, SQL or values)."""
    text = f"{type(exc).__name__} {exc} {getattr(exc, 'orig', '')!r}".lower()
    for words, reason in _REASONS:
        if any(w in text for w in words):
            return reason
    return "the store refuses writes"
