"""A CatBoost model (its JSON export) as a :class:`TreeEnsemble`.

CatBoost's trees are oblivious: every level of a tree tests one split, ``x > border``
(float32 features and borders), and the leaf is ``Σ bit_i << i`` over the tree's splits
in order. A missing value takes the feature's ``nan_value_treatment`` side (``AsTrue``:
above every border; otherwise below). Each tree becomes a full binary tree here (left:
not above the border). The raw value is ``scale × Σ leaves + bias``, the leaves added one
tree after another; ``Logloss`` then gives ``1 / (1 + exp(-raw))``. Categorical, text and
embedding features and multi-dimensional models are left to the library.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from kaskad.models.kernels.ensemble import TreeEnsemble, Unsupported


def from_catboost(model: Any, task: str) -> TreeEnsemble:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.json")
        model.save_model(path, format="json")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    info = data["features_info"]
    for kind in ("categorical_features", "text_features", "embedding_features"):
        if info.get(kind):
            raise Unsupported(f"{kind.replace('_', ' ')}")
    floats = info.get("float_features", [])
    nan_above = {int(f["feature_index"]): f.get("nan_value_treatment") == "AsTrue" for f in floats}
    flat = {int(f["feature_index"]): int(f["flat_feature_index"]) for f in floats}
    width = 1 + max(flat.values(), default=-1)
    scale, bias = data.get("scale_and_bias", [1.0, [0.0]])
    biases = bias if isinstance(bias, list) else [bias]
    if len(biases) != 1:
        raise Unsupported("multi-dimensional models")
    e = TreeEnsemble(n_features=width, float32_inputs=True)
    if task == "binary":
        e.link = "sigmoid"
    elif task != "regression":
        raise Unsupported(f"{task} models")
    e.scale_bias = (float(scale), float(biases[0]))
    for tree in data["oblivious_trees"]:
        splits = tree["splits"]
        leaves = [float(v) for v in tree["leaf_values"]]
        if len(leaves) != 1 << len(splits):
            raise Unsupported("multi-dimensional leaves")
        tests = []
        for s in splits:
            if s.get("split_type") != "FloatFeature":
                raise Unsupported(f"{s.get('split_type')} splits")
            index = int(s["float_feature_index"])
            tests.append((flat[index], float(s["border"]), not nan_above[index]))
        e.add_tree(_oblivious(e, tests, leaves, 0, 0))
    return e


def _oblivious(
    e: TreeEnsemble,
    tests: list[tuple[int, float, bool]],
    leaves: list[float],
    level: int,
    index: int,
) -> int:
    if level == len(tests):
        return e.add_leaf(leaves[index])
    feature, border, nan_left = tests[level]
    node = e.add_split(feature, border, nan_left=nan_left)
    left = _oblivious(e, tests, leaves, level + 1, index)
    right = _oblivious(e, tests, leaves, level + 1, index | (1 << level))
    e.link_children(node, left, right)
    return node
