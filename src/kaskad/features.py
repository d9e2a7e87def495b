"""Python feature functions: columns in, a column out, so they run vectorized.

A data scientist writes::

    import numpy as np
    from kaskad import feature

    @feature(returns="float", inputs={"income": "applicant.income"})
    def loan_to_income(amount, income):
        return np.where(income > 0, amount / income, np.nan)

Parameters are named after fields (or mapped with ``inputs``). Each receives a NumPy
array: numbers and booleans as ``float64`` with NaN for missing values, text as an
object array with ``None``, dates as ``datetime64[D]`` with NaT. The function returns
an array of the same length; NaN or None mean "missing". The batch executor calls it
once per chunk, the per-record executor with arrays of length one, so both run the
same code.
"""

from __future__ import annotations

import inspect
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

RETURN_TYPES = ("float", "integer", "boolean", "string")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class FeatureFunction:
    """A Python function registered as a feature."""

    func: Callable[..., Any]
    name: str
    returns: str
    params: tuple[str, ...]
    inputs: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def field_for(self, param: str) -> str:
        return self.inputs.get(param, param)


def feature(
    func: F | None = None,
    *,
    returns: str = "float",
    inputs: dict[str, str] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Mark a function as a kaskad feature (usable bare or with arguments)."""

    def wrap(fn: F) -> F:
        params = tuple(inspect.signature(fn).parameters)
        meta = FeatureFunction(
            func=fn,
            name=name or fn.__name__,
            returns=returns,
            params=params,
            inputs=dict(inputs or {}),
            description=description or inspect.getdoc(fn) or "",
        )
        fn.__kaskad_feature__ = meta  # type: ignore[attr-defined]
        return fn

    if func is not None:
        return wrap(func)
    return wrap


def features_of(module: Any) -> list[FeatureFunction]:
    """The registered features of a module, in definition order."""
    found = []
    for value in vars(module).values():
        meta = getattr(value, "__kaskad_feature__", None)
        if (
            isinstance(meta, FeatureFunction)
            and getattr(value, "__module__", None) == module.__name__
        ):
            found.append(meta)
    return found


# ---- feature modules as data ------------------------------------------------------------
# A compiled plan carries each feature module's source text (``PythonModule``) and names
# functions by module hash and feature name (``FeatureCall``), so the plan is plain data
# that can be written out and run elsewhere (a Spark worker, another process). A module is
# executed once per process per content hash: the spec loader and both executors share it.


@dataclass(frozen=True)
class PythonModule:
    """A feature module's source, as carried by a plan."""

    name: str
    sha256: str
    source: str
    filename: str = ""  # where it was read from, for tracebacks; not part of its identity


@dataclass(frozen=True)
class FeatureCall:
    """A feature function named by its module's content hash and its feature name."""

    module: str  # sha256 of the module's source
    name: str


_MODULES: dict[str, types.ModuleType] = {}
_MODULES_LOCK = threading.Lock()
# While a release is loaded: the sha256 of its verified feature modules; no other runs.
_VERIFIED: ContextVar[frozenset[str] | None] = ContextVar("kaskad_verified", default=None)


class UnverifiedModuleError(Exception):
    """A feature module whose hash is not among the verified ones was about to run."""


@contextmanager
def only_verified(hashes: Iterable[str]) -> Iterator[None]:
    """Within the block, `run_module` runs only modules with one of ``hashes``
    (a release's files, checked against its manifest): edited files never run."""
    token = _VERIFIED.set(frozenset(hashes))
    try:
        yield
    finally:
        _VERIFIED.reset(token)


def run_module(module: PythonModule) -> types.ModuleType:
    """The executed module for ``module`` (executed on first use in this process).

    The module runs from the source text in ``module`` (never from a bytecode cache, and
    writing none). Exceptions from the module's own code propagate unchanged."""
    verified = _VERIFIED.get()
    if verified is not None and module.sha256 not in verified:
        raise UnverifiedModuleError(
            f"{module.filename or module.name} (sha256 {module.sha256[:12]}) is not one of"
            " the release's verified files: it was changed after it was checked"
        )
    with _MODULES_LOCK:
        found = _MODULES.get(module.sha256)
        if found is not None:
            return found
        mod = types.ModuleType(f"kaskad_features_{module.sha256[:16]}")
        mod.__file__ = module.filename or f"<{module.name}.py>"
        code = compile(module.source, mod.__file__, "exec")
        exec(code, mod.__dict__)  # the module is the user's own feature code
        _MODULES[module.sha256] = mod
        return mod


def resolve(call: FeatureCall, modules: dict[str, PythonModule]) -> FeatureFunction:
    """The registered feature ``call`` names, from the plan's ``modules``."""
    module = modules.get(call.module)
    if module is None:
        raise LookupError(f"feature module {call.module[:12]} is not in the plan")
    for meta in features_of(run_module(module)):
        if meta.name == call.name:
            return meta
    raise LookupError(f"feature module {module.name} has no feature {call.name!r}")
