"""The HTTP server: a thin layer over the library's executors.

``create_app(config)`` builds a FastAPI app with its own pipelines, keys and metrics
registry (no module-level app or globals):

- ``POST /v1/pipelines/{name}/decide``: one record (JSON or XML) → the decision, with a
  ``decision_id`` (uuid4), ``release`` and ``plan_hash``; a rejected record → 422 with
  ``{"errors": [{"field": ..., "problem": ...}]}``.
- ``POST /v1/pipelines/{name}/decide-batch``: a list of records → a list of results in
  the same order (200; rejected items carry ``status: rejected`` and their ``errors``).
- ``GET /health`` (process up), ``GET /ready`` (pipelines loaded), ``GET /metrics``
  (Prometheus text format; needs the ``admin`` role unless anonymous access is on).

With ``ServeConfig.decision_log`` set, every decision and every refused or rejected body
(413, 415, 422) is written to the durable decision log before the reply is sent (see
:mod:`kaskad.store.decisions`); when the log's queue is full the request gets 503 with
``Retry-After``.

With a decision log, shadow challengers run off the response path: ``decide`` and
``decide-batch`` reply with the champion's results only (no ``shadow.*`` fields) and
queue the challengers for a bounded background worker, which stores their outputs in the
``shadow_decisions`` table keyed by the reply's ``decision_id`` (see
:mod:`kaskad.serve.shadows`); a full queue skips the shadow run and counts it in
``kaskad_shadow_skipped_total``. For a batch decided as a frame, the challengers run over
the whole frame at once. A server without a decision log
computes shadows inline (they are returned, not stored).

Pipelines served from a stage reference (``ReleaseRef``, e.g. ``credit@production``)
follow promotions and rollbacks while the server runs: a background thread started in the
lifespan polls the stage every ``promotion_poll_s`` seconds and swaps in the new release
once it is loaded and verified (see :mod:`kaskad.serve.promotion`); ``/ready`` shows the
release each pipeline currently serves, and every response names the release that
decided it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from kaskad.serve import gctune, recording
from kaskad.serve.admin import admin_router
from kaskad.serve.auth import Authenticator
from kaskad.serve.config import ReleaseRef, ServeConfig
from kaskad.serve.decision_log import item_fingerprint, open_decision_log, shape_fingerprint
from kaskad.serve.errors import ServeError
from kaskad.serve.inputs import body_format, parse_record, parse_records, read_limited
from kaskad.serve.jsonio import FastJSONResponse
from kaskad.serve.metrics import Metrics
from kaskad.serve.openapi import openapi_schema
from kaskad.serve.pins import PinnedReleases
from kaskad.serve.pipelines import Result, ServedPipeline
from kaskad.serve.promotion import PromotionWatcher
from kaskad.serve.shadows import ShadowWorker
from kaskad.store.decisions import DecisionRecord, LogFull, PlanRecord
from kaskad.store.journal import JournaledLog

Handler = Callable[
    [ServedPipeline, bytes, str, str | None], Awaitable[tuple[int, Any, list[Result], list[Any]]]
]
LOGGED_REFUSALS = (413, 415, 422)
REFUSAL_REASONS = {413: "body_too_large", 415: "unsupported_media_type"}
T = TypeVar("T")


def refusal_reason(error: ServeError) -> str:
    """The ``reason`` label of a refused body: its size, its content type, a body that
    does not parse, or a record that does not match the schema."""
    if error.status in REFUSAL_REASONS:
        return REFUSAL_REASONS[error.status]
    return "unparsable" if all(p.field is None for p in error.problems) else "schema"


def create_app(config: ServeConfig) -> FastAPI:
    """A ready-to-run app; raises ``ServeConfigError`` for an unsafe configuration and the
    library's errors when a pipeline or release cannot be loaded (or the decision log's
    store cannot be opened)."""
    auth = Authenticator(config.api_keys, config.allow_anonymous)
    pipelines = {name: ServedPipeline.load(name, src) for name, src in config.pipelines.items()}
    metrics = Metrics()
    log = open_decision_log(config)  # sync or journal mode
    if isinstance(log, JournaledLog):
        metrics.journal_backlog.set_function(log.backlog_bytes)
    shadows = ShadowWorker(log, metrics, config.shadow_queue_size) if log is not None else None
    retry = {"Retry-After": str(config.retry_after_s)}
    threads = ThreadPoolExecutor(config.decide_threads, thread_name_prefix="kaskad-decide")
    watcher = PromotionWatcher(
        pipelines,
        {n: s for n, s in config.pipelines.items() if isinstance(s, ReleaseRef)},
        config.promotion_poll_s,
        threading.Lock(),
    )
    pins = PinnedReleases(config.pipelines, watcher.store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        collector = gctune.tune_for_serving() if config.tune_gc else None
        watcher.start()
        try:
            yield
        finally:
            if collector is not None:
                gctune.restore(collector)
            await run_in_threadpool(watcher.stop)
            if shadows is not None:
                await run_in_threadpool(shadows.close)
            if log is not None:
                await run_in_threadpool(log.close)
            threads.shutdown(wait=False)

    app = FastAPI(
        title="kaskad", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.decision_log = log
    app.state.promotion = watcher
    app.state.shadows = shadows

    @app.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers or None)

    planned: set[str] = set()  # plan hashes whose components are in the log

    def submit(pipeline: ServedPipeline, records: list[DecisionRecord]) -> list[Future[None]]:
        """Queue ``records`` for the decision log (any thread); 503 when shed. The first
        record of a plan is preceded by its components (``decision_plans``)."""
        if log is None or not records:
            return []
        plan_hash = pipeline.plan.hash
        try:
            futures = []
            if plan_hash not in planned:
                plan = PlanRecord.of(pipeline.plan, pipeline.name, pipeline.release)
                future = log.submit(plan)
                future.add_done_callback(
                    lambda f: planned.add(plan_hash) if f.exception() is None else None
                )
                futures.append(future)
            return futures + [log.submit(r) for r in records]
        except LogFull:
            raise ServeError(503, "S503", "overloaded: retry shortly", headers=retry) from None

    async def committed(futures: list[Future[None]]) -> None:
        """Return once every queued record is committed; 503 when not writable."""
        try:
            for future in futures:
                await asyncio.wrap_future(future)
        except Exception as exc:
            raise ServeError(
                503, "S503", f"the decision log cannot be written: {exc}", headers=retry
            ) from exc

    async def write(pipeline: ServedPipeline, records: list[DecisionRecord]) -> None:
        await committed(submit(pipeline, records))

    def run_shadows_later(pipeline: ServedPipeline, result: Result) -> None:
        """Queue the challengers of a logged decision for the shadow worker."""
        if shadows is not None and result.shadow_job is not None:
            shadows.submit(pipeline.name, str(result.body["decision_id"]), result.shadow_job)

    async def off_loop(fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the decide threads (CPU work stays off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(threads, fn, *args)

    def decide_and_log(
        pipeline: ServedPipeline, body: bytes, fmt: str, content_type: str | None
    ) -> tuple[Any, Result, list[Future[None]]]:
        record = parse_record(body, fmt, pipeline.plan.schema)
        result = pipeline.decide(record, shadows is None)
        fingerprint = shape_fingerprint(body, fmt) if result.rejected else None
        logged = submit(
            pipeline,
            [recording.for_result(pipeline, result, record, content_type, fingerprint)],
        )
        return record, result, logged

    async def decide(
        pipeline: ServedPipeline, body: bytes, fmt: str, content_type: str | None
    ) -> tuple[int, Any, list[Result], list[Any]]:
        record, result, logged = await off_loop(decide_and_log, pipeline, body, fmt, content_type)
        await committed(logged)
        run_shadows_later(pipeline, result)
        if result.rejected:
            rejected = {"code": "S422", "message": "the record does not match the schema"}
            return 422, {**rejected, **result.body}, [result], [record]
        return 200, result.body, [result], [record]

    def decide_list_and_log(
        pipeline: ServedPipeline, body: bytes, fmt: str, content_type: str | None
    ) -> tuple[list[Any], list[Result], list[Future[None]]]:
        records = parse_records(body, fmt, pipeline.plan.schema)
        results = pipeline.decide_many(records, config.batch_threshold, shadows is None)
        logged = submit(
            pipeline,
            [
                recording.for_result(
                    pipeline,
                    r,
                    record,
                    content_type,
                    item_fingerprint(record, fmt) if r.rejected else None,
                )
                for r, record in zip(results, records, strict=True)
            ],
        )
        return records, results, logged

    async def decide_batch(
        pipeline: ServedPipeline, body: bytes, fmt: str, content_type: str | None
    ) -> tuple[int, Any, list[Result], list[Any]]:
        records, results, logged = await off_loop(
            decide_list_and_log, pipeline, body, fmt, content_type
        )
        await committed(logged)
        for result in results:
            run_shadows_later(pipeline, result)
        return 200, [r.body for r in results], results, records

    async def handle(name: str, endpoint: str, request: Request, handler: Handler) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            auth.check(request.headers, "decide")
            pipeline = pipelines.get(name)
            if pipeline is None:
                known = ", ".join(sorted(pipelines)) or "none"
                raise ServeError(404, "S404", f"no pipeline '{name}' is served (served: {known})")
            if (pin := request.query_params.get("release")) is not None:
                pipeline = await off_loop(pins.get, name, pin)
            content_type = request.headers.get("content-type")
            body: bytes | None = None
            fmt: str | None = None
            try:
                body = await read_limited(
                    request.stream(), request.headers.get("content-length"), config.body_limit
                )
                fmt = body_format(content_type)
                status, payload, results, _ = await handler(pipeline, body, fmt, content_type)
            except ServeError as exc:
                if exc.status in LOGGED_REFUSALS:
                    metrics.rejected(name, exc.problems, refusal_reason(exc))
                if exc.status not in LOGGED_REFUSALS or log is None:
                    raise
                refused = recording.for_refused_body(pipeline, exc, body, fmt, content_type)
                await write(pipeline, [refused])
                status = exc.status
                payload = {**exc.to_dict(), "decision_id": refused.decision_id}
                return FastJSONResponse(
                    payload, status_code=exc.status, headers=exc.headers or None
                )
            for r in results:
                if r.rejected:
                    metrics.rejected(name, r.problems)
                else:
                    scores = {f: r.body.get(f) for f in pipeline.score_fields}
                    metrics.decided(name, r.decision, r.rules, r.timings, scores)
            return FastJSONResponse(payload, status_code=status)
        except ServeError as exc:
            status = exc.status
            raise
        finally:
            label = name if name in pipelines else "(unknown)"
            metrics.request(label, endpoint, status, time.perf_counter() - start)

    @app.post("/v1/pipelines/{name}/decide")
    async def decide_one(name: str, request: Request) -> Response:
        return await handle(name, "decide", request, decide)

    @app.post("/v1/pipelines/{name}/decide-batch")
    async def decide_list(name: str, request: Request) -> Response:
        return await handle(name, "decide-batch", request, decide_batch)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """200 once pipelines are loaded and decisions can be logged; 503 otherwise (a load
        balancer then sends traffic elsewhere)."""
        problem = await off_loop(log.health) if log is not None else None
        status = "no pipelines" if not pipelines else "decision log failing" if problem else "ready"
        body = {
            "status": status,
            **({"decision_log_error": problem} if problem else {}),
            "pipelines": {
                name: {
                    "release": p.release,
                    "plan_hash": p.plan.hash,
                    **(
                        {"promotion_error": watcher.problems[name]}
                        if name in watcher.problems
                        else {}
                    ),
                }
                for name, p in list(pipelines.items())
            },
        }
        return JSONResponse(body, status_code=200 if status == "ready" else 503)

    documents: dict[tuple[str, ...], dict[str, Any]] = {}  # by the plans served

    @app.get("/openapi.json")
    async def openapi() -> JSONResponse:
        """The API of the served pipelines, with request and response schemas generated
        from each pipeline's input schema and result fields."""
        served = dict(pipelines)  # a promotion may swap a plan: describe what is served now
        key = tuple(f"{name}={p.plan.hash}" for name, p in sorted(served.items()))
        if key not in documents:
            documents.clear()
            documents[key] = openapi_schema({name: p.plan for name, p in served.items()})
        return JSONResponse(documents[key])

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Response:
        auth.check(request.headers, "admin")
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(admin_router(auth, watcher, pipelines, config.pipelines))  # see admin.py
    return app
