"""kaskad: versioned decision pipelines that run identically in batch and in real time.

The public names below are imported on first use (PEP 562), so that ``import kaskad`` and
the ``kaskad`` command start without loading Polars' executors, the store (SQLAlchemy,
Alembic) or the server (FastAPI, uvicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaskad.host import let_polars_import
from kaskad.lazy import lazy_names

let_polars_import()  # before anything imports Polars

if TYPE_CHECKING:
    from kaskad.compile.compiler import compile_pipeline
    from kaskad.compile.plan import Plan
    from kaskad.errors import ExecutionError, InputError, KaskadError, Problem, SpecError
    from kaskad.execute.batch import BatchExecutor
    from kaskad.execute.record import Decision, RecordExecutor
    from kaskad.features import feature
    from kaskad.io.files import read_frame
    from kaskad.registry.models import register_model
    from kaskad.registry.plans import release_plan

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
    "read_frame",
    "register_model",
    "release_plan",
]

# Where each public name lives; imported by ``__getattr__`` the first time it is used.
_HOMES = {
    "BatchExecutor": "kaskad.execute.batch",
    "Decision": "kaskad.execute.record",
    "ExecutionError": "kaskad.errors",
    "InputError": "kaskad.errors",
    "KaskadError": "kaskad.errors",
    "Plan": "kaskad.compile.plan",
    "Problem": "kaskad.errors",
    "RecordExecutor": "kaskad.execute.record",
    "SpecError": "kaskad.errors",
    "compile_pipeline": "kaskad.compile.compiler",
    "feature": "kaskad.features",
    "read_frame": "kaskad.io.files",
    "register_model": "kaskad.registry.models",
    "release_plan": "kaskad.registry.plans",
}


__getattr__ = lazy_names(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
