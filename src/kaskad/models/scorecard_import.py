"""A fitted scikit-learn logistic regression → a scorecard (YAML-ready data).

Supported: a binary ``LogisticRegression`` alone (plain coefficients), or at the end of a
``Pipeline`` whose preprocessing is a ``KBinsDiscretizer`` (one-hot or ordinal), a
``OneHotEncoder`` or a ``ColumnTransformer`` of those (with ``passthrough`` columns as plain
coefficients). Each input column becomes a characteristic; a one-hot column's coefficient is
its bin's points, so the scorecard's score is the model's ``predict_proba[:, 1]`` up to the
order of additions (a few ULP). Anything else is refused with :class:`ScorecardImportError`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kaskad.errors import KaskadError

__all__ = ["ScorecardImportError", "scorecard_from_sklearn"]


class ScorecardImportError(KaskadError):
    """A model cannot be turned into a scorecard (K306)."""

    code = "K306"

    def __init__(self, message: str) -> None:
        super().__init__(f"K306 cannot import as a scorecard: {message}")


def _identifier(name: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "x"
    return f"c_{out}" if out[0].isdigit() or out in ("points", "score", "reasons") else out


def _names(est: Any, width: int) -> list[str]:
    names = getattr(est, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else [f"x{i}" for i in range(width)]


class _Terms:
    """Characteristics built while walking the preprocessing, and the next coefficient."""

    def __init__(self, coef: list[float]) -> None:
        self.coef = coef
        self.at = 0
        self.chars: list[dict[str, Any]] = []

    def take(self, n: int) -> list[float]:
        if self.at + n > len(self.coef):
            raise ScorecardImportError("the preprocessing gives more columns than the model")
        part = self.coef[self.at : self.at + n]
        self.at += n
        return part

    def linear(self, name: str) -> None:
        (c,) = self.take(1)
        self.chars.append({"name": _identifier(name), "input": name, "coefficient": c})

    def binned(self, name: str, bins: list[dict[str, Any]]) -> None:
        self.chars.append({"name": _identifier(name), "input": name, "bins": bins})


def _kbins(t: Any, names: list[str], terms: _Terms) -> None:
    encode = t.encode
    for j, name in enumerate(names):
        edges = [float(e) for e in t.bin_edges_[j]]
        inner = edges[1:-1]
        k = len(inner) + 1
        if encode == "ordinal":
            (c,) = terms.take(1)
            points = [c * i for i in range(k)]
        else:
            points = terms.take(k)
        bins: list[dict[str, Any]] = []
        for i in range(k):
            b: dict[str, Any] = {}
            if i > 0:
                b["from"] = inner[i - 1]
            if i < k - 1:
                b["to"] = inner[i]
            b["points"] = points[i]
            bins.append(b)
        terms.binned(name, bins)


def _onehot(t: Any, names: list[str], terms: _Terms) -> None:
    drop = getattr(t, "drop_idx_", None)
    for j, name in enumerate(names):
        cats = list(t.categories_[j])
        dropped = None if drop is None or drop[j] is None else int(drop[j])
        kept = [i for i in range(len(cats)) if i != dropped]
        points = dict(zip(kept, terms.take(len(kept)), strict=True))
        bins: list[dict[str, Any]] = []
        for i, cat in enumerate(cats):
            p = points.get(i, 0.0)
            if cat is None or (isinstance(cat, float) and math.isnan(cat)):
                bins.append({"missing": True, "points": p})
            else:
                value = cat.item() if hasattr(cat, "item") else cat
                bins.append({"values": [value], "points": p})
        bins.append({"otherwise": True, "points": 0.0})  # a category unseen in training
        terms.binned(name, bins)


def _step(t: Any, names: list[str], terms: _Terms) -> None:
    kind = type(t).__name__
    if t == "passthrough" or (kind == "FunctionTransformer" and t.func is None):
        for name in names:
            terms.linear(name)
    elif kind == "KBinsDiscretizer":
        _kbins(t, names, terms)
    elif kind == "OneHotEncoder":
        _onehot(t, names, terms)
    elif kind == "ColumnTransformer":
        all_names = names
        for _, sub, cols in t.transformers_:
            if sub == "drop":
                continue
            picked = _columns(cols, all_names)
            _step(sub, picked, terms)
    else:
        raise ScorecardImportError(
            f"{kind} is not a scorecard step (use KBinsDiscretizer, OneHotEncoder, "
            "ColumnTransformer of those, or passthrough columns)"
        )


def _columns(cols: Any, names: list[str]) -> list[str]:
    if isinstance(cols, str):
        return [cols]
    out = []
    for c in list(cols):
        out.append(names[int(c)] if not isinstance(c, str) else c)
    return out


def scorecard_from_sklearn(model: Any, name: str, reasons: int = 4) -> dict[str, Any]:
    """The scorecard of a fitted binary logistic regression, as YAML-ready data."""
    steps = list(model.steps) if type(model).__name__ == "Pipeline" else [("model", model)]
    final = steps[-1][1]
    if type(final).__name__ != "LogisticRegression" or not hasattr(final, "coef_"):
        raise ScorecardImportError(
            f"the last step is {type(final).__name__}; a fitted LogisticRegression is needed"
        )
    if final.coef_.shape[0] != 1:
        raise ScorecardImportError("only binary classifiers (two classes) become scorecards")
    coef = [float(c) for c in final.coef_[0]]
    terms = _Terms(coef)
    pre = [s for _, s in steps[:-1] if s != "passthrough"]
    if len(pre) > 1:
        raise ScorecardImportError("use one preprocessing step (a ColumnTransformer joins many)")
    first = pre[0] if pre else final
    names = _names(first, getattr(first, "n_features_in_", len(coef)))
    if pre:
        _step(pre[0], names, terms)
    else:
        for n in names:
            terms.linear(n)
    if terms.at != len(coef):
        raise ScorecardImportError(
            f"the preprocessing gives {terms.at} columns, the model takes {len(coef)}"
        )
    return {
        "scorecard": name,
        "description": f"imported from scikit-learn {type(model).__name__}",
        "link": "logistic",
        "intercept": float(final.intercept_[0]),
        "reasons": reasons,
        "characteristics": terms.chars,
    }
