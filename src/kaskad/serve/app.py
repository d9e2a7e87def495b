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

This is the first slice of real-time serving. Next slices add: the durable decision log,
shadow variants run off the response path, hot promotion of releases, overload shedding
(503), the latency benchmark and the ``kaskad serve`` command.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from kaskad.serve.auth import Authenticator
from kaskad.serve.config import ServeConfig
from kaskad.serve.errors import ServeError
from kaskad.serve.inputs import body_format, parse_record, parse_records, read_limited
from kaskad.serve.metrics import Metrics
from kaskad.serve.pipelines import Result, ServedPipeline

Handler = Callable[[ServedPipeline, Request], Awaitable[tuple[int, Any, list[Result]]]]


def create_app(config: ServeConfig) -> FastAPI:
    """A ready-to-run app; raises ``ServeConfigError`` for an unsafe configuration and the
    library's errors when a pipeline or release cannot be loaded."""
    auth = Authenticator(config.api_keys, config.allow_anonymous)
    pipelines = {name: ServedPipeline.load(name, src) for name, src in config.pipelines.items()}
    metrics = Metrics()
    app = FastAPI(title="kaskad", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    async def _body(request: Request) -> tuple[bytes, str]:
        fmt = body_format(request.headers.get("content-type"))
        body = await read_limited(
            request.stream(), request.headers.get("content-length"), config.body_limit
        )
        return body, fmt

    async def decide(pipeline: ServedPipeline, request: Request) -> tuple[int, Any, list[Result]]:
        body, fmt = await _body(request)
        record = parse_record(body, fmt, pipeline.plan.schema)
        result = await run_in_threadpool(pipeline.decide, record)
        if result.rejected:
            rejected = {"code": "S422", "message": "the record does not match the schema"}
            return 422, {**rejected, **result.body}, [result]
        return 200, result.body, [result]

    async def decide_batch(
        pipeline: ServedPipeline, request: Request
    ) -> tuple[int, Any, list[Result]]:
        body, fmt = await _body(request)
        records = parse_records(body, fmt, pipeline.plan.schema)
        results = await run_in_threadpool(pipeline.decide_many, records, config.batch_threshold)
        return 200, [r.body for r in results], results

    async def handle(name: str, endpoint: str, request: Request, handler: Handler) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            auth.check(request.headers, "decide")
            pipeline = pipelines.get(name)
            if pipeline is None:
                known = ", ".join(sorted(pipelines)) or "none"
                raise ServeError(404, "S404", f"no pipeline '{name}' is served (served: {known})")
            status, payload, results = await handler(pipeline, request)
            for r in results:
                if r.rejected:
                    metrics.rejected(name, r.problems)
                else:
                    metrics.decided(name, r.decision, r.rules)
            return JSONResponse(payload, status_code=status)
        except ServeError as exc:
            status = exc.status
            if exc.status == 422:
                metrics.rejected(name if name in pipelines else "(unknown)", exc.problems)
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
        body = {
            "status": "ready" if pipelines else "no pipelines",
            "pipelines": {
                name: {"release": p.release, "plan_hash": p.plan.hash}
                for name, p in pipelines.items()
            },
        }
        return JSONResponse(body, status_code=200 if pipelines else 503)

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Response:
        auth.check(request.headers, "admin")
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
