"""Adapter for scikit-learn estimators and pipelines saved with joblib.

joblib files are pickles: loading one runs code from it, so load trusted files only.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from kaskad.errors import ModelLoadError
from kaskad.models.base import ArrayModelAdapter, Task
from kaskad.models.sklearn_exact import input_kinds, scoring_for


class SklearnAdapter(ArrayModelAdapter):
    """A fitted scikit-learn classifier or regressor (or a Pipeline ending in one).

    A model fitted on a data frame (it has ``feature_names_in_``) receives a Polars
    DataFrame with those names, text columns included where its own pipeline encodes them.
    A linear final estimator is scored by kaskad's fixed-order kernel
    (:mod:`kaskad.models.sklearn_exact`), so its scores do not depend on the batch size.
    """

    framework = "sklearn"

    def __init__(self, data: bytes, path: Path) -> None:
        estimator, caught, saved = _load_estimator(data, path)
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
        self.load_warnings = caught
        self.saved_with = (("scikit-learn", saved),) if saved else ()
        self.takes_frame = input_names is not None
        if input_names is not None:
            self.input_kinds = input_kinds(estimator, len(input_names))
        scoring = scoring_for(estimator, task)
        self.exact = scoring.exact
        self.inexact_reason = scoring.reason
        self.linear_kernel = scoring.kernel
        self._predict = scoring.predict
        self._positive = task == "binary"

    def _raw(self, x: Any, single: bool) -> npt.NDArray[Any]:
        out = np.asarray(self._predict(x))
        return out[:, 1] if self._positive else out


def _load_estimator(data: bytes, path: Path) -> tuple[Any, tuple[str, ...], str | None]:
    """The unpickled estimator and the version warnings scikit-learn gave while loading it
    (a model pickled under another scikit-learn version). Whether such a model may be used
    is decided by the caller (see :class:`kaskad.models.ModelCache`)."""
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", InconsistentVersionWarning)
            estimator = joblib.load(io.BytesIO(data))
    except Exception as exc:
        raise ModelLoadError(path, f"cannot read joblib file: {exc}") from exc
    caught: list[str] = []
    saved: str | None = None
    for w in seen:
        if issubclass(w.category, InconsistentVersionWarning):
            message: Any = w.message
            text = (
                f"InconsistentVersionWarning: {message.estimator_name} was saved with "
                f"scikit-learn {message.original_sklearn_version}, "
                f"loaded with {message.current_sklearn_version}"
            )
            if text not in caught:
                caught.append(text)
            saved = str(message.original_sklearn_version)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not hasattr(estimator, "fit"):
        raise ModelLoadError(
            path, f"holds a {type(estimator).__name__}, not a scikit-learn estimator"
        )
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError) as exc:
        raise ModelLoadError(path, f"estimator is not fitted: {exc}") from exc
    return estimator, tuple(caught), saved


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
