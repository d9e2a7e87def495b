"""A tree ensemble as flat arrays, and how a row walks it.

Every tree of every supported library is one set of nodes here. An internal node sends
a row left or right by one feature:

- numeric: left when ``x <= threshold`` (``x < threshold`` for a ``strict`` ensemble);
  a missing value (NaN) goes where ``nan_left`` says; with ``zero_missing`` a value in
  ``[-ZERO, ZERO]`` is missing too (LightGBM's ``missing_type=Zero``);
- categorical (``cat >= 0``): left when ``x`` is not NaN, ``-1 < x < 2**31`` and
  ``int(x)`` (truncated) is in the node's category set; right otherwise (LightGBM).

A leaf holds one float64 value, already scaled as the library scales it (a boosting
stage's value times the learning rate). A row's raw output for class ``c`` is ``init[c]``
plus the values of its leaves in the trees of class ``c``, added one tree after another in
tree order (float64, or float32 for a ``float32_sum`` ensemble); then ``divide`` (a
forest's mean) and the ``link``. Missing inputs are imputed first (``fill``), then
rounded to float32 for a ``float32_inputs`` ensemble (scikit-learn and XGBoost compare
float32 features).

Nothing here knows a library: the extractors in this package build an ensemble from one,
and :mod:`kaskad.models.kernels.gate` checks it against the library before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# LightGBM's kZeroThreshold (1e-35f), as the double it is compared as
ZERO = float(np.float32(1e-35))
# "softmax" takes the C library's exp (LightGBM), "softmax_numpy" NumPy's (scikit-learn)
Link = Literal["identity", "sigmoid", "softmax", "softmax_numpy", "xgb_sigmoid", "onnx_logistic"]


class Unsupported(Exception):
    """The model uses something the kernels do not reproduce; the message says what."""


class Refused(ValueError):
    """An input the library refuses (NaN or ±inf for some models): the caller asks the
    library, which raises its own error."""


@dataclass
class TreeEnsemble:
    """Flat node arrays of every tree, and how the leaves' values become outputs."""

    n_features: int
    feature: list[int] = field(default_factory=list)  # -1 for a leaf
    threshold: list[float] = field(default_factory=list)
    left: list[int] = field(default_factory=list)  # absolute node indices
    right: list[int] = field(default_factory=list)
    nan_left: list[bool] = field(default_factory=list)
    zero_missing: list[bool] = field(default_factory=list)
    cat: list[int] = field(default_factory=list)  # index into ``cat_sets``, -1: numeric
    value: list[float] = field(default_factory=list)  # a leaf's value (0.0 elsewhere)
    cat_sets: list[frozenset[int]] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)
    tree_class: list[int] = field(default_factory=list)  # the output each tree adds to
    init: list[float] = field(default_factory=lambda: [0.0])  # one per class
    float32_inputs: bool = False
    float32_sum: bool = False
    strict: bool = False
    divide: float = 0.0  # divide the sums by this (a forest's number of trees); 0: none
    scale_bias: tuple[float, float] | None = None  # then ``scale * sum + bias`` (CatBoost)
    link: Link = "identity"
    sigmoid: float = 1.0  # LightGBM's sigmoid parameter: 1 / (1 + exp(-sigmoid * x))
    # inputs within [-ZERO, ZERO] are read as 0.0 (LightGBM keeps only values outside it)
    zero_band: bool = False
    # a missing input j is replaced by fill[j] first (a SimpleImputer before the trees)
    fill: list[float] | None = None
    # the library refuses NaN or infinite inputs: so does the kernel (set by the gate)
    refuses_nan: bool = False
    refuses_inf: bool = False

    @property
    def n_classes(self) -> int:
        return len(self.init)

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    def add_leaf(self, value: float) -> int:
        return self._add(-1, 0.0, False, False, -1, value)

    def add_split(
        self,
        feature: int,
        threshold: float,
        *,
        nan_left: bool,
        zero_missing: bool = False,
        categories: frozenset[int] | None = None,
    ) -> int:
        """A split node whose children are set later with :meth:`link_children`."""
        cat = -1
        if categories is not None:
            cat = len(self.cat_sets)
            self.cat_sets.append(categories)
        return self._add(feature, float(threshold), nan_left, zero_missing, cat, 0.0)

    def link_children(self, node: int, left: int, right: int) -> None:
        self.left[node] = left
        self.right[node] = right

    def add_tree(self, root: int, klass: int = 0) -> None:
        self.roots.append(root)
        self.tree_class.append(klass)

    def _add(
        self, feature: int, threshold: float, nan_left: bool, zero: bool, cat: int, value: float
    ) -> int:
        index = len(self.feature)
        self.feature.append(feature)
        self.threshold.append(threshold)
        self.left.append(index)
        self.right.append(index)
        self.nan_left.append(bool(nan_left))
        self.zero_missing.append(bool(zero))
        self.cat.append(cat)
        self.value.append(float(value))
        return index

    def depth(self) -> int:
        """The deepest leaf's depth over all trees (0 for single-leaf trees)."""
        deepest = 0
        stack = [(r, 0) for r in self.roots]
        while stack:
            node, d = stack.pop()
            if self.feature[node] < 0:
                deepest = max(deepest, d)
            else:
                stack.append((self.left[node], d + 1))
                stack.append((self.right[node], d + 1))
        return deepest
