"""The HTTP routes of the server; each calls :class:`~kaskad.serve.service.ServeService`.

- ``POST /v1/pipelines/{name}/decide`` and ``.../decide-batch``: decisions;
- ``GET /health``, ``GET /ready``, ``GET /openapi.json``, ``GET /metrics``: operations.

The promote and rollback routes are in :mod:`kaskad.serve.admin`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from kaskad.serve.service import ServeService

METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def decide_router(service: ServeService) -> APIRouter:
    """One record, or a list of records, decided by a served pipeline.

    Exact matches are taken before the router by :mod:`kaskad.serve.front`; these routes
    answer the rest (a trailing slash is redirected here). They are plain Starlette
    routes: the handler reads the request itself, there is nothing for FastAPI to resolve,
    and the API description is kaskad's own (:meth:`ServeService.openapi`)."""
    router = APIRouter()

    async def decide_one(request: Request) -> Response:
        return await service.handle(request.path_params["name"], "decide", request)

    async def decide_list(request: Request) -> Response:
        return await service.handle(request.path_params["name"], "decide-batch", request)

    router.add_route("/v1/pipelines/{name}/decide", decide_one, methods=["POST"])
    router.add_route("/v1/pipelines/{name}/decide-batch", decide_list, methods=["POST"])
    return router


def operations_router(service: ServeService) -> APIRouter:
    """Health, readiness, the API's description and the Prometheus metrics."""
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        status, body = await service.readiness()
        return JSONResponse(body, status_code=status)

    @router.get("/openapi.json")
    async def openapi() -> JSONResponse:
        """The API of the served pipelines, with request and response schemas generated
        from each pipeline's input schema and result fields."""
        document: dict[str, Any] = service.openapi()
        return JSONResponse(document)

    @router.get("/metrics")
    async def metrics_text(request: Request) -> Response:
        service.auth.check_metrics(request.headers)
        return Response(service.metrics_text(), media_type=METRICS_MEDIA_TYPE)

    return router
