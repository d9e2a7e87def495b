"""Real-time serving: an HTTP app over the record and batch executors.

First slice: decisions over JSON or XML, API keys, health, readiness and Prometheus
metrics. Next: the durable decision log, shadows off the response path, hot promotion,
overload shedding (503), the benchmark and the ``kaskad serve`` command.
"""

from kaskad.serve.app import create_app
from kaskad.serve.auth import ApiKey, hash_key
from kaskad.serve.config import PipelineFile, ReleaseRef, ServeConfig
from kaskad.serve.errors import FieldProblem, ServeConfigError, ServeError

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
