"""Drift alarms calibrated to the window's size: the false-alarm rate under no change stays
near alpha from 100 to 100,000 records, and a small real shift is caught."""

from __future__ import annotations

import numpy as np
import pytest

from kaskad.errors import InputError
from kaskad.monitor.drift import compare, family_alpha, pool

REFERENCE_SIZE = 200_000
DECILES = np.linspace(0, 1, 11)[1:-1]


def _binned(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)


class Population:
    """Three features: a normal, a skewed (exponential) and a categorical one."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        reference = self.draw(REFERENCE_SIZE)
        self.edges = [np.unique(np.quantile(reference[i], DECILES)) for i in range(2)]
        self.reference = self.counts(reference)

    def draw(self, n: int, shift: float = 0.0) -> list[np.ndarray]:
        return [
            self.rng.normal(shift, 1.0, n),
            self.rng.exponential(1.0, n),
            self.rng.choice(5, n, p=[0.5, 0.2, 0.15, 0.1, 0.05]),
        ]

    def counts(self, values: list[np.ndarray]) -> list[np.ndarray]:
        return [
            _binned(values[0], self.edges[0]),
            _binned(values[1], self.edges[1]),
            np.bincount(values[2], minlength=5),
        ]

    def alarms(self, window: list[np.ndarray], alpha: float) -> list[bool]:
        each = family_alpha(alpha, 3)
        tests = [
            compare(r, w, each) for r, w in zip(self.reference, self.counts(window), strict=True)
        ]
        return [t is not None and t.alarm for t in tests]


@pytest.mark.slow
def test_no_change_windows_of_100_to_100000_records_rarely_alarm() -> None:
    rng = np.random.default_rng(20250601)
    population = Population(rng)
    sizes = np.round(np.exp(rng.uniform(np.log(100), np.log(100_000), 1000))).astype(int)
    alarmed = [any(population.alarms(population.draw(int(n)), 0.01)) for n in sizes]
    small = [a for a, n in zip(alarmed, sizes, strict=True) if n < 1000]
    large = [a for a, n in zip(alarmed, sizes, strict=True) if n >= 10_000]
    assert min(sizes) < 150 and max(sizes) > 90_000
    assert sum(alarmed) / len(alarmed) <= 0.015, sum(alarmed)
    # calibrated at every size: neither the small nor the large windows carry the alarms
    assert sum(small) / len(small) <= 0.03 and sum(large) / len(large) <= 0.03


def test_a_shift_of_a_fifth_of_a_standard_deviation_over_10000_records_alarms() -> None:
    population = Population(np.random.default_rng(7))
    alarms = population.alarms(population.draw(10_000, shift=0.2), 0.01)
    assert alarms == [True, False, False]


def test_a_fixed_psi_rule_is_not_calibrated_but_the_test_is() -> None:
    """Under no change, PSI > 0.1 fires on about a third of 100-record windows; the test
    at 1% on about 1%, and its PSI threshold shrinks as the window grows."""
    rng = np.random.default_rng(3)
    population = Population(rng)
    tests = [
        compare(population.reference[0], population.counts(population.draw(100))[0])
        for _ in range(200)
    ]
    assert sum(t.psi > 0.1 for t in tests if t) > 40
    assert sum(t.alarm for t in tests if t) <= 6
    big = compare(population.reference[0], population.counts(population.draw(100_000))[0])
    assert big is not None and big.psi_threshold < tests[0].psi_threshold / 100  # type: ignore[union-attr]


def test_missing_rate_jump_is_the_same_test_on_two_bins() -> None:
    test = compare([9_900, 100], [350, 150])  # 1% missing → 30% missing
    assert test is not None and test.alarm and test.p_value < 1e-12
    calm = compare([9_900, 100], [495, 5])
    assert calm is not None and not calm.alarm


def test_sparse_bins_are_pooled_and_empty_sides_give_nothing() -> None:
    ref, win = pool(np.array([1000.0, 1.0, 1.0, 1000.0]), np.array([50.0, 0.0, 0.0, 50.0]))
    assert ref.sum() == 2002 and win.sum() == 100 and ref.size < 4
    assert compare([0, 0], [1, 2]) is None
    with pytest.raises(InputError):
        compare([1, 2], [1, 2, 3])
    with pytest.raises(InputError):
        family_alpha(1.5, 3)


def test_p_value_and_threshold_are_scipy_stats_chi_square() -> None:
    """The test reads scipy.special's chi-square functions (scipy.stats is a second of
    every server's start); they give scipy.stats.chi2's sf and isf exactly."""
    from scipy.stats import chi2

    rng = np.random.default_rng(7)
    reference = rng.integers(0, 400, size=(200, 6))
    window = np.maximum(reference + rng.integers(-60, 60, size=(200, 6)), 0)
    for ref, win in zip(reference, window, strict=True):
        alpha = float(rng.choice([0.01, family_alpha(0.01, 37), 1e-9]))
        test = compare(ref, win, alpha)
        assert test is not None
        df = test.bins - 1
        assert test.p_value == float(chi2.sf(test.statistic, df))
        scale = 1 / test.reference_n + 1 / test.window_n
        assert test.psi_threshold == float(chi2.isf(alpha, df)) * scale


@pytest.mark.slow
def test_the_servers_modules_do_not_import_scipy_stats() -> None:
    import subprocess
    import sys

    code = "import sys, kaskad.serve.app; print('scipy.stats' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
