"""A LightGBM text model (``model_to_string``) as a :class:`TreeEnsemble`.

LightGBM compares the float64 feature with the float64 threshold (``<=`` goes left). Its
``decision_type`` per node holds: bit 0 categorical, bit 1 default-left, bits 2-3 the
missing type (0 none: NaN is taken as 0.0; 1 zero: NaN and values within ±1e-35 go the
default way; 2 NaN: NaN goes the default way). A categorical split sends a row left when
its value, truncated to an int, is in the node's bitset. Children below zero are leaves
(``~child`` is the leaf's index). The binary objective's probability is
``1 / (1 + exp(-sigmoid * raw))``; multiclass takes the softmax of the classes' sums.
LightGBM reads an input within ±1e-35 as 0.0 (it keeps only the values outside that band).
"""

from __future__ import annotations

from kaskad.models.kernels.ensemble import TreeEnsemble, Unsupported


def from_lightgbm(text: str, task: str) -> TreeEnsemble:
    header, trees = _parse(text)
    n_classes = int(header.get("num_class", "1"))
    per_iteration = int(header.get("num_tree_per_iteration", "1"))
    objective = header.get("objective", "").split()
    e = TreeEnsemble(n_features=int(header["max_feature_idx"]) + 1, zero_band=True)
    e.init = [0.0] * per_iteration
    if task == "binary":
        if not objective or objective[0] != "binary":
            raise Unsupported(f"objective {' '.join(objective) or 'custom'}")
        e.link = "sigmoid"
        sigmoid = [p for p in objective[1:] if p.startswith("sigmoid:")]
        e.sigmoid = float(sigmoid[0].split(":")[1]) if sigmoid else 1.0
    elif task == "multiclass":
        if not objective or objective[0] != "multiclass" or per_iteration != n_classes:
            raise Unsupported(f"objective {' '.join(objective) or 'custom'}")
        e.link = "softmax"
    elif objective and objective[0] not in ("regression", "regression_l1", "huber", "fair"):
        # other regression objectives transform the sum (exp for poisson, ...)
        raise Unsupported(f"objective {objective[0]}")
    if "average_output" in header:
        e.divide = float(len(trees) // max(per_iteration, 1))
    for i, tree in enumerate(trees):
        if tree.get("is_linear", "0") != "0":
            raise Unsupported("linear trees")
        e.add_tree(_tree(e, tree), i % per_iteration)
    return e


def _parse(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current = header
    for line in text.splitlines():
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
            continue
        if line.startswith("end of trees"):
            break
        key, sep, rest = line.partition("=")
        if sep:
            current[key] = rest
        elif line.strip() and current is header:
            current[line.strip()] = ""
    if "max_feature_idx" not in header:
        raise Unsupported("no max_feature_idx in the model header")
    return header, trees


def _floats(tree: dict[str, str], key: str) -> list[float]:
    return [float(v) for v in tree.get(key, "").split()]


def _ints(tree: dict[str, str], key: str) -> list[int]:
    return [int(v) for v in tree.get(key, "").split()]


def _tree(e: TreeEnsemble, tree: dict[str, str]) -> int:
    leaves = _floats(tree, "leaf_value")
    if int(tree.get("num_leaves", "1")) <= 1:
        return e.add_leaf(leaves[0] if leaves else 0.0)
    features = _ints(tree, "split_feature")
    thresholds = _floats(tree, "threshold")
    kinds = _ints(tree, "decision_type")
    lefts = _ints(tree, "left_child")
    rights = _ints(tree, "right_child")
    bounds = _ints(tree, "cat_boundaries")
    words = _ints(tree, "cat_threshold")
    splits: list[int] = []
    for i, f in enumerate(features):
        kind = kinds[i]
        default_left = bool(kind & 2)
        missing = (kind >> 2) & 3
        if kind & 1:
            j = int(thresholds[i])
            cats = frozenset(
                32 * w + b
                for w, word in enumerate(words[bounds[j] : bounds[j + 1]])
                for b in range(32)
                if (word >> b) & 1
            )
            splits.append(e.add_split(f, 0.0, nan_left=False, categories=cats))
        elif missing == 0:  # NaN is compared as 0.0
            splits.append(e.add_split(f, thresholds[i], nan_left=thresholds[i] >= 0.0))
        elif missing == 1:
            splits.append(e.add_split(f, thresholds[i], nan_left=default_left, zero_missing=True))
        else:
            splits.append(e.add_split(f, thresholds[i], nan_left=default_left))
    leaf_nodes = [e.add_leaf(v) for v in leaves]

    def node(child: int) -> int:
        return splits[child] if child >= 0 else leaf_nodes[~child]

    for i in range(len(features)):
        e.link_children(splits[i], node(lefts[i]), node(rights[i]))
    return splits[0]
