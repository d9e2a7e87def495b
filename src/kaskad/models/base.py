"""One interface over model artifacts of every supported framework.

An adapter turns rows of float64 inputs (NaN = missing) into named float64 outputs:
``score`` (positive-class probability) for a binary classifier, ``prediction`` for a
regressor, ``prediction`` (class index) and ``proba_<i>`` for a multi-class model.
``predict_one`` returns bitwise the same floats as ``predict_batch`` for that row.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kaskad.errors import ModelLoadError
from kaskad.spec.types import FRAMEWORKS

FloatArray = npt.NDArray[np.float64]
Task = Literal["binary", "multiclass", "regression"]


class ModelAdapter(abc.ABC):
    """A loaded model artifact that scores rows of float inputs."""

    framework: str
    path: Path
    artifact: bytes = b""  # the bytes it was loaded from, so a plan can be shipped whole
    input_names: tuple[str, ...] | None
    n_inputs: int | None
    output_names: tuple[str, ...]

    @abc.abstractmethod
    def predict_batch(self, x: FloatArray) -> dict[str, FloatArray]:
        """Score an (n, k) float64 array; one 1-D float64 array of length n per output."""

    @abc.abstractmethod
    def predict_one(self, row: list[float]) -> dict[str, float]:
        """Score one row of k floats; bitwise equal to ``predict_batch`` on that row."""

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.path.name!r} "
            f"inputs={self.n_inputs} outputs={list(self.output_names)}>"
        )


def load_model(path: Path, framework: str) -> ModelAdapter:
    """Load the artifact at ``path`` with the adapter for ``framework``."""
    path = Path(path)
    if framework not in FRAMEWORKS:
        known = ", ".join(FRAMEWORKS)
        raise ModelLoadError(path, f"unknown framework {framework!r}; known frameworks: {known}")
    return load_bytes(read_artifact(path), framework, path)


def read_artifact(path: Path) -> bytes:
    """The bytes of the artifact at ``path``; ModelLoadError when it cannot be read."""
    require_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(path, f"cannot read file: {exc.strerror or exc}") from exc


def load_bytes(data: bytes, framework: str, origin: Path) -> ModelAdapter:
    """Load an artifact from its bytes with the adapter for ``framework``; ``origin`` names
    it in messages (the file it was read from, or where it was shipped from)."""
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
    def _raw(self, x: FloatArray, single: bool) -> npt.NDArray[Any]:
        """The library's output for ``x``; ``single`` is set for one-row calls."""

    def _call(self, x: FloatArray, single: bool) -> npt.NDArray[Any]:
        try:
            raw = self._raw(x, single)
        except Exception as exc:
            raise ModelLoadError(self.path, f"prediction failed: {exc}") from exc
        if self._task != "multiclass" and raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        return raw

    def predict_batch(self, x: FloatArray) -> dict[str, FloatArray]:
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2:
            raise ModelLoadError(self.path, f"expects a 2-D array of inputs, got shape {arr.shape}")
        self._check_width(arr.shape[1])
        n = arr.shape[0]
        if n == 0:
            return {name: np.empty(0, dtype=np.float64) for name in self.output_names}
        raw = self._call(arr, single=False)
        expected = (n, self._n_classes) if self._task == "multiclass" else (n,)
        if raw.shape != expected:
            raise ModelLoadError(
                self.path,
                f"library returned shape {raw.shape}, expected {expected}",
            )
        if self._task != "multiclass":
            return {self.output_names[0]: np.ascontiguousarray(raw, dtype=np.float64)}
        out: dict[str, FloatArray] = {"prediction": np.argmax(raw, axis=1).astype(np.float64)}
        for i, name in enumerate(self.output_names[1:]):
            out[name] = np.ascontiguousarray(raw[:, i], dtype=np.float64)
        return out

    def predict_one(self, row: list[float]) -> dict[str, float]:
        if self.n_inputs is not None and len(row) != self.n_inputs:
            self._check_width(len(row))
        raw = self._call(np.array([row], dtype=np.float64), single=True)
        if self._task != "multiclass":
            return {self.output_names[0]: float(raw[0])}
        probs = raw[0]
        out = {"prediction": float(np.argmax(probs))}
        out.update(zip(self.output_names[1:], probs.tolist(), strict=True))
        return out

    def _check_width(self, width: int) -> None:
        if self.n_inputs is not None and width != self.n_inputs:
            raise ModelLoadError(self.path, f"expects {self.n_inputs} inputs, got {width}")
