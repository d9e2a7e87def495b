"""scikit-learn trees and tree ensembles as a :class:`TreeEnsemble`.

scikit-learn converts the features to float32 and compares them (as doubles) with the
float64 ``tree_.threshold`` (``<=`` goes left); a NaN goes where ``missing_go_to_left``
says (scikit-learn >= 1.3). A classifier tree's probabilities are its leaf's class
fractions; a forest adds its trees' outputs in order and divides by their
number; gradient boosting starts from the constant init prediction and adds
``learning_rate * value`` per stage in order, then ``expit`` (binary) or the softmax
(multiclass). A Pipeline is accepted when everything before the trees is one
SimpleImputer of NaN (its fill values are applied first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kaskad.models.kernels.ensemble import TreeEnsemble, Unsupported

_SINGLE = frozenset(
    {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"}
)
_FORESTS = frozenset(
    {
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    }
)
_BOOSTING = frozenset({"GradientBoostingClassifier", "GradientBoostingRegressor"})
FAMILIES = _SINGLE | _FORESTS | _BOOSTING


def from_sklearn(estimator: Any, task: str) -> TreeEnsemble:
    fill: list[float] | None = None
    final = estimator
    if type(estimator).__name__ == "Pipeline":
        steps = [s for _, s in estimator.steps if s not in (None, "passthrough")]
        final = steps[-1]
        head = steps[:-1]
        if len(head) > 1 or (head and type(head[0]).__name__ != "SimpleImputer"):
            shown = ", ".join(type(s).__name__ for s in head)
            raise Unsupported(f"pipeline steps before the trees: {shown}")
        if head:
            fill = _imputer_fill(head[0])
    kind = type(final).__name__
    if kind not in FAMILIES:
        raise Unsupported(f"{kind} has no kernel")
    n = int(final.n_features_in_)
    if fill is not None and len(fill) != n:
        raise Unsupported("the imputer changes the number of columns")
    e = TreeEnsemble(n_features=n, float32_inputs=True, fill=fill)
    if kind in _BOOSTING:
        _boosting(e, final, task)
    else:
        trees = [final] if kind in _SINGLE else list(final.estimators_)
        _forest(e, trees, task, final)
        if kind in _FORESTS:
            e.divide = float(len(trees))
    return e


def _imputer_fill(imputer: Any) -> list[float]:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and missing != missing):
        raise Unsupported(f"SimpleImputer of missing_values={missing!r}")
    if getattr(imputer, "add_indicator", False):
        raise Unsupported("SimpleImputer with add_indicator")
    try:
        fill = [float(v) for v in imputer.statistics_ if not isinstance(v, str | bytes)]
    except (TypeError, ValueError):
        fill = []
    if len(fill) != len(imputer.statistics_) or not all(np.isfinite(fill)):
        raise Unsupported("SimpleImputer statistics that are not finite numbers")
    return fill


def _leaf_probabilities(tree: Any) -> np.ndarray[Any, Any]:
    """Per node, the class probabilities a classifier tree gives (``predict_proba``):
    scikit-learn >= 1.4 stores them in ``tree_.value``; before, it stored class weights
    and divided by their sum when predicting."""
    proba = np.array(tree.tree_.value[:, 0, :], dtype=np.float64)
    normalizer = proba.sum(axis=1)[:, np.newaxis]
    if np.allclose(normalizer, 1.0):
        return proba
    normalizer[normalizer == 0.0] = 1.0
    proba /= normalizer
    return proba


def _forest(e: TreeEnsemble, trees: list[Any], task: str, owner: Any) -> None:
    if task == "regression":
        e.init = [0.0]
        for t in trees:
            e.add_tree(_add_tree(e, t.tree_, t.tree_.value[:, 0, 0]))
        return
    n_classes = len(owner.classes_)
    if task == "binary":
        e.init = [0.0]
        for t in trees:
            e.add_tree(_add_tree(e, t.tree_, _leaf_probabilities(t)[:, 1]))
        return
    e.init = [0.0] * n_classes
    for t in trees:
        proba = _leaf_probabilities(t)
        for c in range(n_classes):
            e.add_tree(_add_tree(e, t.tree_, proba[:, c]), c)


def _boosting(e: TreeEnsemble, model: Any, task: str) -> None:
    init = model.init_
    if not (init == "zero" or type(init).__name__ in ("DummyClassifier", "DummyRegressor")):
        raise Unsupported(f"an init estimator {type(init).__name__}")
    # a constant: the same for any row
    first = model._raw_predict_init(np.zeros((1, e.n_features), dtype=np.float32))
    e.init = [float(v) for v in np.asarray(first, dtype=np.float64)[0]]
    stages = model.estimators_
    k = stages.shape[1]
    if task == "binary":
        e.link = "sigmoid"
    elif task == "multiclass":
        e.link = "softmax_numpy"  # scikit-learn's softmax calls np.exp
    if len(e.init) != k:
        raise Unsupported(f"{len(e.init)} init values for {k} trees per stage")
    rate = float(model.learning_rate)
    for i in range(stages.shape[0]):
        for c in range(k):
            tree = stages[i, c].tree_
            scaled = [rate * float(v) for v in tree.value[:, 0, 0]]
            e.add_tree(_add_tree(e, tree, scaled), c)


def _add_tree(e: TreeEnsemble, tree: Any, leaf_values: Any) -> int:
    """Add one fitted ``tree_`` with the given per-node leaf values; returns its root."""
    left = tree.children_left
    right = tree.children_right
    features = tree.feature
    thresholds = tree.threshold
    missing_left = getattr(tree, "missing_go_to_left", None)
    ids: list[int] = []
    for i in range(tree.node_count):
        if left[i] == -1:
            ids.append(e.add_leaf(float(leaf_values[i])))
        else:
            nan_left = bool(missing_left[i]) if missing_left is not None else False
            ids.append(e.add_split(int(features[i]), float(thresholds[i]), nan_left=nan_left))
    for i in range(tree.node_count):
        if left[i] != -1:
            e.link_children(ids[i], ids[left[i]], ids[right[i]])
    return ids[0]
