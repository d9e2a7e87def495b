"""The per-record kernel of a scikit-learn linear model, in plain Python.

A batch of a linear model is already scored by kaskad's fixed-order kernel
(:mod:`kaskad.models.sklearn_exact`): the steps before the final estimator in
scikit-learn, then ``bias + Σ z_j·w_j`` added feature by feature from the first, then the
link. One record pays scikit-learn's per-call checks in those steps; here the same
arithmetic runs on the row's list of floats: the steps that are element-wise formulas
(``SimpleImputer`` of NaN, ``StandardScaler``) are applied as such, the sum is formed in
the same order, and the link is ``1 / (1 + exp(-x))`` (bit-equal to ``expit``) or the
same softmax (with NumPy's ``exp``). A model with any other step keeps scikit-learn for its records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kaskad.models.kernels.ensemble import Unsupported
from kaskad.models.kernels.record import exp, np_exp

Step = Callable[[list[float]], list[float]]


def linear_record(estimator: Any, task: str) -> tuple[int, Callable[[list[float]], list[float]]]:
    """The number of inputs and the per-record function of a linear model."""
    steps: list[Step] = []
    final = estimator
    if type(estimator).__name__ == "Pipeline":
        final = estimator.steps[-1][1]
        steps = [_step(s) for _, s in estimator.steps[:-1] if s not in (None, "passthrough")]
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
    weights = [[float(w) for w in row] for row in coef]
    biases = np.broadcast_to(
        np.atleast_1d(np.asarray(final.intercept_, dtype=np.float64)), (len(weights),)
    ).tolist()
    n_in: Any = getattr(estimator, "n_features_in_", None)
    width = int(n_in) if n_in is not None else len(weights[0])

    def score(row: list[float]) -> list[float]:
        z = row
        for step in steps:
            z = step(z)
        out = []
        for w, b in zip(weights, biases, strict=True):
            acc = 0.0
            for v, wj in zip(z, w, strict=True):
                acc += v * wj
            out.append(acc + b)
        if task == "binary":
            return [1.0 / (1.0 + exp(-out[0]))]
        if task == "multiclass":
            top = out[0]
            for s in out[1:]:
                top = max(top, s)
            exps = np_exp([s - top for s in out])  # as softmax_columns: NumPy's exp
            total = exps[0]
            for v in exps[1:]:
                total += v
            return [v / total for v in exps]
        return out

    return width, score


def _step(step: Any) -> Step:
    kind = type(step).__name__
    if kind == "SimpleImputer":
        from kaskad.models.kernels.sklearn_trees import _imputer_fill

        fill = _imputer_fill(step)
        return lambda z: [f if v != v else v for v, f in zip(z, fill, strict=True)]
    if kind == "StandardScaler":
        mean = step.mean_.tolist() if step.with_mean else None
        scale = step.scale_.tolist() if step.with_std else None

        def scaled(z: list[float]) -> list[float]:
            if mean is not None:
                z = [v - m for v, m in zip(z, mean, strict=True)]
            if scale is not None:
                z = [v / s for v, s in zip(z, scale, strict=True)]
            return z

        return scaled
    raise Unsupported(f"pipeline step {kind} before the linear model")
