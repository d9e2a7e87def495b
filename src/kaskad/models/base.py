"""One interface over model artifacts of every supported framework.

An adapter turns rows of inputs into named float64 outputs: ``score`` (positive-class
probability) for a binary classifier, ``prediction`` for a regressor, ``prediction``
(class index) and ``prediction``/``proba_<i>`` for a multi-class model. Inputs are
float64 (NaN = missing) unless the adapter says an input is text (``input_kinds``); an
adapter that ``takes_frame`` receives a Polars DataFrame with the names the model was
fitted with, text columns as strings (None = missing).

``exact`` says the adapter is row-wise exact: a row's outputs are bit-identical whatever
else is in the batch, so ``predict_one`` equals ``predict_batch`` on that row, at any
batch size. An adapter that cannot promise it says why (``inexact_reason``); a pipeline
must then declare a tolerance on that model's outputs (see docs/models.md).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from kaskad.errors import ModelLoadError, ModelPredictionError
from kaskad.spec.types import FRAMEWORKS

FloatArray = npt.NDArray[np.float64]
Task = Literal["binary", "multiclass", "regression"]
InputKind = Literal["number", "text"]
Batch = FloatArray | pl.DataFrame  # rows of inputs: a float matrix or named columns
Row = list[Any]
# the library behind each framework, as its users know it
LIBRARIES = {
    "sklearn": "scikit-learn",
    "lightgbm": "LightGBM",
    "onnx": "onnxruntime",
    "xgboost": "XGBoost",
    "catboost": "CatBoost",
}  # one row: floats (NaN = missing), text inputs as str or None


class ModelAdapter(abc.ABC):
    """A loaded model artifact that scores rows of float inputs."""

    framework: str
    path: Path
    artifact: bytes = b""  # the bytes it was loaded from, so a plan can be shipped whole
    input_names: tuple[str, ...] | None
    n_inputs: int | None
    output_names: tuple[str, ...]
    input_kinds: tuple[InputKind, ...] | None = None  # None: every input is a number
    takes_frame: bool = False  # receives named columns (a Polars DataFrame)
    exact: bool = True  # row-wise exact at any batch size
    inexact_reason: str = ""  # why not, when ``exact`` is False
    load_warnings: tuple[str, ...] = ()  # what the library warned about while loading
    # (package, version) the artifact says it was saved with, where that is not the
    # installed version: what a release made with it must lock
    saved_with: tuple[tuple[str, str], ...] = ()

    @abc.abstractmethod
    def predict_batch(self, x: Batch) -> dict[str, FloatArray]:
        """Score n rows (an (n, k) float64 array, or a DataFrame of k named columns); one
        1-D float64 array of length n per output."""

    @abc.abstractmethod
    def predict_one(self, row: Row) -> dict[str, float]:
        """Score one row of k values; bitwise equal to ``predict_batch`` on that row."""

    def kind_of(self, index: int) -> InputKind:
        """Whether input ``index`` is a number or text."""
        return "number" if self.input_kinds is None else self.input_kinds[index]

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.path.name!r} "
            f"inputs={self.n_inputs} outputs={list(self.output_names)}>"
        )


def load_model(path: Path, framework: str, *, allow_version_mismatch: bool = False) -> ModelAdapter:
    """Load the artifact at ``path`` with the adapter for ``framework``. A model saved by
    another version of its library is refused unless ``allow_version_mismatch``."""
    path = Path(path)
    if framework not in FRAMEWORKS:
        known = ", ".join(FRAMEWORKS)
        raise ModelLoadError(path, f"unknown framework {framework!r}; known frameworks: {known}")
    adapter = load_bytes(read_artifact(path), framework, path)
    if not allow_version_mismatch:
        refuse_version_warnings(adapter, path)
    return adapter


def refuse_version_warnings(adapter: ModelAdapter, origin: Path | str) -> None:
    """Raise ModelLoadError if the library warned that the artifact was saved by another
    version of it (the caller may allow it explicitly instead)."""
    if adapter.load_warnings:
        raise ModelLoadError(
            origin,
            f"saved with another {LIBRARIES.get(adapter.framework, adapter.framework)} "
            "version: "
            + "; ".join(adapter.load_warnings)
            + " (a release made in another environment may be loaded with "
            "--allow-environment-mismatch, which keeps this warning in the audit trail)",
        )


def read_artifact(path: Path) -> bytes:
    """The bytes of the artifact at ``path``; ModelLoadError when it cannot be read."""
    require_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(path, f"cannot read file: {exc.strerror or exc}") from exc


def load_bytes(data: bytes, framework: str, origin: Path) -> ModelAdapter:
    """Load an artifact from its bytes with the adapter for ``framework``; ``origin`` names
    it in messages (the file it was read from, or where it was shipped from). Version
    warnings of the library are kept in ``load_warnings``, not raised: see
    :func:`refuse_version_warnings`."""
    factory: Callable[[bytes, Path], ModelAdapter]
    try:
        if framework == "sklearn":
            from kaskad.models import sklearn_adapter

            factory = sklearn_adapter.SklearnAdapter
        elif framework == "lightgbm":
            from kaskad.models import lightgbm_adapter

            factory = lightgbm_adapter.LightGBMAdapter
        elif framework == "onnx":
            from kaskad.models import onnx_adapter

            factory = onnx_adapter.OnnxAdapter
        elif framework == "xgboost":
            factory = _optional(framework, "xgboost_adapter", "XGBoostAdapter", origin)
        elif framework == "catboost":
            factory = _optional(framework, "catboost_adapter", "CatBoostAdapter", origin)
        else:
            known = ", ".join(FRAMEWORKS)
            raise ModelLoadError(
                origin, f"unknown framework {framework!r}; known frameworks: {known}"
            )
    except ImportError as exc:
        raise ModelLoadError(origin, f"framework {framework!r} is not available: {exc}") from exc
    adapter = factory(data, origin)
    adapter.artifact = data
    return adapter


def _optional(
    framework: str, module: str, name: str, origin: Path
) -> Callable[[bytes, Path], ModelAdapter]:
    """The adapter class of a framework installed as an extra (``kaskad[xgboost]``)."""
    import importlib

    try:
        found = importlib.import_module(f"kaskad.models.{module}")
    except ImportError as exc:
        raise ModelLoadError(
            origin,
            f"framework {framework!r} needs the optional extra: pip install "
            f"'kaskad[{framework}]' ({exc})",
        ) from exc
    factory: Callable[[bytes, Path], ModelAdapter] = getattr(found, name)
    return factory


def require_file(path: Path) -> None:
    """Raise ModelLoadError unless ``path`` is an existing regular file."""
    if not path.exists():
        raise ModelLoadError(path, "file not found")
    if not path.is_file():
        raise ModelLoadError(path, "not a regular file")


def output_names_for(task: Task, n_classes: int) -> tuple[str, ...]:
    """The outputs an adapter offers for a task."""
    if task == "binary":
        return ("score",)
    if task == "regression":
        return ("prediction",)
    return ("prediction", *(f"proba_{i}" for i in range(n_classes)))


class ArrayModelAdapter(ModelAdapter):
    """Shared plumbing: check inputs, call the library, name its outputs.

    Subclasses implement :meth:`_raw`, which returns the library's output for a
    2-D float64 array: a 1-D array (positive-class probability or prediction), or
    an (n, C) class-probability matrix for a multi-class model.
    """

    def __init__(
        self,
        path: Path,
        task: Task,
        n_classes: int,
        input_names: tuple[str, ...] | None,
        n_inputs: int | None,
    ) -> None:
        self.path = path
        self.input_names = input_names
        self.n_inputs = n_inputs
        self.output_names = output_names_for(task, n_classes)
        self._task: Task = task
        self._n_classes = n_classes

    @abc.abstractmethod
    def _raw(self, x: Any, single: bool) -> npt.NDArray[Any]:
        """The library's output for ``x`` (a 2-D float64 array, or a DataFrame for an
        adapter that ``takes_frame``); ``single`` is set for one-row calls."""

    def _call(self, x: Any, single: bool) -> npt.NDArray[Any]:
        try:
            raw = self._raw(x, single)
        except Exception as exc:
            raise ModelPredictionError(self.path, f"{type(exc).__name__}: {exc}") from exc
        if self._task != "multiclass" and raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        return raw

    def _batch_input(self, x: Batch) -> Any:
        """``x`` as :meth:`_raw` takes it; checks its width."""
        if isinstance(x, pl.DataFrame):
            self._check_width(x.width)
            if self.takes_frame:
                return x
            return np.ascontiguousarray(x.to_numpy().astype(np.float64, copy=False))
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2:
            raise ModelPredictionError(
                self.path, f"expects a 2-D array of inputs, got shape {arr.shape}"
            )
        self._check_width(arr.shape[1])
        if self.takes_frame:
            names = self.input_names or tuple(f"x{i}" for i in range(arr.shape[1]))
            return pl.DataFrame(arr, schema=list(names), orient="row")
        return arr

    def _row_input(self, row: Row) -> Any:
        if not self.takes_frame:
            return np.array([row], dtype=np.float64)
        names = self.input_names or tuple(f"x{i}" for i in range(len(row)))
        return pl.DataFrame(
            [
                pl.Series(n, [v], dtype=_polars_kind(self.kind_of(i)))
                for i, (n, v) in enumerate(zip(names, row, strict=True))
            ]
        )

    def predict_batch(self, x: Batch) -> dict[str, FloatArray]:
        data = self._batch_input(x)
        n = data.height if isinstance(data, pl.DataFrame) else data.shape[0]
        if n == 0:
            return {name: np.empty(0, dtype=np.float64) for name in self.output_names}
        raw = self._call(data, single=False)
        expected = (n, self._n_classes) if self._task == "multiclass" else (n,)
        if raw.shape != expected:
            raise ModelPredictionError(
                self.path,
                f"library returned shape {raw.shape}, expected {expected}",
            )
        if self._task != "multiclass":
            return {self.output_names[0]: np.ascontiguousarray(raw, dtype=np.float64)}
        out: dict[str, FloatArray] = {"prediction": np.argmax(raw, axis=1).astype(np.float64)}
        for i, name in enumerate(self.output_names[1:]):
            out[name] = np.ascontiguousarray(raw[:, i], dtype=np.float64)
        return out

    def predict_one(self, row: Row) -> dict[str, float]:
        if self.n_inputs is not None and len(row) != self.n_inputs:
            self._check_width(len(row))
        raw = self._call(self._row_input(row), single=True)
        if self._task != "multiclass":
            return {self.output_names[0]: float(raw[0])}
        probs = raw[0]
        out = {"prediction": float(np.argmax(probs))}
        out.update(zip(self.output_names[1:], probs.tolist(), strict=True))
        return out

    def _check_width(self, width: int) -> None:
        if self.n_inputs is not None and width != self.n_inputs:
            raise ModelPredictionError(self.path, f"expects {self.n_inputs} inputs, got {width}")


def _polars_kind(kind: InputKind) -> type[pl.DataType]:
    return pl.String if kind == "text" else pl.Float64
