"""Adapter for CatBoost models saved with ``save_model`` (the native ``cbm`` format).

Install with ``pip install 'kaskad[catboost]'``. Categorical features of the model are
text inputs (a missing value is passed as the text ``nan``, as ``str(float('nan'))`` gives
when a data frame column is turned into strings); the others are numbers. CatBoost adds
its trees' values for a row one tree after another, so its scores are row-wise exact;
one-row calls run on a single thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import catboost
import numpy as np
import numpy.typing as npt
import polars as pl

from kaskad.errors import ModelLoadError
from kaskad.models.base import ArrayModelAdapter, InputKind, Task

_BINARY = frozenset({"Logloss", "CrossEntropy"})
_MULTICLASS = frozenset({"MultiClass", "MultiClassOneVsAll"})
MISSING_TEXT = "nan"


class CatBoostAdapter(ArrayModelAdapter):
    """A CatBoost classifier or regressor."""

    framework = "catboost"

    def __init__(self, data: bytes, path: Path) -> None:
        try:
            model = catboost.CatBoost()
            model.load_model(blob=data)
            params = model.get_all_params()
        except Exception as exc:
            raise ModelLoadError(path, f"cannot read CatBoost model: {exc}") from exc
        loss = str(params.get("loss_function", "")).split(":")[0]
        task: Task
        n_classes = 0
        if loss in _BINARY:
            task = "binary"
        elif loss in _MULTICLASS:
            task = "multiclass"
            n_classes = len(model.classes_) if model.classes_ is not None else 0
        else:
            task = "regression"
        names = tuple(str(n) for n in model.feature_names_)
        made_up = names == tuple(str(i) for i in range(len(names)))
        super().__init__(path, task, n_classes, None if made_up else names, len(names))
        self._cats = [int(i) for i in model.get_cat_feature_indices()]
        kinds: list[InputKind] = ["number"] * len(names)
        for i in self._cats:
            kinds[i] = "text"
        self.input_kinds = tuple(kinds)
        self.takes_frame = bool(self._cats)
        self._model = model
        self._type = "Probability" if task != "regression" else "RawFormulaVal"

    def _raw(self, x: Any, single: bool) -> npt.NDArray[Any]:
        data: Any = x
        if isinstance(x, pl.DataFrame):
            data = np.empty((x.height, x.width), dtype=object)
            for i, column in enumerate(x.get_columns()):
                if i in self._cats:
                    data[:, i] = [MISSING_TEXT if v is None else str(v) for v in column.to_list()]
                else:
                    data[:, i] = column.cast(pl.Float64).fill_null(np.nan).to_numpy()
        pool = catboost.Pool(data, cat_features=self._cats or None)
        out = np.asarray(
            self._model.predict(pool, prediction_type=self._type, thread_count=1 if single else -1),
            dtype=np.float64,
        )
        return out[:, 1] if out.ndim == 2 and out.shape[1] == 2 and self._task == "binary" else out
