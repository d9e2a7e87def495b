"""An XGBoost booster (its JSON form, ``save_raw("json")``) as a :class:`TreeEnsemble`.

XGBoost reads features as float32 and sends a row left when ``x < split_condition``
(float32); a missing value goes the node's default way. A leaf's value is its
``split_conditions`` entry. A row's margin starts at the base score (for
``binary:logistic`` the stored probability turned into a margin, ``-log(1/p - 1)`` in
float32) and adds the leaves one tree after another in float32; the logistic objective
then applies XGBoost's float32 sigmoid, ``1 / (expf(min(-x, 88.7)) + 1 + 1e-16)``, with
the C library's ``expf``.
Categorical splits, DART, multi-target and multiclass models are left to the library.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from kaskad.models.kernels.ensemble import TreeEnsemble, Unsupported

_REGRESSION = frozenset({"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"})


def from_xgboost(booster: Any, task: str) -> TreeEnsemble:
    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    objective = str(learner["objective"]["name"])
    params = learner["learner_model_param"]
    booster_part = learner["gradient_booster"]
    if booster_part.get("name") != "gbtree":
        raise Unsupported(f"booster {booster_part.get('name')!r}")
    if int(params.get("num_target", "1") or 1) != 1 or int(params.get("num_class", "0") or 0):
        raise Unsupported("multiclass or multi-target models")
    base = _base_score(str(params["base_score"]))
    e = TreeEnsemble(
        n_features=int(params["num_feature"]), float32_inputs=True, float32_sum=True, strict=True
    )
    if task == "binary" and objective == "binary:logistic":
        from kaskad.models.kernels.record import expf

        expf(0.0)  # the C library's expf is there (else: Unsupported)
        e.link = "xgb_sigmoid"
        p = np.float32(base)
        margin = -np.float32(math.log(float(np.float32(1.0) / p - np.float32(1.0))))
        e.init = [float(np.float32(margin))]
    elif task == "regression" and objective in _REGRESSION:
        e.init = [float(np.float32(base))]
    else:
        raise Unsupported(f"objective {objective}")
    for tree in booster_part["model"]["trees"]:
        e.add_tree(_tree(e, tree))
    return e


def _base_score(text: str) -> float:
    values = [float(v) for v in text.strip("[]").split(",") if v.strip()]
    if len(values) != 1:
        raise Unsupported(f"base score {text}")
    return values[0]


def _tree(e: TreeEnsemble, tree: dict[str, Any]) -> int:
    if any(int(t) != 0 for t in tree.get("split_type", [])):
        raise Unsupported("categorical splits")
    left, right = tree["left_children"], tree["right_children"]
    conditions = tree["split_conditions"]
    features, default_left = tree["split_indices"], tree["default_left"]
    ids: list[int] = []
    for i in range(len(left)):
        value = float(np.float32(conditions[i]))
        if left[i] == -1:
            ids.append(e.add_leaf(value))
        else:
            ids.append(e.add_split(int(features[i]), value, nan_left=bool(default_left[i])))
    for i in range(len(left)):
        if left[i] != -1:
            e.link_children(ids[i], ids[left[i]], ids[right[i]])
    return ids[0]
