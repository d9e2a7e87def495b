"""Real-time serving: an HTTP app over the record and batch executors.

Decisions over JSON or XML, API keys, health, readiness, Prometheus metrics and an
OpenAPI document generated from the served plans; the durable decision log (group commit,
a reply only after its record is committed, or a local journal) with overload shedding
(503 + ``Retry-After``); shadow challengers run off the response path; hot promotion of
stage references, pinned releases (``?release=N``) and promote/rollback over HTTP;
several worker processes. ``create_app`` wires a
:class:`~kaskad.serve.service.ServeService` to its routes.
"""

from kaskad.errors import FieldProblem
from kaskad.serve.app import create_app
from kaskad.serve.auth import ApiKey, hash_key
from kaskad.serve.config import PipelineFile, ReleaseRef, ServeConfig
from kaskad.serve.errors import ServeConfigError, ServeError

__all__ = [
    "ApiKey",
    "FieldProblem",
    "PipelineFile",
    "ReleaseRef",
    "ServeConfig",
    "ServeConfigError",
    "ServeError",
    "create_app",
    "hash_key",
]
