"""kaskad: versioned decision pipelines that run identically in batch and in real time."""

from kaskad.compile.compiler import compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.errors import ExecutionError, InputError, KaskadError, Problem, SpecError
from kaskad.execute.batch import BatchExecutor
from kaskad.execute.record import Decision, RecordExecutor
from kaskad.features import feature
from kaskad.registry.models import register_model

__version__ = "0.1.0"

__all__ = [
    "BatchExecutor",
    "Decision",
    "ExecutionError",
    "InputError",
    "KaskadError",
    "Plan",
    "Problem",
    "RecordExecutor",
    "SpecError",
    "__version__",
    "compile_pipeline",
    "feature",
    "register_model",
]
