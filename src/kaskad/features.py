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
from collections.abc import Callable
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
