"""Compiled model kernels: a model scored by kaskad without the library's per-call
overhead, bit-identical to the library or not used at all.

Tree ensembles (LightGBM, XGBoost, CatBoost, scikit-learn trees, forests and gradient
boosting) become a :class:`~kaskad.models.kernels.ensemble.TreeEnsemble` with a generated
per-record function and a NumPy batch walk for small batches (``tree-ensemble/1``; a
LightGBM record is scored by LightGBM's own single-row predictor, :mod:`.lightgbm_row`;
large batches and records by the trees compiled to machine code once a model has scored
enough rows, :mod:`.native`, checked by the gate like the rest); scikit-learn linear models get a
plain-Python per-record kernel (``linear/1``).

:func:`choose` takes a loaded library adapter and returns the adapter to score with: a
:class:`KernelAdapter` when a kernel reproduces the model and passes
the bit-identity gate (:mod:`kaskad.models.kernels.gate`), else the library adapter itself
with the reason. The choice is made once per loaded adapter (the model cache keeps
adapters by content), at compile time by the compiler (the plan records it) and again
when an executor loads the plan, so a kernel is never used in an environment where it
was not checked.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from kaskad.models.base import ModelAdapter
from kaskad.models.kernels.adapter import KernelAdapter
from kaskad.models.kernels.batch import batch_kernel, kernel_of
from kaskad.models.kernels.ensemble import Refused, TreeEnsemble, Unsupported
from kaskad.models.kernels.gate import check, refusals, sample
from kaskad.models.kernels.native import Kernels, NativeSlot, compile_trees
from kaskad.models.kernels.record import record_kernel, wrapped

__all__ = [
    "LIBRARY",
    "LINEAR",
    "TREES",
    "KernelAdapter",
    "KernelChoice",
    "TreeEnsemble",
    "Unsupported",
    "choose",
    "ensemble_of",
    "forget",
]

TREES = "tree-ensemble/1"
LINEAR = "linear/1"
LIBRARY = "library"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class KernelChoice:
    """Which kernel scores a model: ``kernel`` is ``tree-ensemble/1`` or ``library``
    (then ``reason`` says why); ``adapter`` is what to call."""

    kernel: str
    reason: str
    adapter: ModelAdapter


def choose(library: ModelAdapter) -> KernelChoice:
    """The kernel for a loaded library adapter, decided once per adapter, and once per
    artifact content in the process (another cache loading the same bytes reuses the
    compiled kernel and the gate's verdict)."""
    found = _BY_ADAPTER.get(library)
    if found is not None:
        return found
    with _LOCK:
        found = _BY_ADAPTER.get(library)
        if found is None:
            key = (library.framework, hashlib.sha256(library.artifact).hexdigest())
            known = _CHOSEN.get(key) if library.artifact else None
            found = _decide(library) if known is None else _again(library, known)
            _BY_ADAPTER[library] = found
            if library.artifact:
                _remember(key, found)
    return found


def forget() -> None:
    """Drop every verdict: the next :func:`choose` checks each model again, as a new
    process does (e.g. after the library was upgraded)."""
    with _LOCK:
        _BY_ADAPTER.clear()
        _CHOSEN.clear()


_BY_ADAPTER: weakref.WeakKeyDictionary[ModelAdapter, KernelChoice] = weakref.WeakKeyDictionary()
# per (framework, artifact sha256): kernel, reason, batch and record functions, native slot
_Known = tuple[str, str, Any, Any, NativeSlot | None]
_CHOSEN: OrderedDict[tuple[str, str], _Known] = OrderedDict()
_KEEP = 64


def _remember(key: tuple[str, str], choice: KernelChoice) -> None:
    adapter = choice.adapter
    if isinstance(adapter, KernelAdapter):
        _CHOSEN[key] = (choice.kernel, choice.reason, adapter.batch, adapter.record, adapter.native)
    else:
        _CHOSEN[key] = (choice.kernel, choice.reason, None, None, None)
    _CHOSEN.move_to_end(key)
    while len(_CHOSEN) > _KEEP:
        _CHOSEN.popitem(last=False)


def _again(library: ModelAdapter, known: _Known) -> KernelChoice:
    kernel, reason, batch, record, native = known
    if record is None:
        return KernelChoice(kernel, reason, library)
    return KernelChoice(
        kernel, reason, KernelAdapter(library, kernel, batch, record, native=native)
    )


def ensemble_of(library: ModelAdapter) -> TreeEnsemble:
    """The model's trees as a :class:`TreeEnsemble`; Unsupported says why not."""
    task: str = getattr(library, "_task", "")
    if library.takes_frame:
        raise Unsupported("the model takes named columns (text inputs or column selection)")
    if library.framework == "lightgbm":
        from kaskad.models.kernels.lightgbm import from_lightgbm

        return from_lightgbm(library.artifact.decode("utf-8", errors="replace"), task)
    if library.framework == "sklearn":
        from kaskad.models.kernels.sklearn_trees import from_sklearn

        estimator: Any = getattr(library, "estimator", None)
        if estimator is None:
            raise Unsupported("no estimator")
        return from_sklearn(estimator, task)
    if library.framework == "xgboost":
        from kaskad.models.kernels.xgboost import from_xgboost

        booster: Any = getattr(library, "_booster", None)
        if booster is None:
            raise Unsupported("no booster")
        return from_xgboost(booster, task)
    if library.framework == "catboost":
        from kaskad.models.kernels.catboost import from_catboost

        model: Any = getattr(library, "_model", None)
        if model is None:
            raise Unsupported("no model")
        return from_catboost(model, task)
    if library.framework == "onnx":
        from kaskad.models.kernels.onnx_trees import from_onnx

        return from_onnx(library.artifact, task)
    raise Unsupported(f"no kernel for {library.framework} models yet")


def _decide(library: ModelAdapter) -> KernelChoice:
    if getattr(library, "linear_kernel", False) and not library.takes_frame:
        return _linear(library)
    try:
        e = ensemble_of(library)
    except Unsupported as exc:
        return KernelChoice(LIBRARY, str(exc), library)
    except Exception as exc:  # a model the extractor did not expect: say so, use the library
        return KernelChoice(LIBRARY, f"cannot read the trees: {type(exc).__name__}: {exc}", library)
    if library.n_inputs is not None and library.n_inputs != e.n_features:
        return KernelChoice(
            LIBRARY,
            f"the trees read {e.n_features} features, the model {library.n_inputs}",
            library,
        )
    e.refuses_nan, e.refuses_inf = refusals(library, e.n_features)
    record = _record(library, e)
    kernel = KernelAdapter(
        library,
        TREES,
        batch_kernel(e),
        record,
        library_from_rows=0,
        native=_native(library, e),
    )
    why = check(library, kernel, sample(e, not e.refuses_nan, not e.refuses_inf))
    if why:
        return KernelChoice(LIBRARY, f"not bit-identical: {why}", library)
    kernel.use_library_from(None)
    return KernelChoice(TREES, "", kernel)


def _native(library: ModelAdapter, e: TreeEnsemble) -> NativeSlot:
    """The trees compiled to machine code, for large batches and for records, made in
    the background and checked against the library (as a batch and row by row) once the
    model has scored enough rows to win the compile back (:class:`NativeSlot`), never
    when a plan is loaded to validate or serve it."""

    @functools.cache  # the gate's sample, made once for every stage
    def gate() -> Any:
        return sample(e, not e.refuses_nan, not e.refuses_inf)

    def build(level: int) -> Kernels:
        compiled = compile_trees(e, level)
        fast = Kernels(kernel_of(e, compiled.batch, 1 << 30), wrapped(e, compiled.record))
        probe = KernelAdapter(library, TREES, fast.batch, fast.record, library_from_rows=0)
        why = check(library, probe, gate())
        if why:
            raise Unsupported(f"the compiled trees are not bit-identical: {why}")
        return fast

    return NativeSlot(build, str(library.path))


def _record(library: ModelAdapter, e: TreeEnsemble) -> Any:
    """The per-record function: LightGBM's own single-row predictor for a LightGBM model
    (a few µs a row), else the ensemble compiled to Python."""
    booster = getattr(library, "_booster", None)
    if library.framework == "lightgbm" and booster is not None:
        from kaskad.models.kernels.lightgbm_row import single_row

        try:
            return single_row(booster, e.n_features, e.n_classes)
        except Unsupported:
            pass
    return record_kernel(e)


def _linear(library: ModelAdapter) -> KernelChoice:
    """A scikit-learn linear model: its batches are kaskad's fixed-order kernel already
    (:mod:`kaskad.models.sklearn_exact`); its records get the plain-Python kernel."""
    from kaskad.models.kernels.linear import linear_record

    try:
        width, record = linear_record(
            getattr(library, "estimator", None), getattr(library, "_task", "")
        )
    except Unsupported as exc:
        return KernelChoice(LIBRARY, str(exc), library)
    e = TreeEnsemble(n_features=width)
    e.refuses_nan, e.refuses_inf = refusals(library, width)
    kernel = KernelAdapter(library, LINEAR, None, _guarded(record, e), library_from_rows=0)
    why = check(library, kernel, sample(e, not e.refuses_nan, not e.refuses_inf))
    if why:
        return KernelChoice(LIBRARY, f"not bit-identical: {why}", library)
    return KernelChoice(LINEAR, "", kernel)


def _guarded(record: Any, e: TreeEnsemble) -> Any:
    """``record``, refusing the values the library refuses (it then raises its error)."""
    nan, inf = e.refuses_nan, e.refuses_inf
    if not (nan or inf):
        return record

    def guarded(row: list[float]) -> list[float]:
        for v in row:
            if (nan and v != v) or (inf and v in (math.inf, -math.inf)):
                raise Refused(f"the model does not accept the input value {v}")
        out: list[float] = record(row)
        return out

    return guarded
