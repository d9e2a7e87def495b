"""Score metrics shared by backtests and drift monitoring: AUC (scikit-learn's), KS and the
population stability index (in NumPy; tied scores grouped, AUC counting them half)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]
LabelArray = npt.NDArray[np.int8]

PSI_BINS = 10
PSI_EPSILON = 1e-4


@dataclass(frozen=True)
class PsiBin:
    """A baseline-quantile bin ``(lower, upper]``; ``None`` is an open end."""

    lower: float | None
    upper: float | None
    baseline_share: float
    candidate_share: float
    contribution: float


def _tie_groups(scores: FloatArray, labels: LabelArray) -> tuple[FloatArray, FloatArray]:
    """Positives and negatives per distinct score, in ascending score order."""
    order = np.argsort(scores, kind="stable")
    ordered, positive = scores[order], labels[order]
    del order
    starts = np.concatenate(([0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1))
    total = np.diff(np.append(starts, ordered.size)).astype(np.float64)
    pos = np.add.reduceat(positive, starts, dtype=np.int64).astype(np.float64)
    return pos, total - pos


def auc(scores: FloatArray, labels: LabelArray) -> float | None:
    """Area under the ROC curve of ``scores`` (no NaN) for ``labels`` (0 or 1), by
    scikit-learn's ``roc_auc_score``: the probability that a positive scores higher than a
    negative, tied scores counting one half. ``None`` without both classes (where
    scikit-learn warns and answers NaN)."""
    positives = int(np.count_nonzero(labels))
    if positives == 0 or positives == labels.size:
        return None
    from sklearn.metrics import roc_auc_score  # imported when first needed: it is slow to load

    return float(roc_auc_score(labels, scores))


def ks(scores: FloatArray, labels: LabelArray) -> float | None:
    """Kolmogorov–Smirnov: the largest gap between the score CDFs of positives and
    negatives, over every threshold (after each group of tied scores)."""
    if scores.size == 0:
        return None
    pos, neg = _tie_groups(scores, labels)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return None
    return float(np.max(np.abs(np.cumsum(pos) / n_pos - np.cumsum(neg) / n_neg)))


def psi(
    baseline: FloatArray, candidate: FloatArray, bins: int = PSI_BINS, epsilon: float = PSI_EPSILON
) -> tuple[float | None, tuple[PsiBin, ...]]:
    """Population stability index of ``candidate`` against ``baseline``, on bins cut at the
    baseline's deciles (fewer when quantiles coincide); right-closed ``(lower, upper]``.
    A share of 0 counts as ``epsilon`` so the logarithm is defined."""
    base = baseline.astype(np.float64)
    cand = candidate.astype(np.float64)
    if base.size == 0 or cand.size == 0:
        return None, ()
    edges = np.unique(np.quantile(base, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    shares = []
    for values in (base, cand):
        counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
        shares.append(counts / values.size)
    b = np.where(shares[0] == 0, epsilon, shares[0])
    c = np.where(shares[1] == 0, epsilon, shares[1])
    parts = (c - b) * np.log(c / b)
    bounds: list[float | None] = [None, *(float(e) for e in edges), None]
    table = tuple(
        PsiBin(bounds[i], bounds[i + 1], float(shares[0][i]), float(shares[1][i]), float(p))
        for i, p in enumerate(parts)
    )
    return float(parts.sum()), table


def stability(value: float | None) -> str | None:
    """The usual reading of a PSI: < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant."""
    if value is None:
        return None
    if value < 0.1:
        return "stable"
    return "moderate" if value <= 0.25 else "significant"
