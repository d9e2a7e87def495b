"""The OpenAPI description of the promote, rollback and approve endpoints
(:mod:`kaskad.serve.admin`), added per served pipeline by :mod:`kaskad.serve.openapi`.

Every pipeline gets the three operations: one served from its file or from a fixed
release answers 409 (there is no stage to move), so clients and contract tests see the
same statuses for every name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic import Field as ModelField

from kaskad.store.refs import MAX_NUMBER

_RELEASE = {
    "type": "integer",
    "minimum": 1,
    "description": f"A release number (at most {MAX_NUMBER}, else 422)",
}
_STAGE = {"type": "string", "minLength": 1, "description": "The served stage (the default)"}
ADMIN_ERRORS: dict[int, str] = {
    409: "The pipeline is not served from a stage, another stage is named, there is nothing"
    " to roll back to, the stage requires another identity's approval (K607), or the release"
    " fails verification; nothing moved (S409)",
    502: "The stage moved but the new release cannot be served; the old one keeps serving"
    " and /ready shows why (S502)",
}


def _closed(schema: dict[str, Any]) -> None:
    schema.pop("title", None)
    schema["additionalProperties"] = False
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


def _plain(schema: dict[str, Any]) -> None:
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class PromoteBody(BaseModel):
    """Point the served stage at ``release``."""

    model_config = ConfigDict(json_schema_extra=_closed)

    release: Annotated[int, WithJsonSchema(_RELEASE)]
    stage: Annotated[str | None, WithJsonSchema(_STAGE)] = None


class RollbackBody(BaseModel):
    """Move the served stage back (an empty body is the same as ``{}``)."""

    model_config = ConfigDict(json_schema_extra=_closed)

    stage: Annotated[str | None, WithJsonSchema(_STAGE)] = None


class ApproveBody(BaseModel):
    """Approve ``release`` for the served stage."""

    model_config = ConfigDict(json_schema_extra=_closed)

    release: Annotated[int, WithJsonSchema(_RELEASE)]


_NUMBER_OR_NULL = WithJsonSchema({"type": ["string", "null"]})


class StageMoved(BaseModel):
    """The stage now points at ``release`` (``PIPELINE@N``); ``previous`` was served."""

    model_config = ConfigDict(json_schema_extra=_plain)

    pipeline: str
    stage: str
    release: Annotated[str | None, _NUMBER_OR_NULL]
    previous: Annotated[str | None, _NUMBER_OR_NULL]


class Approved(BaseModel):
    """Who has approved ``release`` for the stage so far."""

    model_config = ConfigDict(json_schema_extra=_plain)

    pipeline: str
    stage: str
    release: Annotated[int, ModelField(ge=1)]
    approvers: list[str]


Responses = Callable[[tuple[int, ...]], dict[int | str, dict[str, Any]]]


def admin_routes(
    router: APIRouter,
    name: str,
    stem: str,
    endpoint: Callable[[Any], Callable[..., None]],
    errors: Responses,
) -> None:
    """Add the promote, rollback and approve operations of pipeline ``name`` to
    ``router``: ``endpoint(body type)`` makes a documentation-only endpoint and
    ``errors(statuses)`` their error responses."""
    base = f"/v1/pipelines/{name}"
    common = (401, 403, 404, 409, 413, 422, 503)
    router.add_api_route(
        f"{base}/promote",
        endpoint(Annotated[PromoteBody, Body()]),
        methods=["POST"],
        operation_id=f"promote_{stem}",
        summary=f"Point the stage pipeline '{name}' is served from at a release, and serve it",
        tags=[name],
        response_model=StageMoved,
        responses={200: {"description": "Moved and served"}, **errors((*common, 502))},
    )
    router.add_api_route(
        f"{base}/rollback",
        endpoint(Annotated[RollbackBody, Body()]),
        methods=["POST"],
        operation_id=f"rollback_{stem}",
        summary=f"Move the stage pipeline '{name}' is served from back, and serve it",
        tags=[name],
        response_model=StageMoved,
        responses={200: {"description": "Moved back and served"}, **errors((*common, 502))},
        openapi_extra={"requestBody": {"required": False}},
    )
    router.add_api_route(
        f"{base}/approve",
        endpoint(Annotated[ApproveBody, Body()]),
        methods=["POST"],
        operation_id=f"approve_{stem}",
        summary=f"Approve a release of pipeline '{name}' for the served stage (four eyes)",
        tags=[name],
        response_model=Approved,
        responses={200: {"description": "Approved"}, **errors(common)},
    )
