"""The serving service: what one server process owns, and how a request is decided.

:class:`ServeService` owns the served pipelines, the API keys, the metrics, the decision
log and its shadow worker, the promotion watcher, pinned releases and the pool of decide
threads; :meth:`ServeService.start` and :meth:`ServeService.stop` run in the app's
lifespan. The routes (:mod:`kaskad.serve.routes`, :mod:`kaskad.serve.admin`) only call it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kaskad.monitor.live import LiveDrift
from kaskad.monitor.reference import reference_for
from kaskad.serve import gctune, recording
from kaskad.serve.auth import Authenticator
from kaskad.serve.budget import ByteBudget
from kaskad.serve.coalesce import Coalescer
from kaskad.serve.config import ReleaseRef, ServeConfig
from kaskad.serve.decision_log import item_fingerprint, open_decision_log, shape_fingerprint
from kaskad.serve.errors import ServeError, internal
from kaskad.serve.inputs import BodyFormat, body_format, parse_record, parse_records, read_limited
from kaskad.serve.jsonio import FastJSONResponse
from kaskad.serve.metrics import Metrics
from kaskad.serve.openapi import openapi_schema
from kaskad.serve.pins import PinnedReleases
from kaskad.serve.pipelines import Result, ServedPipeline
from kaskad.serve.promotion import PromotionWatcher
from kaskad.serve.shadows import ShadowWorker
from kaskad.store.decisions import DecisionRecord, LogFull, PlanRecord, RecordRefused
from kaskad.store.journal import JournaledLog

Endpoint = Literal["decide", "decide-batch"]
LOGGED_REFUSALS = (413, 415, 422)
REFUSAL_REASONS = {413: "body_too_large", 415: "unsupported_media_type"}
T = TypeVar("T")


def _public(problem: str) -> str:
    """A hot-promotion problem as ``/ready`` (no key needed) shows it: the stage and the
    kind of error, never its text (hosts, users, paths); the server's log has it all."""
    ref, _, rest = problem.partition(": ")
    kind = rest.split(":", 1)[0] if rest else "error"
    return f"{ref}: the new release cannot be served ({kind}); see the server's log"


@dataclass(frozen=True)
class Answer:
    """What a decide endpoint replies: the status, the JSON body and the results behind
    it (for the metrics)."""

    status: int
    payload: Any
    results: list[Result]


@dataclass(frozen=True)
class _Body:
    """A request body as read: its bytes, its format and its declared content type."""

    data: bytes
    fmt: BodyFormat
    content_type: str | None
    held: list[Future[None]] = field(default_factory=list)  # its records in the log's queue


Handler = Callable[[ServedPipeline, _Body], Awaitable[Answer]]
Decided = tuple[Result, list[Future[None]]]  # a result and its decision-log commits


def _alone(pipeline: ServedPipeline, record: Any, shadows: bool) -> Result | BaseException:
    try:
        return pipeline.decide(record, shadows)
    except Exception as exc:
        return exc


def refusal_reason(error: ServeError) -> str:
    """The ``reason`` label of a refused body: its size, its content type, a body that
    does not parse, or a record that does not match the schema."""
    if error.status in REFUSAL_REASONS:
        return REFUSAL_REASONS[error.status]
    return "unparsable" if all(p.path is None for p in error.problems) else "schema"


class ServeService:
    """The state of one server and the work behind its decide endpoints.

    Construction loads every pipeline and opens the decision log (raising
    ``ServeConfigError`` or the library's errors); background threads start in
    :meth:`start` and end in :meth:`stop`."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.auth = Authenticator(config.api_keys, config.allow_anonymous)
        self.pipelines = {
            name: ServedPipeline.load(name, src) for name, src in config.pipelines.items()
        }
        recording.check_masking(config, self.pipelines)
        self.metrics = Metrics()
        self.log = open_decision_log(config)  # sync or journal mode
        if isinstance(self.log, JournaledLog):
            self.metrics.journal_backlog.set_function(self.log.backlog_bytes)
        self.shadows = (
            ShadowWorker(self.log, self.metrics, config.shadow_queue_size)
            if self.log is not None
            else None
        )
        self._retry = {"Retry-After": str(config.retry_after_s)}
        self.budget = ByteBudget(config.queue_bytes)  # bodies held until their records commit
        self._threads = ThreadPoolExecutor(
            config.decide_threads, thread_name_prefix="kaskad-decide"
        )
        # micro-batching of concurrent /decide requests (kaskad.serve.coalesce)
        self._coalescer: Coalescer[_Body, Decided] | None = (
            Coalescer(
                config.batch_wait_ms / 1000,
                config.max_batch,
                self._decide_coalesced,
                self.metrics.batch_size.observe,
            )
            if config.batch_wait_ms > 0 and config.max_batch > 1
            else None
        )
        self.watcher = PromotionWatcher(
            self.pipelines,
            {n: s for n, s in config.pipelines.items() if isinstance(s, ReleaseRef)},
            config.promotion_poll_s,
            threading.Lock(),
        )
        self.pins = PinnedReleases(config.pipelines, self.watcher.store)
        self._planned: set[str] = set()  # plan hashes whose components are in the log
        self._documents: dict[tuple[str, ...], dict[str, Any]] = {}  # by the plans served
        self._collector: gctune.Previous | None = None
        self._live: dict[str, LiveDrift | None] = {}  # by release, once its reference is read
        self._live_lock = threading.Lock()
        for name, served in self.pipelines.items():
            fields = [f.name for f in served.plan.schema.fields]
            self.metrics.prepare(name, fields, served.rule_columns)

    # ---- lifespan ---------------------------------------------------------------------

    def start(self) -> None:
        """Tune the garbage collector (if configured) and start following promotions."""
        self._collector = gctune.tune_for_serving() if self.config.tune_gc else None
        self.watcher.start()

    async def stop(self) -> None:
        """Stop the watcher, drain the shadow worker and the decision log, end the pool."""
        if self._collector is not None:
            gctune.restore(self._collector)
            self._collector = None
        await run_in_threadpool(self.watcher.stop)
        if self.shadows is not None:
            await run_in_threadpool(self.shadows.close)
        if self.log is not None:
            await run_in_threadpool(self.log.close)
        self._threads.shutdown(wait=False)

    # ---- the decision log -------------------------------------------------------------

    def submit(self, pipeline: ServedPipeline, records: list[DecisionRecord]) -> list[Future[None]]:
        """Queue ``records`` for the decision log (any thread); 503 when shed. The first
        record of a plan is preceded by its components (``decision_plans``)."""
        log = self.log
        if log is None or not records:
            return []
        plan_hash = pipeline.plan.hash
        planned = self._planned
        try:
            futures = []
            if plan_hash not in planned:  # idempotent: the writer keeps the first per hash
                plan = PlanRecord.of(pipeline.plan, pipeline.name, pipeline.release)
                future = log.submit(plan)
                future.add_done_callback(
                    lambda f: planned.add(plan_hash) if f.exception() is None else None
                )
                futures.append(future)
            # all or none: a refused batch leaves no decision behind
            return futures + log.submit_many(list(records))
        except LogFull:
            raise ServeError(
                503, "S503", "overloaded: retry shortly", headers=self._retry
            ) from None

    async def committed(self, futures: list[Future[None]]) -> None:
        """Return once every queued record is committed; 503 when not writable."""
        try:
            for future in futures:
                await asyncio.wrap_future(future)
        except RecordRefused as exc:
            message = "the decision log refused this record; see the server log"
            raise internal(500, "S511", message, exc) from exc
        except Exception as exc:
            message = "the decision log cannot be written: retry shortly"
            raise internal(503, "S503", message, exc, headers=self._retry) from exc

    def _run_shadows_later(self, pipeline: ServedPipeline, result: Result) -> None:
        """Queue the challengers of a logged decision for the shadow worker."""
        if self.shadows is not None and result.shadow_job is not None:
            decision_id = str(result.body["decision_id"])
            self.shadows.submit(pipeline.name, decision_id, result.shadow_job, result.decision)

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the decide threads (CPU work stays off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    # ---- deciding ---------------------------------------------------------------------

    def _decide_and_log(self, pipeline: ServedPipeline, body: _Body) -> Decided:
        record = parse_record(body.data, body.fmt, pipeline.plan.schema, self.config.max_depth)
        result = pipeline.decide(record, self.shadows is None)
        return self._log_one(pipeline, body, record, result)

    def _decide_together(
        self, pipeline: ServedPipeline, bodies: list[_Body]
    ) -> list[Decided | BaseException]:
        """Coalesced ``/decide`` requests in one call: each body parsed, the records
        decided together (the batch executor past ``batch_threshold``), each logged as its
        own request. Every outcome is its request's own: a body that does not parse, or a
        record the log refuses, fails alone; if deciding them together raises, each record
        is decided alone."""
        if len(bodies) == 1:
            try:
                return [self._decide_and_log(pipeline, bodies[0])]
            except Exception as exc:
                return [exc]
        outcomes: list[Decided | BaseException | None] = [None] * len(bodies)
        records: list[Any] = []
        where: list[int] = []
        schema, depth = pipeline.plan.schema, self.config.max_depth
        for i, body in enumerate(bodies):
            try:
                records.append(parse_record(body.data, body.fmt, schema, depth))
                where.append(i)
            except Exception as exc:
                outcomes[i] = exc
        shadows = self.shadows is None
        results: list[Result | BaseException]
        try:
            results = list(
                pipeline.decide_many(records, self.config.batch_threshold, shadows, timed=True)
            )
        except Exception:  # one record's problem stays its own: each is decided alone
            results = [_alone(pipeline, record, shadows) for record in records]
        for i, record, result in zip(where, records, results, strict=True):
            try:
                if isinstance(result, BaseException):
                    raise result
                outcomes[i] = self._log_one(pipeline, bodies[i], record, result)
            except Exception as exc:
                outcomes[i] = exc
        return [o if o is not None else RuntimeError("not decided") for o in outcomes]

    async def _decide_coalesced(
        self, pipeline: ServedPipeline, bodies: list[_Body]
    ) -> list[Decided | BaseException]:
        return await self.off_loop(self._decide_together, pipeline, bodies)

    def _log_one(
        self, pipeline: ServedPipeline, body: _Body, record: Any, result: Result
    ) -> Decided:
        """Observe one decided (or rejected) record and queue it for the decision log."""
        # every request's shape: the body's own when refused, the parsed record's otherwise
        # (no second parse; for JSON the two are the same)
        fingerprint = (
            shape_fingerprint(body.data, body.fmt)
            if result.rejected
            else item_fingerprint(record, body.fmt)
        )
        self._observe(pipeline, body, record, result, fingerprint)
        logged = self.submit(
            pipeline,
            [
                recording.for_result(
                    pipeline,
                    result,
                    record,
                    body.content_type,
                    fingerprint,
                    self.config.masking_key,
                )
            ],
        )
        body.held.extend(logged)
        return result, logged

    async def _decide(self, pipeline: ServedPipeline, body: _Body) -> Answer:
        if self._coalescer is not None:
            result, logged = await self._coalescer.submit(pipeline, body)
        else:
            result, logged = await self.off_loop(self._decide_and_log, pipeline, body)
        await self.committed(logged)
        self._run_shadows_later(pipeline, result)
        if result.rejected:
            rejected = {"code": "S422", "message": "the record does not match the schema"}
            return Answer(422, {**rejected, **result.body}, [result])
        if result.failed and result.decision is None:  # no fallback: a problem, not a bare 500
            failed = {
                "code": "S510",
                "message": f"{result.failed_step} failed for the record and the pipeline "
                "declares no fallback (on_error); the failure is in the decision log",
            }
            return Answer(500, {**failed, **result.body}, [result])
        return Answer(200, result.body, [result])

    def _decide_list_and_log(
        self, pipeline: ServedPipeline, body: _Body
    ) -> tuple[list[Result], list[Future[None]]]:
        records = parse_records(body.data, body.fmt, pipeline.plan.schema, self.config.max_depth)
        most = self.config.queue_size
        if self.log is not None and len(records) > most:
            raise ServeError(
                413,
                "S413",
                f"a batch of {len(records)} records is more than the decision log takes at"
                f" once ({most}): nothing was decided or logged; send smaller batches",
            )
        results = pipeline.decide_many(records, self.config.batch_threshold, self.shadows is None)
        fingerprints = [item_fingerprint(record, body.fmt) for record in records]
        for r, record, fingerprint in zip(results, records, fingerprints, strict=True):
            self._observe(pipeline, body, record, r, fingerprint)
        logged = self.submit(
            pipeline,
            [
                recording.for_result(
                    pipeline, r, record, body.content_type, fingerprint, self.config.masking_key
                )
                for r, record, fingerprint in zip(results, records, fingerprints, strict=True)
            ],
        )
        body.held.extend(logged)
        return results, logged

    async def _decide_batch(self, pipeline: ServedPipeline, body: _Body) -> Answer:
        results, logged = await self.off_loop(self._decide_list_and_log, pipeline, body)
        await self.committed(logged)
        for result in results:
            self._run_shadows_later(pipeline, result)
        return Answer(200, [r.body for r in results], results)

    async def handle(self, name: str, endpoint: Endpoint, request: Request) -> Response:
        """A decide request end to end: key, pipeline (or a pinned release), body, the
        decision, the log, the metrics; refused bodies are logged too."""
        handler: Handler = self._decide if endpoint == "decide" else self._decide_batch
        start = time.perf_counter()
        status = 500
        held: list[Future[None]] = []  # the request's records in the decision log's queue
        reserved = 0  # bytes of the byte budget the request holds
        try:
            self.auth.check(request.headers, "decide")
            pipeline = self._pipeline(name)
            if (pin := request.query_params.get("release")) is not None:
                pipeline = await self.off_loop(self.pins.get, name, pin)
            content_type = request.headers.get("content-type")
            data: bytes | None = None
            fmt: BodyFormat | None = None
            try:
                data = await read_limited(
                    request.stream(),
                    request.headers.get("content-length"),
                    self.config.body_limit,
                )
                reserved = self._reserve(len(data))
                fmt = body_format(content_type)
                answer = await handler(pipeline, _Body(data, fmt, content_type, held))
            except ServeError as exc:
                if exc.status in LOGGED_REFUSALS:
                    self.metrics.rejected(name, exc.problems, refusal_reason(exc))
                    shape = shape_fingerprint(data, fmt) if data is not None else None
                    self.metrics.input_seen(name, content_type, shape)
                if exc.status not in LOGGED_REFUSALS or self.log is None:
                    raise
                refused = recording.for_refused_body(pipeline, exc, data, fmt, content_type)
                queued = self.submit(pipeline, [refused])
                held.extend(queued)
                await self.committed(queued)
                status = exc.status
                payload = {**exc.to_dict(), "decision_id": refused.decision_id}
                return FastJSONResponse(
                    payload, status_code=exc.status, headers=exc.headers or None
                )
            status = answer.status
            self._count(name, pipeline, answer.results)
            return FastJSONResponse(answer.payload, status_code=answer.status)
        except ServeError as exc:
            status = exc.status
            raise
        finally:
            if reserved:  # returned once its records are durable, even if the client left
                self.budget.release_after(reserved, held)
            label = name if name in self.pipelines else "(unknown)"
            self.metrics.request(label, endpoint, status, time.perf_counter() - start)

    def _reserve(self, size: int) -> int:
        """Hold ``size`` bytes of the byte budget for a request (the bytes to release);
        503 (S530) with Retry-After when the server already holds too many."""
        if self.log is None:
            return 0  # nothing waits for a writer: the body is freed with its request
        if not self.budget.reserve(size):
            limit = self.budget.limit
            raise ServeError(
                503,
                "S530",
                f"overloaded: the server holds {limit} bytes of requests waiting for the"
                " decision log (--queue-bytes); retry shortly",
                headers=self._retry,
            )
        return size

    def _pipeline(self, name: str) -> ServedPipeline:
        pipeline = self.pipelines.get(name)
        if pipeline is None:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise ServeError(404, "S404", f"no pipeline '{name}' is served (served: {known})")
        return pipeline

    def _count(self, name: str, pipeline: ServedPipeline, results: list[Result]) -> None:
        for r in results:
            if r.rejected:
                self.metrics.rejected(name, r.problems)
            elif r.failed:
                self.metrics.failed(name, r.failed_step, r.decision is not None)
            else:
                scores = {f: r.body.get(f) for f in pipeline.score_fields}
                self.metrics.decided(name, r.decision, r.rules, r.timings, scores)

    # ---- monitoring ---------------------------------------------------------------------

    def _observe(
        self, pipeline: ServedPipeline, body: _Body, record: Any, result: Result, shape: str
    ) -> None:
        """The monitoring series of one record: its media kind and shape; for an accepted
        record, its missing input fields and the live drift window of its release."""
        self.metrics.input_seen(pipeline.name, body.content_type, shape)
        if result.rejected or not isinstance(record, dict):
            return
        missing = [f.name for f in pipeline.plan.schema.fields if record.get(f.name) is None]
        if missing:
            self.metrics.missing(pipeline.name, missing)
        live = self._live_drift(pipeline)
        if live is not None:
            live.observe(record, result.body)

    def _live_drift(self, pipeline: ServedPipeline) -> LiveDrift | None:
        """The live drift window of the release ``pipeline`` serves (None: no release, or
        no reference frozen for it); the reference is read from the store once."""
        release = pipeline.release
        if release is None:
            return None
        if release in self._live:
            return self._live[release]
        source = self.config.pipelines.get(pipeline.name)
        with self._live_lock:
            if release not in self._live:
                reference = (
                    reference_for(source.store, release) if isinstance(source, ReleaseRef) else None
                )
                self._live[release] = LiveDrift(reference) if reference else None
        return self._live[release]

    def metrics_text(self) -> bytes:
        """The Prometheus exposition, the live drift gauges and the models' compiled
        levels brought up to date first."""
        for name, served in list(self.pipelines.items()):
            live = self._live.get(served.release or "")
            if live is not None:
                self.metrics.drift(name, live.results)
            for model, level in served.compiled_levels().items():
                self.metrics.compiled_level.labels(name, model).set(level)
        return self.metrics.render()

    # ---- health and description -------------------------------------------------------

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        """200 once pipelines are loaded and decisions can be logged; 503 otherwise (a
        load balancer then sends traffic elsewhere), with the release each one serves."""
        problem = await self.off_loop(self.log.health) if self.log is not None else None
        pipelines = self.pipelines
        status = "no pipelines" if not pipelines else "decision log failing" if problem else "ready"
        problems = self.watcher.problems
        body = {
            "status": status,
            **({"decision_log_error": problem} if problem else {}),
            "pipelines": {
                name: {
                    "release": p.release,
                    "plan_hash": p.plan.hash,
                    **({"promotion_error": _public(problems[name])} if name in problems else {}),
                }
                for name, p in list(pipelines.items())
            },
        }
        return (200 if status == "ready" else 503), body

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of the plans served now (a promotion may swap one: the
        document is built again for a new set of plans)."""
        served = dict(self.pipelines)
        key = tuple(f"{name}={p.plan.hash}" for name, p in sorted(served.items()))
        if key not in self._documents:
            self._documents.clear()
            self._documents[key] = openapi_schema({name: p.plan for name, p in served.items()})
        return self._documents[key]
