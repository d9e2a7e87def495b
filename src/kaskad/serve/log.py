"""The durable decision log: every decision and every rejection, written before the reply.

A single writer thread takes records from a bounded queue and commits them in groups: all
records waiting when a commit starts go into one transaction (group commit). Each request
waits for the future of its record, resolved after that commit, so a 200 is only sent for
a decision that is already durable. A full queue refuses the record at once
(:class:`LogFull`, answered with 503 and ``Retry-After``), so memory stays bounded under
overload.

Inputs are stored with the schema's ``sensitive: true`` fields (nested ones too) replaced
by ``sha256:<hex>`` of their value. Rejections also keep the request's content type and a
fingerprint of the body's shape (see :func:`shape_fingerprint`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import defusedxml.ElementTree as SafeET
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from kaskad.compile.plan import Plan
from kaskad.errors import KaskadError
from kaskad.serve.jsonio import dumps_text
from kaskad.spec.common import sha256_text
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field
from kaskad.store import _engine
from kaskad.store.defaults import DEFAULT_QUEUE_SIZE as DEFAULT_QUEUE_SIZE
from kaskad.store.tables import DecisionPlanRow, DecisionRow, ShadowDecisionRow


class LogFull(KaskadError):
    """The decision log's queue is full: the request is shed (503, ``Retry-After``)."""

    code = "S503"


@dataclass(frozen=True)
class DecisionRecord:
    """One row of the log; ``input`` must already be masked (see :func:`mask`)."""

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

    def row(self) -> dict[str, Any]:
        return {
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
        }


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
    def of(cls, plan: Plan, pipeline: str, release: str | None) -> PlanRecord:
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


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def mask(record: Any, schema: Schema) -> Any:
    """``record`` with every sensitive field's value (at any depth) replaced by
    ``sha256:<hex>``; missing values stay missing, unknown keys are kept as they are.

    Parts of the record without a sensitive field beneath them are shared with
    ``record``, not copied (the caller must not modify either afterwards)."""
    masker = _masker(schema.fields)
    return record if masker is None else masker(record)


Masker = Callable[[Any], Any]


@functools.lru_cache(maxsize=256)
def _masker(fields: tuple[Field, ...]) -> Masker | None:
    """A function masking values of an object with these fields, compiled once per
    schema: it visits only the paths that lead to a sensitive field (None: no such path)."""
    plan: dict[str, Masker | None] = {}  # field name -> masker of its value; None: digest
    for f in fields:
        if f.sensitive:
            plan[f.name] = None
        elif (inner := _value_masker(f.dtype)) is not None:
            plan[f.name] = inner
    if not plan:
        return None
    steps = tuple(plan.items())

    def apply(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out = dict(value)
        for name, inner in steps:
            if name in out and (item := out[name]) is not None:
                out[name] = _digest(item) if inner is None else inner(item)
        return out

    return apply


def _value_masker(dtype: DType) -> Masker | None:
    if dtype.kind == "object":
        return _masker(dtype.fields)
    if dtype.kind == "list" and dtype.item is not None:
        item = _value_masker(dtype.item)
        if item is None:
            return None
        return lambda value: [item(v) for v in value] if isinstance(value, list) else value
    return None


def shape_fingerprint(body: bytes, fmt: str | None) -> str:
    """sha256 of the body's format and the sorted set of its key paths with value types.

    Values do not count, the layout does: the same record with other values has the same
    fingerprint; XML instead of JSON, a renamed or moved field, or a new type differ.
    """
    for kind in (fmt,) if fmt else ("json", "xml"):  # an unknown content type: guess
        paths: set[str] = set()
        try:
            if kind == "json":
                json_paths(json.loads(body), "$", paths)
            else:
                _xml_paths(SafeET.fromstring(body), "$", paths)
            break
        except Exception:  # an unparsable body: its format and that it did not parse
            paths = {"$:unparsable"}
    kind = fmt or ("unknown" if paths == {"$:unparsable"} else kind)
    return _shape_digest(kind, paths)


def item_fingerprint(record: Any, fmt: str) -> str:
    """The shape fingerprint of one parsed item of a batch."""
    paths: set[str] = set()
    json_paths(record, "$", paths)
    return _shape_digest(fmt, paths)


def _shape_digest(kind: str, paths: set[str]) -> str:
    return sha256_text(kind + "\n" + "\n".join(sorted(paths)))


def json_paths(value: Any, path: str, paths: set[str]) -> None:
    if isinstance(value, dict):
        paths.add(f"{path}:object")
        for key, item in value.items():
            json_paths(item, f"{path}.{key}", paths)
    elif isinstance(value, list):
        paths.add(f"{path}:list")
        for item in value:
            json_paths(item, f"{path}[]", paths)
    else:
        paths.add(f"{path}:{type(value).__name__}")


def _xml_paths(element: Any, path: str, paths: set[str]) -> None:
    here = f"{path}.{element.tag}"
    children = list(element)
    paths.add(f"{here}:{'element' if children else 'text'}")
    for child in children:
        _xml_paths(child, here, paths)


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
    or :class:`kaskad.serve.journal.JournaledLog` (fsynced to a local journal first)."""

    def submit(self, record: Record) -> Future[None]:
        """Queue ``record``; the future resolves once it is durable. Raises
        :class:`LogFull` at once when the queue is full."""
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

    def __init__(self, location: str, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("the decision log's queue size must be at least 1")
        where = _engine.locate(location, None)
        self._engine = _engine.open_engine(where.url, json_serializer=dumps_text)
        try:
            _engine.migrate(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._writer = _engine.writer(self._engine)
        self._problem: str | None = None  # why the last commit failed
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="kaskad-decision-log", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> Future[None]:
        """Queue ``record``; the future resolves once it is committed. Raises
        :class:`LogFull` at once when the queue is full."""
        done: Future[None] = Future()
        try:
            self._queue.put_nowait((record, done))
        except queue.Full:
            raise LogFull("the decision log is full; retry shortly") from None
        return done

    def health(self) -> str | None:
        """None while commits succeed; after a failed commit, a probe row is inserted and
        rolled back on each call, and the failure returned until that works again
        (``/ready`` answers 503 meanwhile, and recovers without traffic)."""
        if self._problem is None:
            return None
        probe = DecisionRecord("kaskad-ready-probe", "-", None, "-", "probe", None, None)
        try:
            with self._writer.connect() as conn:
                transaction = conn.begin()
                try:
                    conn.execute(insert(DecisionRow), [probe.row()])
                finally:
                    transaction.rollback()
        except Exception as exc:
            self._problem = error_reason(exc)
            return self._problem
        self._problem = None
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

    def _commit(self, group: list[Any]) -> None:
        futures: list[Future[None]] = [done for _, done in group]
        try:
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
        except Exception as exc:
            self._problem = error_reason(exc)
            for done in futures:
                done.set_exception(exc)
            return
        self._problem = None
        for done in futures:
            done.set_result(None)


def error_reason(exc: BaseException) -> str:
    """The first line of an error, for ``/ready`` and logs."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def read_decisions(location: str, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows of the log (all, or those with these ids) as dicts, oldest first."""
    return _read_rows(location, DecisionRow, ids)


def read_shadow_decisions(location: str, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows of the ``shadow_decisions`` table (all, or those of these decision ids)."""
    return _read_rows(location, ShadowDecisionRow, ids)


def read_decision_plans(location: str) -> dict[str, dict[str, Any]]:
    """Rows of the ``decision_plans`` table by plan hash: the components (kind, name,
    source, sha256) behind the ``plan_hash`` of logged decisions."""
    return {row["plan_hash"]: row for row in _read_rows(location, DecisionPlanRow, None)}


def _read_rows(
    location: str,
    table: type[DecisionRow] | type[ShadowDecisionRow] | type[DecisionPlanRow],
    ids: Iterable[str] | None,
) -> list[dict[str, Any]]:
    query = select(table).order_by(table.at)
    if ids is not None and table is not DecisionPlanRow:
        query = query.where(table.decision_id.in_(list(ids)))  # type: ignore[union-attr]
    with _engine.reading(location) as engine, Session(engine) as session:
        return [
            {c.name: getattr(row, c.key) for c in table.__table__.columns}
            for row in session.scalars(query)
        ]
