"""The OpenAPI 3.1 document of the server, generated from the served pipelines' plans.

``openapi_schema(pipelines)`` describes, per pipeline name:

- ``POST /v1/pipelines/{name}/decide``: the request body is the pipeline's input schema as
  JSON Schema (JSON, or XML with the same shape: see ``kaskad.serve.inputs``), the 200
  response every field of a result (``Plan.output_fields()``) plus the fields the server
  adds (``decision_id``, ``pipeline``, ``release``, ``plan_hash``, ``duration_ms``);
- ``POST /v1/pipelines/{name}/decide-batch``: a list of records → a list of results;
- the error responses (401, 403, 404, 413, 415, 422) with the body of ``ServeError``:
  ``{"code", "message", "errors": [{"field", "problem"}]}``;

and ``GET /health``, ``GET /ready``, ``GET /metrics``. Keys are sent as
``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (see ``kaskad.serve.auth``).

Optional input fields accept ``null`` (a missing value), and every result field may be
``null`` (an unknown value), except the ones the server always sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaskad.compile.plan import Plan
from kaskad.spec.types import DType, Field

OPENAPI_VERSION = "3.1.0"
_JSON = "application/json"
_XML = "application/xml"
_SCALARS: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
_ERRORS = {
    "401": "No API key, or an unknown one (S401)",
    "403": "The API key lacks the role the endpoint needs (S403)",
    "404": "No pipeline is served under that name (S404)",
    "413": "The request body is larger than the limit (S413)",
    "415": "The content type is neither JSON nor XML (S415)",
    "422": "The body cannot be parsed, or the record does not match the schema (S422)",
}
_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]


_RELEASE_PARAMETER = {
    "name": "release",
    "in": "query",
    "required": False,
    "description": "Decide with this release number instead of the one served (pipelines"
    " served from a release stage only); its input schema may differ from the one shown.",
    "schema": {"type": "integer", "minimum": 1},
}


def openapi_schema(pipelines: Mapping[str, Plan], title: str = "kaskad") -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``pipelines`` (URL name → compiled plan), as a dict
    ready for ``json.dumps``."""
    schemas: dict[str, Any] = {
        "FieldProblem": {
            "type": "object",
            "description": "One problem with the input: the field path (null for the whole "
            "body), what is wrong and, where known, what was expected and what arrived.",
            "properties": {
                "field": {"type": ["string", "null"]},
                "problem": {"type": "string"},
                "expected": {"type": ["string", "null"]},
                "got": {"type": ["string", "null"]},
            },
            "required": ["field", "problem"],
        },
        "Error": {
            "type": "object",
            "description": "An error: a stable code, a message and, for rejected input, "
            "the problems per field.",
            "properties": {
                "code": {"type": "string", "examples": ["S422"]},
                "message": {"type": "string"},
                "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}},
            },
            "required": ["code", "message"],
        },
    }
    paths: dict[str, Any] = {}
    for name in sorted(pipelines):
        plan = pipelines[name]
        stem = _component_name(name)
        schemas[f"{stem}Input"] = _input_schema(plan)
        schemas[f"{stem}Result"] = _result_schema(plan)
        schemas[f"{stem}RejectedItem"] = _rejected_item_schema(plan)
        input_ref = {"$ref": f"#/components/schemas/{stem}Input"}
        result_ref = {"$ref": f"#/components/schemas/{stem}Result"}
        rejected_ref = {"$ref": f"#/components/schemas/{stem}RejectedItem"}
        base = f"/v1/pipelines/{name}"
        paths[f"{base}/decide"] = {
            "post": {
                "operationId": f"decide_{stem}",
                "summary": f"Decide one record with pipeline '{name}'",
                "description": plan.description or plan.name,
                "tags": [name],
                "parameters": [_RELEASE_PARAMETER],
                "requestBody": {
                    "required": True,
                    "description": _BODY_TEXT,
                    "content": _bodies(input_ref),
                },
                "responses": {
                    "200": {
                        "description": "The decision",
                        "content": {_JSON: {"schema": result_ref}},
                    },
                    **_error_responses(),
                },
            }
        }
        paths[f"{base}/decide-batch"] = {
            "post": {
                "operationId": f"decide_batch_{stem}",
                "summary": f"Decide a list of records with pipeline '{name}'",
                "description": "Results come in the order of the records; a rejected record "
                "gives an item with status 'rejected' and its errors (the request still "
                "succeeds). In XML, the root's children are the records.",
                "tags": [name],
                "parameters": [_RELEASE_PARAMETER],
                "requestBody": {
                    "required": True,
                    "description": _BODY_TEXT,
                    "content": _bodies({"type": "array", "items": input_ref}),
                },
                "responses": {
                    "200": {
                        "description": "One result per record, in order",
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "array",
                                    "items": {"oneOf": [result_ref, rejected_ref]},
                                }
                            }
                        },
                    },
                    **_error_responses(),
                },
            }
        }
    paths.update(_service_paths())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": "1",
            "description": "Decisions of kaskad pipelines over HTTP.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Authorization: Bearer KEY",
                },
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": _SECURITY,
    }


# ---- input --------------------------------------------------------------------------------


def _input_schema(plan: Plan) -> dict[str, Any]:
    schema = _object(plan.schema.fields)
    schema["title"] = plan.schema.name
    if plan.schema.description:
        schema["description"] = plan.schema.description
    return schema


def _object(fields: tuple[Field, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: _field(f) for f in fields},
    }
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    return out


def _field(field: Field) -> dict[str, Any]:
    schema = _dtype(field.dtype, nullable=not field.required)
    if field.description:
        schema["description"] = field.description
    if field.sensitive:
        schema["x-kaskad-sensitive"] = True
    return schema


def _dtype(dtype: DType, nullable: bool) -> dict[str, Any]:
    """JSON Schema of a value of ``dtype``; ``nullable`` also allows null."""
    schema: dict[str, Any]
    if dtype.kind in _SCALARS:
        schema = dict(_SCALARS[dtype.kind])
    elif dtype.kind == "category":
        schema = {"type": "string", "enum": list(dtype.values)}
    elif dtype.kind == "object":
        schema = _object(dtype.fields)
    elif dtype.kind == "list":
        item = dtype.item
        schema = {"type": "array"}
        if item is not None:
            schema["items"] = _dtype(item, nullable=False)
    else:  # "null" / "any": no constraint
        return {}
    if nullable:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


# ---- output -------------------------------------------------------------------------------


def _served_fields() -> dict[str, Any]:
    return {
        "decision_id": {"type": "string", "format": "uuid"},
        "pipeline": {"type": "string", "description": "The name in the URL"},
        "release": {
            "type": ["string", "null"],
            "description": "The release served, null for a pipeline served from its file",
        },
        "plan_hash": {"type": "string"},
    }


def _result_schema(plan: Plan) -> dict[str, Any]:
    properties = _served_fields()
    properties["duration_ms"] = {
        "type": "number",
        "description": "Execution time of the record (single decisions only)",
    }
    keys = [f.name for f in plan.schema.fields if f.key]
    for name, dtype in plan.output_fields():
        if name == "errors":
            properties[name] = {"type": "array", "items": {"type": "string"}}
        else:
            properties[name] = _dtype(dtype, nullable=name not in keys)
    properties["status"] = {"type": "string", "enum": ["decided"]}
    properties["decision"] = {"type": "string"}
    return {
        "type": "object",
        "description": "Every field of a result row, then the fields the server adds",
        "properties": properties,
        "required": [*_served_fields(), *keys, "status", "decision"],
    }


def _rejected_item_schema(plan: Plan) -> dict[str, Any]:
    properties = _served_fields()
    for f in plan.schema.fields:
        if f.key:
            properties[f.name] = _dtype(f.dtype, nullable=True)
    properties["status"] = {"type": "string", "enum": ["rejected"]}
    properties["errors"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/FieldProblem"},
    }
    return {
        "type": "object",
        "description": "A record of a batch that does not match the schema",
        "properties": properties,
        "required": [*_served_fields(), "status", "errors"],
    }


# ---- shared pieces -------------------------------------------------------------------------


def _bodies(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        _JSON: {"schema": schema},
        _XML: {"schema": schema},
    }


_BODY_TEXT = (
    "JSON, or XML of the same shape: a field is a child element with its name, an object's "
    "fields its children, a list's items the children of its element (<item> by convention)."
)


def _error_responses() -> dict[str, Any]:
    return {
        status: {
            "description": text,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, text in _ERRORS.items()
    }


def _service_paths() -> dict[str, Any]:
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    pipelines = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "release": {"type": ["string", "null"]},
                "plan_hash": {"type": "string"},
            },
        },
    }
    ready = {
        "type": "object",
        "properties": {"status": {"type": "string"}, "pipelines": pipelines},
    }
    error = {"content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "The process is up",
                "security": [],
                "responses": {"200": {"description": "Up", "content": {_JSON: {"schema": status}}}},
            }
        },
        "/ready": {
            "get": {
                "operationId": "ready",
                "summary": "The pipelines are loaded",
                "security": [],
                "responses": {
                    "200": {"description": "Ready", "content": {_JSON: {"schema": ready}}},
                    "503": {"description": "No pipelines", "content": {_JSON: {"schema": ready}}},
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (the admin role, unless anonymous access is on)",
                "responses": {
                    "200": {
                        "description": "Prometheus text format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": {"description": _ERRORS["401"], **error},
                    "403": {"description": _ERRORS["403"], **error},
                },
            }
        },
    }


def _component_name(name: str) -> str:
    """A component key for a pipeline name (keys allow ``[A-Za-z0-9._-]`` only)."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return cleaned or "_"
