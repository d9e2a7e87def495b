"""The HTTP server: a thin layer over the library's executors.

``create_app(config)`` builds a FastAPI app around its own
:class:`~kaskad.serve.service.ServeService` (pipelines, keys, metrics registry, decision
log; no module-level app or globals) and the routes that call it
(:mod:`kaskad.serve.routes`, :mod:`kaskad.serve.admin`):

- ``POST /v1/pipelines/{name}/decide``: one record (JSON or XML) → the decision, with a
  ``decision_id`` (a time-ordered UUID, version 7), ``release`` and ``plan_hash``; a
  rejected record → 422 with
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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kaskad.serve.admin import admin_router
from kaskad.serve.config import ServeConfig
from kaskad.serve.errors import ServeError, internal
from kaskad.serve.front import DecideFront
from kaskad.serve.jsonio import problem_response
from kaskad.serve.routes import decide_router, operations_router
from kaskad.serve.service import ServeService


def create_app(config: ServeConfig) -> FastAPI:
    """A ready-to-run app; raises ``ServeConfigError`` for an unsafe configuration and the
    library's errors when a pipeline or release cannot be loaded (or the decision log's
    store cannot be opened)."""
    service = ServeService(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="kaskad", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.service = service
    app.state.decision_log = service.log
    app.state.promotion = service.watcher
    app.state.shadows = service.shadows

    @app.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a defect, not a record's fault: still a problem body, never a bare 500
        message = "internal error; see the server's log under this error id"
        return JSONResponse(
            internal(500, "S500", message, exc, trace=True).to_dict(), status_code=500
        )

    app.include_router(decide_router(service))
    app.add_middleware(DecideFront, service=service)  # the decide requests' short way
    app.include_router(operations_router(service))
    app.include_router(  # promote and rollback: see admin.py
        admin_router(service.auth, service.watcher, service.pipelines, config.pipelines)
    )
    return app
