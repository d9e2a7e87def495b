"""A model adapter that scores with a compiled kernel instead of calling the library.

It has the library adapter's inputs and outputs; only how a row is scored changes. The
per-record call runs a plain-Python function on the row's list of floats (no NumPy
array per call), or LightGBM's own single-row predictor. The batch call walks the trees
in NumPy for small batches; a large one goes to the library, whose compiled loops beat a
NumPy walk there. Once the model has scored enough rows (:data:`~.native.STAGES`), the
trees compiled to machine code take over both large batches and records
(:mod:`kaskad.models.kernels.native`, compiled and checked in the background). All give
the same bits: the gate checked it. An input the library refuses (NaN or ±inf for some
models) is handed to the library, which raises its own error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from kaskad.errors import ModelPredictionError
from kaskad.models.base import Batch, FloatArray, ModelAdapter, Row
from kaskad.models.kernels.batch import BatchKernel
from kaskad.models.kernels.ensemble import Refused
from kaskad.models.kernels.native import NativeSlot

BatchFn = BatchKernel
RecordFn = Callable[[list[float]], list[float]]
# rows from which a batch goes to the compiled trees or the library (they beat a NumPy walk)
LIBRARY_FROM_ROWS = 32


class KernelAdapter(ModelAdapter):
    """The library adapter's interface over a compiled kernel."""

    def __init__(
        self,
        library: ModelAdapter,
        name: str,
        batch: BatchFn | None,
        record: RecordFn,
        *,
        library_from_rows: int = LIBRARY_FROM_ROWS,
        native: NativeSlot | None = None,
    ) -> None:
        self.library = library
        self.kernel = name
        self.framework = library.framework
        self.path = library.path
        self.artifact = library.artifact
        self.input_names = library.input_names
        self.n_inputs = library.n_inputs
        self.output_names = library.output_names
        self.input_kinds = library.input_kinds
        self.takes_frame = False
        self.exact = True
        self.load_warnings = library.load_warnings
        self.saved_with = library.saved_with
        self._batch = batch
        self._record = record
        self._multiclass = len(self.output_names) > 1
        self._library_from = library_from_rows
        self._native = native

    @property
    def record(self) -> RecordFn:
        """The per-record kernel made at load (the compiled trees' is :attr:`native`'s):
        a row's floats -> the outputs per class."""
        return self._record

    @property
    def batch(self) -> BatchFn | None:
        """The batch kernel itself: an (n, inputs) array -> the (n, classes) outputs
        (None: batches are the library adapter's)."""
        return self._batch

    @property
    def native(self) -> NativeSlot | None:
        """The trees compiled to machine code, for large batches and records (None: never
        compiled for this model)."""
        return self._native

    def use_library_from(self, rows: int | None) -> None:
        """Hand batches of at least ``rows`` rows to the compiled trees or the library
        (None: the default; 0: never)."""
        self._library_from = LIBRARY_FROM_ROWS if rows is None else rows

    def predict_batch(self, x: Batch) -> dict[str, FloatArray]:
        if isinstance(x, pl.DataFrame):
            x = x.to_numpy().astype(np.float64, copy=False)
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or (self.n_inputs is not None and arr.shape[1] != self.n_inputs):
            raise ModelPredictionError(
                self.path, f"expects {self.n_inputs} inputs per row, got shape {arr.shape}"
            )
        kernel = self._batch
        if self._library_from and len(arr) >= self._library_from:
            kernel = None if self._native is None else self._native.kernel(len(arr))
        if kernel is None:
            return self.library.predict_batch(arr)
        try:
            out = kernel(arr)
        except Refused:  # the library's own error, as without the kernel
            return self.library.predict_batch(arr)
        except Exception as exc:
            raise ModelPredictionError(self.path, f"{type(exc).__name__}: {exc}") from exc
        if not self._multiclass:
            return {self.output_names[0]: np.ascontiguousarray(out[:, 0])}
        named: dict[str, FloatArray] = {"prediction": np.argmax(out, axis=1).astype(np.float64)}
        for i, name in enumerate(self.output_names[1:]):
            named[name] = np.ascontiguousarray(out[:, i])
        return named

    def predict_one(self, row: Row) -> dict[str, float]:
        if self.n_inputs is not None and len(row) != self.n_inputs:
            raise ModelPredictionError(self.path, f"expects {self.n_inputs} inputs, got {len(row)}")
        record = self._record
        if self._native is not None:  # the compiled trees once they are ready
            record = self._native.record() or record
        try:
            out = record(row)
        except Refused:
            return self.library.predict_one(row)
        except Exception as exc:
            raise ModelPredictionError(self.path, f"{type(exc).__name__}: {exc}") from exc
        if not self._multiclass:
            return {self.output_names[0]: out[0]}
        best = 0
        for i in range(1, len(out)):
            if out[i] > out[best]:
                best = i
        named: dict[str, Any] = {"prediction": float(best)}
        named.update(zip(self.output_names[1:], out, strict=True))
        return named
