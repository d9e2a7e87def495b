"""An ONNX graph of an optional ``Imputer`` and a ``TreeEnsembleClassifier`` (binary) or
``TreeEnsembleRegressor``, in float32 (what skl2onnx writes for a tree model), as a
:class:`TreeEnsemble`.

onnxruntime reads the features as float32, replaces the imputer's NaN by its float32
values, goes to the true branch when ``x <= value`` (``BRANCH_LEQ``; a NaN goes to the true
branch where ``missing_value_tracks_true``), adds the leaves' weights one tree after
another in float32, then adds the base value (float32) and, for ``LOGISTIC``, takes
``v = 1 / (1 + expf(-|x|))``, ``1 - v`` below zero (float32, the C library's ``expf``).
Anything else in the graph is left to the library.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kaskad.models.kernels.ensemble import TreeEnsemble, Unsupported


def from_onnx(data: bytes, task: str) -> TreeEnsemble:
    import onnx
    from onnx import helper

    model = onnx.load_from_string(data)
    nodes = list(model.graph.node)
    if nodes and nodes[-1].op_type == "Identity":
        nodes = nodes[:-1]
    fill: list[float] | None = None
    if len(nodes) == 2 and nodes[0].op_type == "Imputer":
        attrs = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
        if not np.isnan(attrs.get("replaced_value_float", 0.0)):
            raise Unsupported("an Imputer of values other than NaN")
        fill = [float(np.float32(v)) for v in attrs.get("imputed_value_floats", [])]
        nodes = nodes[1:]
    if len(nodes) != 1 or nodes[0].op_type not in (
        "TreeEnsembleClassifier",
        "TreeEnsembleRegressor",
    ):
        raise Unsupported("a graph other than [Imputer] + TreeEnsemble")
    a: dict[str, Any] = {x.name: helper.get_attribute_value(x) for x in nodes[0].attribute}
    classifier = nodes[0].op_type == "TreeEnsembleClassifier"
    prefix = "class" if classifier else "target"
    post = a.get("post_transform", b"NONE")
    post = post.decode() if isinstance(post, bytes) else str(post)
    if classifier and (
        task != "binary" or post != "LOGISTIC" or len(a.get("base_values", [])) != 1
    ):
        raise Unsupported(f"a {task} TreeEnsembleClassifier with {post}")
    if not classifier and (task != "regression" or post != "NONE"):
        raise Unsupported(f"a TreeEnsembleRegressor with {post}")
    aggregate = a.get("aggregate_function", b"SUM")
    aggregate = aggregate.decode() if isinstance(aggregate, bytes) else str(aggregate)
    if aggregate != "SUM":
        raise Unsupported(f"aggregate_function {aggregate}")
    if any(int(c) != 0 for c in a.get(f"{prefix}_ids", [])):
        raise Unsupported("weights for several classes or targets")
    modes = [m.decode() if isinstance(m, bytes) else str(m) for m in a["nodes_modes"]]
    if any(m not in ("BRANCH_LEQ", "LEAF") for m in modes):
        raise Unsupported("node modes other than BRANCH_LEQ")
    if fill is not None and len(fill) == 0:
        fill = None
    width = 1 + max(int(f) for f in a["nodes_featureids"])
    if fill is not None:
        width = max(width, len(fill))
    e = TreeEnsemble(n_features=width, float32_inputs=True, float32_sum=True, fill=fill)
    base = [float(np.float32(v)) for v in a.get("base_values", [])] or [0.0]
    e.link = "onnx_logistic" if classifier else "identity"
    e.scale_bias = (1.0, base[0])
    weights: dict[tuple[int, int], float] = {}
    for t, n, w in zip(
        a[f"{prefix}_treeids"], a[f"{prefix}_nodeids"], a[f"{prefix}_weights"], strict=True
    ):
        key = (int(t), int(n))
        weights[key] = float(np.float32(np.float32(weights.get(key, 0.0)) + np.float32(w)))
    trees: set[int] = set()
    ids: dict[tuple[int, int], int] = {}
    order: list[int] = []
    rows = zip(
        a["nodes_treeids"],
        a["nodes_nodeids"],
        a["nodes_featureids"],
        a["nodes_values"],
        modes,
        a.get("nodes_missing_value_tracks_true", [0] * len(modes)),
        strict=False,
    )
    for t, n, f, v, mode, tracks in rows:
        key = (int(t), int(n))
        if int(t) not in trees:
            trees.add(int(t))
            order.append(int(t))
        if mode == "LEAF":
            ids[key] = e.add_leaf(weights.get(key, 0.0))
        else:
            ids[key] = e.add_split(int(f), float(np.float32(v)), nan_left=bool(tracks))
    for t, n, yes, no, mode in zip(
        a["nodes_treeids"],
        a["nodes_nodeids"],
        a["nodes_truenodeids"],
        a["nodes_falsenodeids"],
        modes,
        strict=True,
    ):
        if mode != "LEAF":
            e.link_children(ids[(int(t), int(n))], ids[(int(t), int(yes))], ids[(int(t), int(no))])
    for t in order:
        e.add_tree(ids[(t, 0)])
    return e
