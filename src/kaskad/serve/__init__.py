"""Real-time serving: an HTTP app over the record and batch executors.

Decisions over JSON or XML, API keys, health, readiness and Prometheus metrics; the
durable decision log (group commit, a reply only after its record is committed) with
overload shedding (503 + ``Retry-After``); hot promotion of stage references. Next: shadows
off the response path and the benchmark.
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
