"""The per-record kernel: a tree ensemble compiled into one Python function.

Each tree becomes nested ``if``/``else`` statements on the row's values, with every
threshold and leaf value written as an exact float literal (``repr`` round-trips a
float64); leaves add to one accumulator per class, in tree order. No NumPy array is made
per call: a call costs a few comparisons per tree. An ensemble too deep or too large for
that (Python limits nesting; compiling a huge function takes long) is walked node by node
over lists instead (:func:`walker`), with the same arithmetic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import struct
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from kaskad.models.kernels.ensemble import ZERO, Refused, TreeEnsemble, Unsupported

# The generated function for a forest of two stumps on feature 0 looks like:
#     def _kernel(x):
#         a0 = 0.0
#         v0, v1, = x
#         if v0 <= 0.5:
#             a0 += -0.25
#         else:
#             a0 += 0.75
#         if v0 <= 1.5:
#         ...
#         return [a0]
RecordKernel = Callable[[list[float]], list[float]]  # a row -> the outputs per class
MAX_GENERATED_DEPTH = 80  # Python refuses more than 100 nested blocks
MAX_GENERATED_NODES = 60_000
_F32 = struct.Struct("f")
_MAX_EXP32 = float(np.float32(88.7))
_EPS32 = float(np.float32(1e-16))


def record_kernel(e: TreeEnsemble) -> RecordKernel:
    """The fastest exact per-record function for ``e``."""
    if e.n_nodes <= MAX_GENERATED_NODES and e.depth() <= MAX_GENERATED_DEPTH:
        return generated(e)
    return walker(e)


def _libm_expf() -> Callable[[float], float]:
    """The C library's float32 ``expf`` (what XGBoost's sigmoid calls): rounding the
    float64 ``exp`` differs from it in a few values in 10,000."""
    found = ctypes.util.find_library("m")
    if found is None:
        raise Unsupported("the C math library (expf) is not found")
    # PyDLL: the call keeps the GIL (a CDLL call gives it away and, on a busy server,
    # waits to get it back behind the other threads: far longer than expf itself)
    fn = ctypes.PyDLL(found).expf
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float]
    return fn


def expf(x: float) -> float:
    """``expf(x)`` of the C library, for a float32 value ``x``."""
    global _EXPF
    if _EXPF is None:
        _EXPF = _libm_expf()
    return float(_EXPF(x))


_EXPF: Callable[[float], float] | None = None


def exp(x: float) -> float:
    """``exp(x)`` of the C library (``math.exp``), inf where it overflows. Not ``np.exp``:
    on some processors (AVX-512) NumPy uses its own vector code, which differs from the C
    library's in the last bit for some values (LightGBM and SciPy's ``expit`` call the C
    library)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def np_exp(values: list[float]) -> list[float]:
    """NumPy's ``exp`` of each value (what scikit-learn's softmax computes; its bits may
    differ from the C library's, see :func:`exp`)."""
    with np.errstate(over="ignore"):
        result: list[float] = np.exp(np.asarray(values, dtype=np.float64)).tolist()
    return result


def exp_array(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`exp` element by element over an array (the C library's bits, see there)."""
    flat = np.fromiter(map(exp, x.ravel().tolist()), dtype=np.float64, count=x.size)
    return flat.reshape(x.shape)


def _sum32(values: list[float]) -> float:
    """The float32 sum of ``values`` added one after another from the first (one NumPy
    call: faster than rounding after every addition in Python)."""
    return float(np.add.accumulate(np.asarray(values, dtype=np.float32))[-1])


def _round32(x: float) -> float:
    return float(_F32.unpack(_F32.pack(x))[0])


def finish(e: TreeEnsemble) -> Callable[[list[float]], list[float]]:
    """Mean and link, applied to the raw sums of one row."""
    divide = e.divide
    link = e.link
    s = e.sigmoid

    scale_bias = e.scale_bias

    def done(acc: list[float]) -> list[float]:
        if divide:
            acc = [a / divide for a in acc]
        if scale_bias is not None and e.float32_sum:  # onnxruntime: + base value, float32
            acc = [_round32(a + scale_bias[1]) for a in acc]
        elif scale_bias is not None:
            acc = [scale_bias[0] * a + scale_bias[1] for a in acc]
        if link == "onnx_logistic":  # onnxruntime's float32 ComputeLogistic
            r = _round32
            out = []
            for a in acc:
                v = r(1.0 / r(1.0 + expf(-abs(a))))
                out.append(r(1.0 - v) if a < 0 else v)
            return out
        if link == "sigmoid":
            return [1.0 / (1.0 + exp(-s * a)) for a in acc]
        if link == "xgb_sigmoid":  # XGBoost's float32 sigmoid
            r = _round32
            return [r(1.0 / r(r(expf(min(-a, _MAX_EXP32)) + 1.0) + _EPS32)) for a in acc]
        if link in ("softmax", "softmax_numpy"):
            top = acc[0]
            for a in acc[1:]:
                top = max(a, top)
            shifted = [a - top for a in acc]
            exps = np_exp(shifted) if link == "softmax_numpy" else [exp(a) for a in shifted]
            total = 0.0
            for v in exps:
                total += v
            return [v / total for v in exps]
        return acc

    return done


def prepare(e: TreeEnsemble) -> Callable[[list[float]], list[float]]:
    """The row as the ensemble compares it: rounded to float32 where the library does,
    refused where the library refuses it."""
    f32 = e.float32_inputs
    fill = e.fill
    refuses_nan, refuses_inf = e.refuses_nan, e.refuses_inf
    refuses = refuses_nan or refuses_inf

    band = e.zero_band

    def ready(row: list[float]) -> list[float]:
        if band:
            row = [0.0 if -ZERO <= v <= ZERO else v for v in row]
        if fill is not None:
            row = [f if v != v else v for v, f in zip(row, fill, strict=True)]
        x = array("f", row).tolist() if f32 else row
        if refuses:
            for v in x:
                if (refuses_nan and v != v) or (refuses_inf and v in (math.inf, -math.inf)):
                    raise Refused(f"the model does not accept the input value {v}")
        return x

    return ready


def _lit(v: float) -> str:
    if math.isfinite(v):
        return repr(float(v))
    return "_INF" if v > 0 else ("_NINF" if v < 0 else "_NAN")


def _condition(e: TreeEnsemble, n: int, sets: list[str]) -> tuple[str, bool]:
    """A Python expression, and whether it is true when a row goes left at node ``n``
    (else: when it goes right)."""
    x = f"v{e.feature[n]}"  # the row's values are unpacked into locals first
    t = _lit(e.threshold[n])
    if e.cat[n] >= 0:
        return f"-1.0 < {x} < 2147483648.0 and int({x}) in {sets[e.cat[n]]}", True
    le, gt = ("<", ">=") if e.strict else ("<=", ">")
    if e.zero_missing[n]:
        if e.nan_left[n]:
            return f"{x} != {x} or -{ZERO!r} <= {x} <= {ZERO!r} or {x} {le} {t}", True
        return f"{x} {le} {t} and not (-{ZERO!r} <= {x} <= {ZERO!r})", True
    if e.nan_left[n]:
        return f"{x} {gt} {t}", False  # true: right; NaN compares false: it goes left
    return f"{x} {le} {t}", True  # NaN compares false: it goes right


def generated(e: TreeEnsemble) -> RecordKernel:
    """``e`` compiled into nested if/else statements."""
    sets = [f"_S{i}" for i in range(len(e.cat_sets))]
    lines = ["def _kernel(x):"]
    add32 = e.float32_sum
    if add32:  # the leaves are collected, then added in float32 in one NumPy call
        lines += [f"    a{c} = [{_lit(v)}]" for c, v in enumerate(e.init)]
    else:
        lines += [f"    a{c} = {_lit(v)}" for c, v in enumerate(e.init)]
    if e.n_features:
        lines.append("    " + ", ".join(f"v{j}" for j in range(e.n_features)) + ", = x")
    for root, klass in zip(e.roots, e.tree_class, strict=True):
        stack: list[tuple[int, int, str]] = [(root, 1, "")]
        while stack:
            node, depth, head = stack.pop()
            pad = "    " * depth
            if head:
                lines.append(pad[:-4] + head)
            if e.feature[node] < 0:
                value = _lit(e.value[node])
                if add32:
                    lines.append(f"{pad}a{klass}.append({value})")
                else:
                    lines.append(f"{pad}a{klass} += {value}")
                continue
            condition, goes_left = _condition(e, node, sets)
            lines.append(f"{pad}if {condition}:")
            first, then = (e.left[node], e.right[node])
            if not goes_left:
                first, then = then, first
            # the else branch is emitted after the whole if branch (stack order)
            stack.append((then, depth + 1, "else:"))
            stack.append((first, depth + 1, ""))
    wrap = "_sum32(a{})" if add32 else "a{}"
    lines.append("    return [" + ", ".join(wrap.format(c) for c in range(e.n_classes)) + "]")
    names: dict[str, Any] = {
        "_INF": math.inf,
        "_NINF": -math.inf,
        "_NAN": math.nan,
        "_sum32": _sum32,
    }
    names.update({s: e.cat_sets[i] for i, s in enumerate(sets)})
    exec(compile("\n".join(lines), "<kaskad tree kernel>", "exec"), names)
    raw: Callable[[list[float]], list[float]] = names["_kernel"]
    return wrapped(e, raw)


def wrapped(e: TreeEnsemble, raw: Callable[[list[float]], list[float]]) -> RecordKernel:
    """The per-record kernel of a walk giving a prepared row's raw sums: the row
    prepared (:func:`prepare`), walked, and the sums finished (:func:`finish`)."""
    ready = prepare(e)
    done = finish(e)
    plain = not e.divide and e.link == "identity" and e.scale_bias is None

    def kernel(row: list[float]) -> list[float]:
        acc = raw(ready(row))
        return acc if plain else done(acc)

    return kernel


def walker(e: TreeEnsemble) -> RecordKernel:
    """``e`` walked node by node over Python lists."""
    feature, threshold, left, right = e.feature, e.threshold, e.left, e.right
    nan_left, zero, cat, value = e.nan_left, e.zero_missing, e.cat, e.value
    sets = e.cat_sets
    trees = list(zip(e.roots, e.tree_class, strict=True))
    init = e.init
    strict = e.strict
    add32 = e.float32_sum

    def raw(x: list[float]) -> list[float]:
        acc = list(init)
        for root, klass in trees:
            n = root
            f = feature[n]
            while f >= 0:
                v = x[f]
                c = cat[n]
                if c >= 0:
                    go = -1.0 < v < 2147483648.0 and int(v) in sets[c]
                elif v != v or (zero[n] and -ZERO <= v <= ZERO):
                    go = nan_left[n]
                else:
                    go = v < threshold[n] if strict else v <= threshold[n]
                n = left[n] if go else right[n]
                f = feature[n]
            acc[klass] = _round32(acc[klass] + value[n]) if add32 else acc[klass] + value[n]
        return acc

    return wrapped(e, raw)
