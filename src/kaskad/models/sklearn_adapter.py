"""Adapter for scikit-learn estimators and pipelines saved with joblib.

joblib files are pickles: loading one runs code from it, so load trusted files only.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from kaskad.errors import ModelLoadError
from kaskad.models.base import ArrayModelAdapter, FloatArray, Task

# Emitted when an estimator fitted on a data frame is called with a numpy array; the
# adapter passes columns in the artifact's order, so the warning is noise. A filter for it
# is kept first in the process's warning filters (re-inserted when other code, such as a
# test runner, has changed them): ``catch_warnings`` around each call swapped
# process-wide state on Python 3.11, so threads deciding at the same time could restore
# each other's filters and let the warning through, and it cost time on every call.
_NAMES_WARNING = "X does not have valid feature names"


def _silence_feature_names_warning() -> None:
    first = warnings.filters[0] if warnings.filters else None
    message = first[1] if first is not None else None
    if first is None or first[0] != "ignore" or getattr(message, "pattern", None) != _NAMES_WARNING:
        warnings.filterwarnings(
            "ignore", message=_NAMES_WARNING, category=UserWarning, module=r"sklearn\."
        )


class SklearnAdapter(ArrayModelAdapter):
    """A fitted scikit-learn classifier or regressor (or a Pipeline ending in one)."""

    framework = "sklearn"

    def __init__(self, data: bytes, path: Path) -> None:
        estimator = _load_estimator(data, path)
        task, n_classes = _task_of(estimator, path)
        names = getattr(estimator, "feature_names_in_", None)
        n_inputs = getattr(estimator, "n_features_in_", None)
        input_names = None if names is None else tuple(str(n) for n in names)
        super().__init__(
            path,
            task,
            n_classes,
            input_names,
            None if n_inputs is None else int(n_inputs),
        )
        method = "predict" if task == "regression" else "predict_proba"
        self._method: Callable[[FloatArray], Any] = getattr(estimator, method)
        self._quiet = input_names is not None
        self._positive = task == "binary"

    def _raw(self, x: FloatArray, single: bool) -> npt.NDArray[Any]:
        if self._quiet:
            _silence_feature_names_warning()
        out = np.asarray(self._method(x))
        return out[:, 1] if self._positive else out


def _load_estimator(data: bytes, path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            estimator = joblib.load(io.BytesIO(data))
    except InconsistentVersionWarning as exc:
        raise ModelLoadError(path, f"saved with another scikit-learn version: {exc}") from exc
    except Exception as exc:
        raise ModelLoadError(path, f"cannot read joblib file: {exc}") from exc
    if not hasattr(estimator, "fit"):
        raise ModelLoadError(
            path, f"holds a {type(estimator).__name__}, not a scikit-learn estimator"
        )
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError) as exc:
        raise ModelLoadError(path, f"estimator is not fitted: {exc}") from exc
    return estimator


def _task_of(estimator: Any, path: Path) -> tuple[Task, int]:
    kind = type(estimator).__name__
    if is_classifier(estimator):
        if not hasattr(estimator, "predict_proba"):
            raise ModelLoadError(path, f"classifier {kind} has no predict_proba")
        classes = getattr(estimator, "classes_", None)
        if classes is None or isinstance(classes, list) or np.ndim(classes) != 1:
            raise ModelLoadError(path, f"{kind}: only single-output classifiers are supported")
        n_classes = len(classes)
        if n_classes < 2:
            raise ModelLoadError(path, f"{kind} was fitted on a single class")
        return ("binary" if n_classes == 2 else "multiclass"), n_classes
    if is_regressor(estimator):
        if int(getattr(estimator, "n_outputs_", 1)) != 1:
            raise ModelLoadError(path, f"{kind}: only single-output regressors are supported")
        return "regression", 0
    raise ModelLoadError(path, f"{kind} is neither a classifier nor a regressor")
