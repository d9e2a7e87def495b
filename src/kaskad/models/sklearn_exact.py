"""Row-wise exact scoring of scikit-learn models, and what a model's columns hold.

scikit-learn computes a linear model's scores with a matrix product (BLAS), which adds a
row's terms in an order that depends on how many rows are in the matrix: the same row
scored alone and in a batch can differ in the last bits. kaskad therefore scores a linear
final estimator (LogisticRegression, LinearRegression, Ridge, …) itself: the steps before
it run in scikit-learn (they must be row-wise transformers, see below), the linear part is
a fixed-order kernel (feature by feature, vectorised over rows, so every row's sum is
formed in the same order at any batch size), and the link (logistic, softmax) is applied
element by element.

Everything else is trusted only from an explicit allowlist: transformers and estimators
whose results for one row are computed from that row alone, in an order that does not
depend on the batch (scalers, imputers, encoders; trees and tree ensembles, which add
their trees' values one tree after another for each row). A model with any other step is
not known to be exact: the pipeline must declare a tolerance on its outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import expit

from kaskad.models.base import FloatArray, InputKind, Task

# Transformers whose output row depends on that input row only, computed element by
# element or by lookup (no sums across features in a batch-dependent order).
ROW_WISE_TRANSFORMERS = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "SimpleImputer",
        "MissingIndicator",
        "OneHotEncoder",
        "OrdinalEncoder",
        "TargetEncoder",
        "KBinsDiscretizer",
        "Binarizer",
        "PolynomialFeatures",
        "SplineTransformer",
        "VarianceThreshold",
        "SelectKBest",
        "SelectPercentile",
    }
)
# Estimators whose scores for a row are computed from that row alone in a fixed order.
ROW_WISE_ESTIMATORS = frozenset(
    {
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    }
)
# Linear estimators kaskad scores with its own fixed-order kernel.
LINEAR_ESTIMATORS = frozenset(
    {
        "LogisticRegression",
        "LogisticRegressionCV",
        "LinearRegression",
        "Ridge",
        "RidgeCV",
        "Lasso",
        "LassoCV",
        "ElasticNet",
        "ElasticNetCV",
        "BayesianRidge",
        "HuberRegressor",
        "SGDRegressor",
    }
)
_NO_OP = ("drop", "passthrough")
_ENCODERS = frozenset({"OneHotEncoder", "OrdinalEncoder", "TargetEncoder"})

Predict = Callable[[Any], npt.NDArray[Any]]


@dataclass(frozen=True)
class Scoring:
    """How an adapter scores: a function of its inputs, and whether it is row-wise exact
    (and if not, why not)."""

    predict: Predict
    exact: bool
    reason: str = ""
    kernel: bool = False  # the linear part is kaskad's own fixed-order kernel


def _name(obj: Any) -> str:
    """The class name of a scikit-learn object ('' for anything else)."""
    cls = type(obj)
    return cls.__name__ if cls.__module__.startswith("sklearn.") else ""


def not_row_wise(transformer: Any) -> str | None:
    """The first step of ``transformer`` not known to be row-wise exact, or None."""
    if transformer is None or (
        isinstance(transformer, str) and transformer in ("drop", "passthrough")
    ):
        return None
    name = _name(transformer)
    if name == "Pipeline":
        for _, step in transformer.steps:
            found = not_row_wise(step)
            if found:
                return found
        return None
    if name == "ColumnTransformer":
        for _, part, _ in transformer.transformers_:
            found = not_row_wise(part)
            if found:
                return found
        return None
    if name == "FeatureUnion":
        for _, part in transformer.transformer_list:
            found = not_row_wise(part)
            if found:
                return found
        return None
    return None if name in ROW_WISE_TRANSFORMERS else type(transformer).__name__


def scoring_for(estimator: Any, task: Task) -> Scoring:
    """How to score ``estimator`` (a fitted estimator or Pipeline) exactly, if it can be."""
    method = "predict" if task == "regression" else "predict_proba"
    library: Predict = getattr(estimator, method)
    head: Any = None
    final = estimator
    if _name(estimator) == "Pipeline":
        final = estimator.steps[-1][1]
        if len(estimator.steps) > 1:
            head = estimator[:-1]
            bad = not_row_wise(head)
            if bad is not None:
                return Scoring(library, False, f"step {bad} is not known to be row-wise exact")
    kind = _name(final)
    if kind in ROW_WISE_ESTIMATORS:
        if getattr(final, "n_jobs", None) not in (None, 1):
            # forests add their trees' votes from several threads in no fixed order
            final.set_params(n_jobs=1)
        return Scoring(library, True)
    if kind in LINEAR_ESTIMATORS and _linear_ok(final, task):
        return Scoring(_linear_scorer(head, final, task), True, kernel=True)
    shown = type(final).__name__
    return Scoring(library, False, f"{shown} is not known to be row-wise exact")


def _linear_ok(final: Any, task: Task) -> bool:
    coef = getattr(final, "coef_", None)
    if coef is None or not hasattr(final, "intercept_"):
        return False
    rows = int(np.atleast_2d(np.asarray(coef)).shape[0])
    if task == "binary":
        return rows == 1
    if task == "multiclass":
        return rows == len(final.classes_)
    return bool(np.ndim(coef) == 1 or rows == 1)


def _linear_scorer(head: Any, final: Any, task: Task) -> Predict:
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
    k, width = coef.shape
    intercept = np.broadcast_to(
        np.atleast_1d(np.asarray(final.intercept_, dtype=np.float64)), (k,)
    ).copy()
    weights = [[float(w) for w in coef[c]] for c in range(k)]
    biases = [float(b) for b in intercept]

    def predict(x: Any) -> npt.NDArray[Any]:
        z = head.transform(x) if head is not None else x
        z = _dense(z)
        if z.shape[1] != width:
            raise ValueError(f"the linear step expects {width} features, got {z.shape[1]}")
        scores = [linear_kernel(z, weights[c], biases[c]) for c in range(k)]
        if task == "regression":
            return scores[0]
        if task == "binary":
            p = np.asarray(expit(scores[0]), dtype=np.float64)
            return np.column_stack([1.0 - p, p])
        return softmax_columns(scores)

    return predict


def _dense(z: Any) -> FloatArray:
    if isinstance(z, pl.DataFrame):
        z = z.to_numpy()
    if hasattr(z, "toarray"):  # a scipy sparse matrix (e.g. from a OneHotEncoder)
        z = z.toarray()
    return np.asfortranarray(np.asarray(z, dtype=np.float64))


def linear_kernel(z: FloatArray, weights: list[float], bias: float) -> FloatArray:
    """``bias + sum_j z[:, j] * weights[j]``, added feature by feature from the first: every
    row's sum has the same order of operations whatever the number of rows."""
    n = z.shape[0]
    acc = np.zeros(n, dtype=np.float64)
    term = np.empty(n, dtype=np.float64)
    for j, w in enumerate(weights):
        np.multiply(z[:, j], w, out=term)
        np.add(acc, term, out=acc)
    np.add(acc, bias, out=acc)
    return acc


def softmax_columns(scores: list[FloatArray]) -> FloatArray:
    """Softmax over classes, one class column at a time (no reductions across rows)."""
    top = scores[0].copy()
    for s in scores[1:]:
        np.maximum(top, s, out=top)
    exps = [np.exp(s - top) for s in scores]
    total = exps[0].copy()
    for e in exps[1:]:
        np.add(total, e, out=total)
    return np.column_stack([e / total for e in exps])


def selects_by_name(estimator: Any) -> bool:
    """Whether the model picks its columns by name somewhere (a ColumnTransformer), so it
    must receive a data frame rather than a nameless array."""
    name = _name(estimator)
    if name == "ColumnTransformer":
        return True
    if name == "Pipeline":
        return any(selects_by_name(step) for _, step in estimator.steps)
    if name == "FeatureUnion":
        return any(selects_by_name(part) for _, part in estimator.transformer_list)
    return False


def input_kinds(estimator: Any, n_inputs: int) -> tuple[InputKind, ...]:
    """Which of the model's input columns are text: those its own pipeline encodes from
    text categories (a OneHotEncoder/OrdinalEncoder fitted on strings); the rest are
    numbers."""
    first = estimator.steps[0][1] if _name(estimator) == "Pipeline" else estimator
    kinds: list[InputKind] = ["number"] * n_inputs
    if _name(first) == "ColumnTransformer":
        positions: dict[str, Any] = getattr(first, "_transformer_to_input_indices", {})
        for name, part, _ in first.transformers_:
            for pos, column in enumerate(positions.get(name, [])):
                if 0 <= int(column) < n_inputs:
                    kinds[int(column)] = _column_kind(part, pos)
    else:
        kinds = [_column_kind(first, i) for i in range(n_inputs)]
    return tuple(kinds)


def _column_kind(transformer: Any, position: int) -> InputKind:
    """Kind of the ``position``-th column a transformer reads, from the encoder that reads
    it first (after imputers, which keep columns in place)."""
    steps = transformer.steps if _name(transformer) == "Pipeline" else [("", transformer)]
    for _, step in steps:
        name = _name(step)
        if name in _ENCODERS:
            categories = getattr(step, "categories_", None)
            if categories is None or position >= len(categories):
                return "number"
            return "text" if np.asarray(categories[position]).dtype.kind in "OUS" else "number"
        if name != "SimpleImputer":
            return "number"
    return "number"
