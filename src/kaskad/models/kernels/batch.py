"""The batch kernel: every tree of an ensemble walked for every row at once in NumPy.

The walk is level-synchronous: an (n rows, T trees) array of current nodes moves one
level down per step (a leaf points to itself, so rows that reached one stay there), for as
many steps as the deepest tree is deep. The leaves' values are then added in tree order
with ``np.add.accumulate`` along the trees (a running sum: the same order as the
library's loop over trees), and the mean and link are applied element by element with the
same formulas as the per-record kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from kaskad.models.kernels.ensemble import ZERO, Refused, TreeEnsemble
from kaskad.models.kernels.record import exp_array, expf

FloatArray = npt.NDArray[np.float64]
BatchKernel = Callable[[FloatArray], FloatArray]  # (n, features) -> (n, classes)
_CHUNK = 8192  # rows per walk: bounds the (rows × trees) working arrays


def batch_kernel(e: TreeEnsemble) -> BatchKernel:
    """A function of an (n, features) float64 array giving the (n, classes) outputs."""
    feature = np.asarray([max(f, 0) for f in e.feature], dtype=np.intp)
    threshold = np.asarray(e.threshold, dtype=np.float64)
    left = np.asarray(e.left, dtype=np.intp)
    right = np.asarray(e.right, dtype=np.intp)
    nan_left = np.asarray(e.nan_left, dtype=bool)
    zero = np.asarray(e.zero_missing, dtype=bool)
    any_zero = bool(zero.any())
    cat = np.asarray(e.cat, dtype=np.intp)
    any_cat = bool((cat >= 0).any())
    width = 1 + max((max(s) for s in e.cat_sets if s), default=0)
    table = np.zeros((max(len(e.cat_sets), 1), width), dtype=bool)
    for i, s in enumerate(e.cat_sets):
        table[i, sorted(s)] = True
    value = np.asarray(e.value, dtype=np.float32 if e.float32_sum else np.float64)
    roots = np.asarray(e.roots, dtype=np.intp)
    klass = np.asarray(e.tree_class, dtype=np.intp)
    k = e.n_classes
    groups = [np.flatnonzero(klass == c) for c in range(k)]
    init = np.asarray(e.init, dtype=value.dtype)
    depth = e.depth()
    strict = e.strict

    def walk(x: FloatArray) -> FloatArray:
        n, width_x = x.shape
        flat = x.ravel()
        base = (np.arange(n, dtype=np.intp) * width_x)[:, None]
        node = np.broadcast_to(roots, (n, len(roots))).copy()
        for _ in range(depth):
            v = flat[base + feature[node]]
            t = threshold[node]
            go = v < t if strict else v <= t
            missing = np.isnan(v)
            if any_zero:
                missing |= zero[node] & (v >= -ZERO) & (v <= ZERO)
            go = np.where(missing, nan_left[node], go)
            if any_cat:
                c = cat[node]
                is_cat = c >= 0
                if is_cat.any():
                    ok = is_cat & (v > -1.0) & (v < width)  # NaN fails both
                    iv = np.where(ok, v, 0.0).astype(np.intp)
                    hit = ok & table[np.where(is_cat, c, 0), iv]
                    go = np.where(is_cat, hit, go)
            node = np.where(go, left[node], right[node])
        leaves = value[node]  # (n, trees)
        out = np.empty((n, k), dtype=value.dtype)
        for j in range(k):
            cols = groups[j]
            run = np.empty((n, len(cols) + 1), dtype=value.dtype)
            run[:, 0] = init[j]
            run[:, 1:] = leaves[:, cols]
            out[:, j] = np.add.accumulate(run, axis=1)[:, -1]
        return out.astype(np.float64)

    return kernel_of(e, walk, _CHUNK)


def kernel_of(e: TreeEnsemble, walk: BatchKernel, chunk: int) -> BatchKernel:
    """The batch kernel around ``walk`` (prepared inputs -> raw sums, ``chunk`` rows at a
    time): the inputs prepared as the library prepares them, the sums finished."""
    fill = None if e.fill is None else np.asarray(e.fill, dtype=np.float64)
    k = e.n_classes

    def kernel(x: FloatArray) -> FloatArray:
        x = np.asarray(x, dtype=np.float64)
        if e.zero_band:
            x = np.where((x >= -ZERO) & (x <= ZERO), 0.0, x)
        if fill is not None:
            x = np.where(np.isnan(x), fill, x)
        if e.float32_inputs:
            with np.errstate(over="ignore"):  # beyond float32's range: inf, as the library
                x = x.astype(np.float32).astype(np.float64)
        if e.refuses_nan and np.isnan(x).any():
            raise Refused("the model does not accept missing values")
        if e.refuses_inf and np.isinf(x).any():
            raise Refused("the model does not accept infinite values")
        parts = [walk(np.ascontiguousarray(x[i : i + chunk])) for i in range(0, len(x), chunk)]
        raw = np.concatenate(parts) if parts else np.empty((0, k))
        return finish_batch(e, raw)

    return kernel


def finish_batch(e: TreeEnsemble, raw: FloatArray) -> FloatArray:
    """Mean and link over an (n, classes) array of raw sums."""
    if e.divide:
        raw = raw / e.divide
    if e.scale_bias is not None and e.float32_sum:  # onnxruntime: + base value, float32
        raw = (raw.astype(np.float32) + np.float32(e.scale_bias[1])).astype(np.float64)
    elif e.scale_bias is not None:
        raw = e.scale_bias[0] * raw + e.scale_bias[1]
    if e.link == "onnx_logistic":  # onnxruntime's float32 ComputeLogistic
        f32 = np.float32
        x = raw.astype(f32)
        ex = np.asarray([expf(v) for v in (-np.abs(x)).ravel().tolist()], dtype=f32)
        v = f32(1.0) / (f32(1.0) + ex.reshape(x.shape))
        return np.asarray(np.where(x < 0, f32(1.0) - v, v), dtype=np.float64)
    if e.link == "sigmoid":
        return np.asarray(1.0 / (1.0 + exp_array(-e.sigmoid * raw)), dtype=np.float64)
    if e.link == "xgb_sigmoid":  # XGBoost's float32 sigmoid, with the C library's expf
        f32 = np.float32
        x = np.minimum(-raw.astype(f32), f32(88.7))
        ex = np.asarray([expf(v) for v in x.ravel().tolist()], dtype=f32).reshape(x.shape)
        denom = (ex + f32(1.0)) + f32(1e-16)
        return np.asarray(f32(1.0) / denom, dtype=np.float64)
    if e.link in ("softmax", "softmax_numpy"):
        top = raw[:, 0].copy()
        for c in range(1, raw.shape[1]):
            top = np.maximum(raw[:, c], top)
        shifted = raw - top[:, None]
        if e.link == "softmax_numpy":
            with np.errstate(over="ignore"):
                exps = np.exp(shifted)
        else:
            exps = exp_array(shifted)
        total = np.zeros(len(raw))
        for c in range(raw.shape[1]):
            total = total + exps[:, c]
        return np.asarray(exps / total[:, None], dtype=np.float64)
    return raw
