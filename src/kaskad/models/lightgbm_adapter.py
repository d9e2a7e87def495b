"""Adapter for LightGBM models saved in the native text format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import numpy.typing as npt

from kaskad.errors import ModelLoadError
from kaskad.models.base import ArrayModelAdapter, FloatArray, Task

_PROBABILITY_OBJECTIVES = frozenset({"binary", "cross_entropy", "cross_entropy_lambda"})
_MULTICLASS_OBJECTIVES = frozenset({"multiclass", "multiclassova"})


class LightGBMAdapter(ArrayModelAdapter):
    """A LightGBM Booster; one-row calls run on a single thread."""

    framework = "lightgbm"

    def __init__(self, data: bytes, path: Path) -> None:
        text = data.decode("utf-8", errors="replace")
        objective = _read_objective(text, path)
        try:
            booster = lightgbm.Booster(model_str=text)
        except Exception as exc:
            raise ModelLoadError(path, f"cannot read LightGBM model: {exc}") from exc
        n_models = booster.num_model_per_iteration()
        task: Task
        if objective in _MULTICLASS_OBJECTIVES:
            task = "multiclass"
        elif n_models != 1:
            raise ModelLoadError(
                path, f"objective {objective!r} with {n_models} models per iteration"
            )
        elif objective in _PROBABILITY_OBJECTIVES:
            task = "binary"
        else:
            task = "regression"
        n_inputs = booster.num_feature()
        names = tuple(booster.feature_name())
        if names == tuple(f"Column_{i}" for i in range(n_inputs)):
            names = ()  # LightGBM made these up: the artifact stores no names
        super().__init__(path, task, n_models, names or None, n_inputs)
        self._booster = booster

    def _raw(self, x: FloatArray, single: bool) -> npt.NDArray[Any]:
        if single:
            return np.asarray(self._booster.predict(x, num_threads=1))
        return np.asarray(self._booster.predict(x))


def _read_objective(text: str, path: Path) -> str | None:
    """The objective named in the model header (None for a custom objective)."""
    lines = iter(text.splitlines())
    if next(lines, "").strip() != "tree":
        raise ModelLoadError(path, "not a LightGBM text model (first line is not 'tree')")
    for line in lines:
        if line.startswith("Tree=") or not line.strip():
            break
        if line.startswith("objective="):
            value = line.partition("=")[2].split()
            return value[0] if value else None
    return None
