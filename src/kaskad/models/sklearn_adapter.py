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
from kaskad.models.sklearn_exact import input_kinds, scoring_for, selects_by_name

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
        if input_names is not None:
            self.input_kinds = input_kinds(estimator, len(input_names))
        # a model that selects columns by name, or encodes text, gets a named frame; one
        # that only takes numbers in order gets the (faster) array
        self.takes_frame = input_names is not None and (
            "text" in (self.input_kinds or ()) or selects_by_name(estimator)
        )
        self._quiet = input_names is not None and not self.takes_frame
        self.estimator = estimator  # the fitted model (compiled kernels read its trees)
        scoring = scoring_for(estimator, task)
        self.exact = scoring.exact
        self.inexact_reason = scoring.reason
        self.linear_kernel = scoring.kernel
        self._predict = scoring.predict
        self._positive = task == "binary"

    def _raw(self, x: Any, single: bool) -> npt.NDArray[Any]:
        if self._quiet:
            _silence_feature_names_warning()
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
