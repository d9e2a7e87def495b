"""Promote, roll back and approve over HTTP: the ``admin`` role moves the stage a pipeline serves.

- ``POST /v1/pipelines/{name}/promote`` with ``{"release": 3, "stage": "production"}``
  points the stage at release 3 (``Store.set_stage``, as ``kaskad release promote``);
- ``POST /v1/pipelines/{name}/rollback`` with an optional ``{"stage": "production"}``
  moves it back (``Store.rollback``, as ``kaskad release rollback``);
- ``POST /v1/pipelines/{name}/approve`` with ``{"release": 3}`` (the ``approve`` role)
  approves release 3 for the served stage (``Store.approve``, as ``kaskad release
  approve``); a stage that requires approval refuses promotion without one (409, K607).

Only a pipeline served from a stage reference (``ReleaseRef`` such as
``credit@production``) can be moved, and only that stage (``stage`` defaults to it). After
the move the server loads and verifies the release at once (``PromotionWatcher.refresh``)
and replies ``{"pipeline", "stage", "release", "previous"}`` once it serves it. The move
is recorded in the store's stage history and audit trail under ``api-key:LABEL``; anonymous
callers cannot move a stage (401).

A promotion first loads and verifies the release (artifacts, environment, golden cases)
exactly as the server will, and refuses one that must not run without moving the stage.

Errors: 401/403 (no move), 404 unknown pipeline, 409 (S409) for a pipeline served from a
file or a fixed release, another stage, nothing to roll back to, or a release that fails
verification (the stage is not moved), 422 for a bad body or an unknown release number,
502 (S502) when the stage moved but the release then could not be served (e.g. its
artifacts changed in between): the old one keeps serving and ``/ready`` shows why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from kaskad.errors import FieldProblem
from kaskad.execute.contract import JsonNumber, loads
from kaskad.registry.releases import LoadedRelease
from kaskad.serve.auth import ApiKey, Authenticator
from kaskad.serve.config import PipelineFile, ReleaseRef
from kaskad.serve.errors import ServeError, internal, without_paths
from kaskad.serve.inputs import read_limited
from kaskad.serve.pins import load_verified
from kaskad.serve.pipelines import ServedPipeline
from kaskad.serve.promotion import PromotionWatcher
from kaskad.store import ApprovalError, NotFoundError, StageChange, Store, StoreError
from kaskad.store.refs import MAX_NUMBER, ReleaseSelector

BODY_LIMIT = 16 * 1024
Moved = tuple[StageChange, LoadedRelease | None]  # the move, and the release verified for it


@dataclass(frozen=True)
class _Target:
    """What a request moves: the served name, the store's pipeline and the stage."""

    name: str
    pipeline: str
    stage: str
    cache_root: Path


def admin_router(
    auth: Authenticator,
    watcher: PromotionWatcher,
    pipelines: Mapping[str, ServedPipeline],
    sources: Mapping[str, PipelineFile | ReleaseRef],
) -> APIRouter:
    """The promote and rollback endpoints over ``pipelines`` (URL name → served pipeline),
    whose stage references (``sources``) ``watcher`` follows."""
    router = APIRouter()

    async def move(
        name: str,
        request: Request,
        fields: tuple[str, ...],
        change: Callable[[Store, _Target, dict[str, Any], str], Moved],
    ) -> JSONResponse:
        key = auth.check(request.headers, "admin")
        target = _target(name, pipelines, sources)
        body = await _body(request, fields)
        stage = body.get("stage", target.stage)
        if stage != target.stage:
            raise ServeError(
                409,
                "S409",
                f"pipeline '{name}' is served from {target.pipeline}@{target.stage}; this"
                f" server moves only that stage, not {stage!r} (use kaskad release)",
            )
        previous = pipelines[name].release

        def work() -> ServedPipeline:
            store = watcher.store(name)
            moved, verified = _store_call(lambda: change(store, target, body, _actor(key)))
            served = watcher.refresh(name, verified)
            wanted = f"{target.pipeline}@{moved.to_release}"
            if served.release != wanted:
                problem = watcher.problems.get(name) or "the stage moved again meanwhile"
                raise ServeError(
                    502,
                    "S502",
                    f"{target.pipeline}@{target.stage} now points at {wanted}, but it cannot"
                    f" be served; still serving {served.release}: {problem}",
                )
            return served

        served = await run_in_threadpool(work)
        reply = {"pipeline": name, "stage": stage, "release": served.release}
        return JSONResponse({**reply, "previous": previous})

    @router.post("/v1/pipelines/{name}/promote")
    async def promote(name: str, request: Request) -> JSONResponse:
        """Point the served stage at ``release`` and serve it."""
        return await move(name, request, ("release", "stage"), _promote)

    @router.post("/v1/pipelines/{name}/approve")
    async def approve(name: str, request: Request) -> JSONResponse:
        """Approve ``release`` for the served stage (four eyes): the ``approve`` role, an
        identity other than the release's creator (409 otherwise)."""
        key = auth.check(request.headers, "approve")
        target = _target(name, pipelines, sources)
        body = await _body(request, ("release",))
        number = body["release"]

        def work() -> list[str]:
            store = watcher.store(name)
            try:
                store.approve(target.pipeline, number, target.stage, actor=_actor(key))
                return store.approvers(target.pipeline, number, target.stage)
            except NotFoundError as exc:
                problem = FieldProblem("release", "not_found", note=str(exc))
                raise ServeError(422, "S422", f"invalid body: release: {exc}", [problem]) from exc
            except ApprovalError as exc:
                raise ServeError(409, "S409", f"{exc.code} {exc}") from exc
            except StoreError as exc:
                raise ServeError(503, "S503", f"the store cannot be written: {exc}") from exc

        approvers = await run_in_threadpool(work)
        reply = {"pipeline": name, "stage": target.stage, "release": number}
        return JSONResponse({**reply, "approvers": approvers})

    @router.post("/v1/pipelines/{name}/rollback")
    async def rollback(name: str, request: Request) -> JSONResponse:
        """Move the served stage back to the release it pointed at before, and serve it."""
        return await move(name, request, ("stage",), _rollback)

    return router


def _promote(store: Store, target: _Target, body: dict[str, Any], actor: str) -> Moved:
    """Verify the release as the server would load it, then move the stage: a release
    that must not run is refused (409) and the stage stays where it was."""
    ref = f"{target.pipeline}@{body['release']}"
    try:
        verified = load_verified(store, ref, actor, target.cache_root)
    except NotFoundError as exc:
        message = f"invalid body: release: {exc}"
        raise ServeError(
            422, "S422", message, [FieldProblem("release", "not_found", note=str(exc))]
        ) from exc
    except ServeError as exc:
        if exc.status != 409:
            raise
        raise ServeError(
            409, "S409", f"{exc.message}; {target.pipeline}@{target.stage} was not moved"
        ) from exc
    moved = store.set_stage(target.pipeline, target.stage, body["release"], actor=actor)
    return moved, verified


def _rollback(store: Store, target: _Target, body: dict[str, Any], actor: str) -> Moved:
    try:
        return store.rollback(target.pipeline, target.stage, actor=actor), None
    except StoreError as exc:
        if isinstance(exc.__cause__, SQLAlchemyError):
            raise
        raise ServeError(409, "S409", without_paths(str(exc))) from exc  # nothing to roll back


def _store_call(call: Callable[[], Moved]) -> Moved:
    try:
        return call()
    except ApprovalError as exc:  # four eyes: the stage requires another person's approval
        raise ServeError(409, "S409", f"{exc.code} {exc}") from exc
    except StoreError as exc:  # the database cannot be reached or written
        raise internal(503, "S503", "the store cannot be written: retry shortly", exc) from exc


def _target(
    name: str,
    pipelines: Mapping[str, ServedPipeline],
    sources: Mapping[str, PipelineFile | ReleaseRef],
) -> _Target:
    if name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none"
        raise ServeError(404, "S404", f"no pipeline '{name}' is served (served: {known})")
    source = sources.get(name)
    if not isinstance(source, ReleaseRef):
        raise ServeError(
            409,
            "S409",
            f"pipeline '{name}' is served from its file, not from a release stage: there"
            " is no stage to move (serve NAME@production to promote over HTTP)",
        )
    parsed = ReleaseSelector.parse(source.ref)
    pipeline, selector = parsed.name, parsed.selector
    if parsed.stage is None:
        raise ServeError(
            409,
            "S409",
            f"pipeline '{name}' is served from {source.ref}, a fixed release, not a stage:"
            " there is no stage to move (serve NAME@production to promote over HTTP)",
        )
    return _Target(name, pipeline, selector, source.cache_root)


async def _body(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object of the request (empty body → {}), with its fields checked."""
    raw = await read_limited(request.stream(), request.headers.get("content-length"), BODY_LIMIT)
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = loads(raw)  # numbers beyond 64 bits stay text (JsonNumber)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ServeError(422, "S422", f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ServeError(422, "S422", "the body must be a JSON object")
    problems = [FieldProblem(k, "unknown_field") for k in data if k not in fields]
    if "release" in fields:
        number = data.get("release")
        if "release" not in data:
            problems.append(FieldProblem("release", "missing"))
        elif isinstance(number, JsonNumber) or (isinstance(number, int) and number > MAX_NUMBER):
            problems.append(
                FieldProblem(
                    "release", "out_of_range", note=f"release numbers go up to {MAX_NUMBER}"
                )
            )
        elif not isinstance(number, int) or isinstance(number, bool) or number < 1:
            problems.append(
                FieldProblem(
                    "release", "wrong_type", note=f"must be a release number, not {number!r}"
                )
            )
    stage = data.get("stage")
    if "stage" in data and (not isinstance(stage, str) or not stage):
        problems.append(
            FieldProblem("stage", "wrong_type", note=f"must be a stage name, not {stage!r}")
        )
    if problems:
        text = "; ".join(p.message for p in problems)
        raise ServeError(422, "S422", f"invalid body: {text}", problems)
    return data


def _actor(key: ApiKey | None) -> str:
    """Who is recorded in the stage history and the audit trail."""
    if key is None:
        return "anonymous"
    return f"api-key:{key.label or key.role}"
