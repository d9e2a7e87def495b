"""Adapter for XGBoost boosters saved with ``save_model`` (JSON or UBJSON).

Install with ``pip install 'kaskad[xgboost]'`` (the ``xgboost-cpu`` wheel). XGBoost adds
its trees' values for a row one tree after another (in float32), whatever else is in the
batch, so its scores are row-wise exact; one-row calls run on a single thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost

from kaskad.errors import ModelLoadError
from kaskad.models.base import ArrayModelAdapter, FloatArray, Task


class XGBoostAdapter(ArrayModelAdapter):
    """An XGBoost Booster with a logistic, softprob or regression objective."""

    framework = "xgboost"

    def __init__(self, data: bytes, path: Path) -> None:
        try:
            booster = xgboost.Booster()
            booster.load_model(bytearray(data))
            config = json.loads(booster.save_config())
        except Exception as exc:
            raise ModelLoadError(path, f"cannot read XGBoost model: {exc}") from exc
        learner = config.get("learner", {})
        objective = str(learner.get("objective", {}).get("name", ""))
        n_classes = int(learner.get("learner_model_param", {}).get("num_class", "0") or 0)
        task: Task
        if objective == "binary:logistic":
            task = "binary"
        elif objective == "multi:softprob":
            task = "multiclass"
        elif objective.startswith(("reg:", "count:", "survival:")):
            task = "regression"
        else:
            raise ModelLoadError(
                path,
                f"objective {objective!r} is not supported; use binary:logistic, "
                "multi:softprob or a regression objective",
            )
        names = booster.feature_names
        super().__init__(
            path,
            task,
            n_classes,
            tuple(names) if names else None,
            int(booster.num_features()),
        )
        self._booster = booster

    def _raw(self, x: FloatArray, single: bool) -> npt.NDArray[Any]:
        return np.asarray(self._booster.inplace_predict(x, missing=np.nan), dtype=np.float64)
