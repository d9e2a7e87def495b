"""LightGBM's own single-row entry point as a per-record kernel.

``Booster.predict`` on one row spends ~90 µs in Python (input checks, array copies,
thread set-up) around a tree walk of a few microseconds. LightGBM's C API has a path made
for this: ``LGBM_BoosterPredictForMatSingleRowFastInit`` prepares the row layout and
predictor once, and ``LGBM_BoosterPredictForMatSingleRowFast`` then scores one row of
doubles into a buffer. It is the library's own predictor, so its bits are the library's
(the gate checks it all the same); a call costs ~4 µs, against ~16 µs for the generated
Python of a 200-tree model.

The call is made through a ``ctypes.PyDLL`` handle on LightGBM's shared library: it
keeps Python's interpreter lock, so calls from the server's threads never run at the
same time (the prepared predictor has one buffer per OpenMP thread, not per caller), and
a short call does not wait to take the lock back behind other threads. One lock guards
the row and output buffers between the copy in and the copy out.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable
from typing import Any

from kaskad.models.kernels.ensemble import Unsupported

RecordFn = Callable[[list[float]], list[float]]
_PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: the objective's output (probability, value)
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


def _library() -> Any:
    """LightGBM's shared library, opened again so that calls keep the interpreter lock."""
    try:
        from lightgbm import basic
    except ImportError as exc:  # pragma: no cover - lightgbm is a dependency
        raise Unsupported("lightgbm is not installed") from exc
    loaded = getattr(basic, "_LIB", None)
    path = getattr(loaded, "_name", None)
    if not path:
        raise Unsupported("LightGBM's shared library is not found")
    lib = ctypes.PyDLL(path)
    for name in (
        "LGBM_BoosterPredictForMatSingleRowFastInit",
        "LGBM_BoosterPredictForMatSingleRowFast",
        "LGBM_FastConfigFree",
    ):
        if not hasattr(lib, name):
            raise Unsupported(f"this LightGBM has no {name}")
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    return lib


def _last_error(lib: Any) -> str:
    message: bytes | None = lib.LGBM_GetLastError()
    return message.decode("utf-8", errors="replace") if message else "unknown error"


def single_row(booster: Any, n_features: int, n_outputs: int) -> RecordFn:
    """A per-record function over ``booster``: a row's floats -> its ``n_outputs``
    outputs (the probability of a binary model, each class's of a multiclass one, the
    value of a regressor), as ``Booster.predict`` gives them. Unsupported when this
    LightGBM lacks the entry point or refuses the model."""
    lib = _library()
    handle = getattr(booster, "_handle", None)
    if handle is None:
        raise Unsupported("the booster has no handle")
    fast = ctypes.c_void_p()
    status = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
        handle,
        ctypes.c_int(_PREDICT_NORMAL),
        ctypes.c_int(0),  # start iteration
        ctypes.c_int(-1),  # every iteration (the best one when the model has one)
        ctypes.c_int(_FLOAT64),
        ctypes.c_int32(n_features),
        ctypes.c_char_p(b"num_threads=1"),
        ctypes.byref(fast),
    )
    if status != 0:
        raise Unsupported(f"LightGBM's single-row predictor: {_last_error(lib)}")

    row: Any = (ctypes.c_double * n_features)()
    out: Any = (ctypes.c_double * max(n_outputs, 1))()
    length = ctypes.c_int64()
    length_ref = ctypes.byref(length)
    predict = lib.LGBM_BoosterPredictForMatSingleRowFast
    lock = threading.Lock()

    def record(x: list[float]) -> list[float]:
        with lock:
            row[:] = x
            if predict(fast, row, length_ref, out) != 0:
                raise RuntimeError(_last_error(lib))
            if length.value != n_outputs:
                raise RuntimeError(f"LightGBM gave {length.value} outputs, {n_outputs} expected")
            scores: list[float] = out[:n_outputs]
            return scores

    # the prepared predictor is freed with the function (not at exit, where a daemon
    # thread may still be scoring: the process's memory goes with it anyway); the
    # function keeps the booster the predictor points into
    weakref.finalize(record, lib.LGBM_FastConfigFree, fast).atexit = False
    record.booster = booster  # type: ignore[attr-defined]
    return record
