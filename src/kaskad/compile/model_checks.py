"""What ``kaskad validate`` checks of a model step against its loaded artifact: the
inputs' names, order, count and kinds (numbers or text), the outputs it offers, and that
its scores do not depend on the batch size unless the step declares a tolerance.

A pipeline that passes these checks does not fail at run time for any of these reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from kaskad.compile.expr import ast
from kaskad.compile.expr import typed as t
from kaskad.compile.expr.check import suggest
from kaskad.errors import Problem
from kaskad.models import ModelAdapter
from kaskad.spec.pipeline import ModelSpec
from kaskad.spec.reader import Text
from kaskad.spec.types import DType


class _Checker(Protocol):
    problems: list[Problem]

    def check(
        self, text: Text, node: ast.Node, columns: Mapping[str, DType], boolean: str | None = None
    ) -> t.TExpr | None: ...


def model_inputs(
    checker: _Checker,
    m: ModelSpec,
    adapter: ModelAdapter,
    parsed: Mapping[str, ast.Node],
    columns: Mapping[str, DType],
) -> list[tuple[str, t.TExpr]] | None:
    """The model's typed inputs in order, or None when any is wrong (problems recorded)."""
    problems = checker.problems
    declared = [n for n, _ in m.inputs]
    shape_ok = _check_names(problems, m, adapter, declared)
    inputs: list[tuple[str, t.TExpr]] = []
    for i, (name, text) in enumerate(m.inputs):
        node = parsed.get(name)
        if node is None:
            continue
        expr = checker.check(text, node, columns)
        if expr is None:
            continue
        kind = adapter.kind_of(i) if shape_ok else "number"
        if expr.dtype.kind == "any":  # reads a step that failed, already reported
            inputs.append((name, expr))
            continue
        if kind == "text" and not expr.dtype.is_textual:
            problems.append(
                Problem(
                    "K302",
                    f"model input '{name}' is {expr.dtype}; the model's own pipeline "
                    "encodes this column from text (it was fitted on strings)",
                    text.location(1, 1, len(text.text)),
                    "give it a string or category field",
                )
            )
            continue
        if kind == "number" and not (expr.dtype.is_numeric or expr.dtype.kind == "boolean"):
            hint = (
                "the model does not encode this column itself: encode text with CASE, "
                "e.g. CASE WHEN channel = 'web' THEN 1 ELSE 0 END, or fit the model with "
                "an encoder (OneHotEncoder) for it"
            )
            problems.append(
                Problem(
                    "K302",
                    f"model input '{name}' is {expr.dtype}; the model takes a number there",
                    text.location(1, 1, len(text.text)),
                    hint,
                )
            )
            continue
        inputs.append((name, expr))
    if len(inputs) != len(m.inputs) or not shape_ok:
        return None
    return inputs


def _check_names(
    problems: list[Problem], m: ModelSpec, adapter: ModelAdapter, declared: list[str]
) -> bool:
    if adapter.input_names is not None and list(adapter.input_names) != declared:
        missing = [n for n in adapter.input_names if n not in declared]
        extra = [n for n in declared if n not in adapter.input_names]
        detail = ""
        if missing:
            detail += f"; missing: {missing}"
        if extra:
            detail += f"; not model inputs: {extra}"
        problems.append(
            Problem(
                "K302",
                f"model '{m.name}' expects inputs {list(adapter.input_names)} in this "
                f"order, but the pipeline gives {declared}{detail}",
                m.location,
                "list the inputs in the order the model was trained with",
            )
        )
        return False
    if adapter.n_inputs is not None and adapter.n_inputs != len(declared):
        problems.append(
            Problem(
                "K302",
                f"model '{m.name}' expects {adapter.n_inputs} inputs, the pipeline "
                f"gives {len(declared)}",
                m.location,
            )
        )
        return False
    return True


def check_model_outputs(problems: list[Problem], m: ModelSpec, adapter: ModelAdapter) -> None:
    for _, source in m.outputs:
        if source not in adapter.output_names:
            problems.append(
                Problem(
                    "K304",
                    f"model '{m.name}' has no output '{source}' (it gives "
                    f"{', '.join(adapter.output_names)})",
                    m.location,
                    suggest(source, list(adapter.output_names)),
                )
            )


def check_invariance(problems: list[Problem], m: ModelSpec, adapter: ModelAdapter) -> None:
    """A model not known to be row-wise exact needs a declared tolerance (K305)."""
    if adapter.exact or m.tolerance is not None:
        return
    problems.append(
        Problem(
            "K305",
            f"model '{m.name}' is not known to give bit-identical scores at every batch "
            f"size ({adapter.inexact_reason}); declare the absolute tolerance its outputs "
            "may differ by between batch, per-record, HTTP and Spark runs",
            m.location,
            "add e.g. 'tolerance: 1.0e-12' to the model step (see docs/models.md)",
        )
    )


def kernel_of(m: ModelSpec, adapter: ModelAdapter) -> tuple[str, str]:
    """What scores the model (see :mod:`kaskad.models.kernels`) and, for the library, why:
    a compiled kernel when one reproduces the model bit for bit, unless the step opts out
    with ``kernel: library``."""
    if m.kernel == "library":
        return "library", "the pipeline asks for the library (kernel: library)"
    from kaskad.models.kernels import choose

    choice = choose(adapter)
    return choice.kernel, choice.reason
