"""The bit-identity gate: a kernel is used only if it gives the library's exact bits.

The sample is deterministic (a fixed seed): random rows whose values are drawn, per
feature, from the model's own thresholds, the floats right next to them, zeros (both
signs), tiny values around LightGBM's zero band, large and small magnitudes, NaN and
±inf, and integers for categorical splits. The library scores the sample in one batch and
a few rows one at a time; the batch and per-record kernels must give the same bits for
every output of every row. Values the library refuses (scikit-learn refuses NaN in some
models and ±inf in all) are left out of the sample, and the kernel is set to refuse them
the same way.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from kaskad.models.base import ModelAdapter
from kaskad.models.kernels.ensemble import TreeEnsemble

FloatArray = npt.NDArray[np.float64]
ROWS = 1500
SINGLE_ROWS = 12
SEED = 20261130
_EDGES = (0.0, -0.0, 1e-36, -1e-36, 1e-35, 0.5, -0.5, 1.0, -1.0, 1e30, -1e30)


def refusals(library: ModelAdapter, width: int) -> tuple[bool, bool]:
    """Whether the library refuses a NaN input, and an infinite one."""

    def refuses(value: float) -> bool:
        row = np.zeros((1, width))
        row[0, 0] = value
        try:
            library.predict_batch(row)
        except Exception:
            return True
        return False

    return refuses(math.nan), refuses(math.inf)


def sample(e: TreeEnsemble, allow_nan: bool, allow_inf: bool) -> FloatArray:
    """Deterministic rows that exercise every split of ``e``."""
    rng = np.random.default_rng(SEED)
    width = e.n_features
    per_feature: list[list[float]] = [[] for _ in range(width)]
    for f, t, c in zip(e.feature, e.threshold, e.cat, strict=True):
        if f < 0:
            continue
        if c >= 0:
            cats = sorted(e.cat_sets[c])[:8]
            per_feature[f].extend(float(v) for v in cats)
            per_feature[f].extend(float(v) + 0.5 for v in cats[:2])
        elif math.isfinite(t):
            per_feature[f].extend([t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf)])
            t32 = float(np.float32(t))
            per_feature[f].extend([t32, math.nextafter(t32, math.inf)])
    edges = list(_EDGES)
    if allow_nan:
        edges.append(math.nan)
    if allow_inf:  # beyond float32's range too: inf for a model that rounds to float32
        edges.extend([math.inf, -math.inf, 3.5e38, -1e300])
    x = rng.normal(0.0, 3.0, size=(ROWS, width))
    pick = rng.random(size=(ROWS, width))
    for j in range(width):
        own = per_feature[j]
        for i in range(ROWS):
            if pick[i, j] < 0.45 and own:
                x[i, j] = own[int(rng.integers(len(own)))]
            elif pick[i, j] < 0.65:
                x[i, j] = edges[int(rng.integers(len(edges)))]
            elif pick[i, j] < 0.75:
                x[i, j] = float(rng.integers(-2, 40))
    return x


def same_bits(a: FloatArray, b: FloatArray) -> bool:
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and bool((a.view(np.uint64) == b.view(np.uint64)).all())


def check(
    library: ModelAdapter,
    kernel: ModelAdapter,
    x: FloatArray,
    records: bool = True,
) -> str:
    """'' when ``kernel`` gives the library's bits on ``x`` (batch and, with ``records``,
    one row at a time), else what differed."""
    try:
        with np.errstate(over="ignore"):  # values beyond float32 become inf: no warning
            expected = library.predict_batch(x)
    except Exception as exc:
        return f"the library failed on the gate's sample: {type(exc).__name__}: {exc}"
    try:
        got = kernel.predict_batch(x)
    except Exception as exc:
        return f"the batch kernel failed on the gate's sample: {type(exc).__name__}: {exc}"
    for name, want in expected.items():
        if not same_bits(want, got[name]):
            bad = int(np.flatnonzero(np.asarray(want) != np.asarray(got[name]))[:1].sum())
            return (
                f"batch output {name!r} differs from the library "
                f"(row {bad}: {want[bad]!r} vs {got[name][bad]!r})"
            )
    for i in range(len(x) if records else 0):
        row = x[i].tolist()
        try:
            one = kernel.predict_one(row)
        except Exception as exc:
            return f"the per-record kernel failed on row {i}: {type(exc).__name__}: {exc}"
        for name, want in expected.items():
            if not same_bits(np.asarray([one[name]]), want[i : i + 1]):
                return (
                    f"per-record output {name!r} differs from the library (row {i}: "
                    f"{want[i]!r} vs {one[name]!r})"
                )
    step = max(1, len(x) // SINGLE_ROWS)
    for i in range(0, len(x), step):
        with np.errstate(over="ignore"):
            alone = library.predict_one(x[i].tolist())
        for name, want in expected.items():
            if not same_bits(np.asarray([alone[name]]), want[i : i + 1]):
                return f"the library's own one-row output {name!r} differs from its batch"
    return ""
