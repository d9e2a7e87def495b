"""Drift tests whose alarm threshold follows the window's sample size.

A fixed rule such as "PSI > 0.1" fires most of the time on small windows and never on
large ones: under no change, PSI (and the chi-square statistic) has a sampling
distribution that depends on the counts. Here every comparison is a two-sample
chi-square test of homogeneity on binned counts (reference counts against window
counts):

    X² = Σ_samples Σ_bins (observed − expected)² / expected,   df = bins − 1

whose null distribution is χ²(df) whatever the sizes, so an alarm at ``p < alpha`` has a
false-alarm rate of ``alpha`` under no change, for a window of 100 records as for one of
100,000. Bins whose expected count is below :data:`MIN_EXPECTED` are pooled first (the
χ² approximation needs it). The same test serves numeric bins (reference deciles),
categories, rule outcomes, decision mixes and missing rates (two bins: present, missing).

PSI is reported too, with the PSI value that has the same false-alarm rate: under no
change PSI ≈ (1/n + 1/m)·X², so its calibrated threshold is ``(1/n + 1/m)·χ²_{1−α}(df)``.

A window checks many series at once; :func:`family_alpha` splits the window's
false-alarm budget between them (Bonferroni), so that the whole window alarms by chance
at most ``alpha`` of the time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# scipy.special's chi-square functions are what scipy.stats.chi2's sf and isf call;
# scipy.stats itself takes about a second to import (every server's start)
from scipy.special import chdtrc, chdtri

from kaskad.errors import InputError

MIN_EXPECTED = 5.0
PSI_EPSILON = 1e-4
DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class DriftTest:
    """One comparison of window counts with reference counts."""

    reference_n: int
    window_n: int
    bins: int  # after pooling
    statistic: float  # X²
    p_value: float
    psi: float
    psi_threshold: float  # the PSI with the same false-alarm rate as alpha
    alpha: float
    alarm: bool

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "reference_n": self.reference_n,
            "window_n": self.window_n,
            "bins": self.bins,
            "statistic": round(self.statistic, 6),
            "p_value": self.p_value,
            "psi": round(self.psi, 6),
            "psi_threshold": (  # None: one bin left, nothing to compare
                round(self.psi_threshold, 6) if math.isfinite(self.psi_threshold) else None
            ),
            "alpha": self.alpha,
            "alarm": self.alarm,
        }


def family_alpha(alpha: float, tests: int) -> float:
    """The level of each of ``tests`` comparisons so the window alarms by chance at most
    ``alpha`` of the time (Bonferroni)."""
    if not 0 < alpha < 1:
        raise InputError(f"alpha {alpha}: a false-alarm rate is between 0 and 1")
    return alpha / max(tests, 1)


def pool(reference: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge bins whose expected count (under no change) is below :data:`MIN_EXPECTED`
    into their smallest neighbour by reference share, until every bin has enough."""
    ref = [float(x) for x in reference]
    win = [float(x) for x in window]
    total_ref, total_win = sum(ref), sum(win)
    total = total_ref + total_win

    def expected_min(i: int) -> float:
        column = ref[i] + win[i]
        return min(column * total_ref, column * total_win) / total

    while len(ref) > 1:
        smallest = min(range(len(ref)), key=expected_min)
        if expected_min(smallest) >= MIN_EXPECTED:
            break
        if smallest == 0:
            other = 1
        elif smallest == len(ref) - 1:
            other = smallest - 1
        else:
            left, right = smallest - 1, smallest + 1
            other = left if ref[left] + win[left] <= ref[right] + win[right] else right
        ref[other] += ref[smallest]
        win[other] += win[smallest]
        del ref[smallest], win[smallest]
    return np.array(ref), np.array(win)


def compare(
    reference: Sequence[float] | np.ndarray,
    window: Sequence[float] | np.ndarray,
    alpha: float = DEFAULT_ALPHA,
) -> DriftTest | None:
    """The chi-square test of ``window`` counts against ``reference`` counts (same bins);
    None when either side is empty."""
    ref = np.asarray(reference, dtype=np.float64)
    win = np.asarray(window, dtype=np.float64)
    if ref.shape != win.shape:
        raise InputError("reference and window counts must have the same bins")
    n, m = float(ref.sum()), float(win.sum())
    if n <= 0 or m <= 0:
        return None
    psi = _psi(ref / n, win / m)
    ref, win = pool(ref, win)
    k = ref.size
    if k < 2:
        return DriftTest(int(n), int(m), k, 0.0, 1.0, psi, float("inf"), alpha, False)
    column = ref + win
    expected_ref = column * n / (n + m)
    expected_win = column * m / (n + m)
    statistic = float(
        np.sum((ref - expected_ref) ** 2 / expected_ref)
        + np.sum((win - expected_win) ** 2 / expected_win)
    )
    df = k - 1
    p_value = float(chdtrc(df, statistic))  # chi2.sf(statistic, df)
    threshold = float(chdtri(df, alpha)) * (1 / n + 1 / m)  # chi2.isf(alpha, df)
    return DriftTest(int(n), int(m), k, statistic, p_value, psi, threshold, alpha, p_value < alpha)


def _psi(base: np.ndarray, cand: np.ndarray) -> float:
    b = np.where(base == 0, PSI_EPSILON, base)
    c = np.where(cand == 0, PSI_EPSILON, cand)
    return float(np.sum((c - b) * np.log(c / b)))
