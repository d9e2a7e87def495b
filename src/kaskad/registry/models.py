"""Registering a model: the artifact and everything needed to trust it later.

A registered model version records the exact versions of the packages it needs, the
Python version and platform, its input names and types, a sample of inputs with the
model's outputs on them, and a fingerprint and per-column profile of its training data.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from kaskad.errors import KaskadError, ModelLoadError
from kaskad.models import FRAMEWORKS, load_model
from kaskad.registry.environment import FRAMEWORK_PACKAGES, capture_environment, default_actor
from kaskad.registry.profile import fingerprint
from kaskad.store.api import ModelVersion
from kaskad.store.store import Store

SAMPLE_ROWS = 20

_SUFFIX = {
    "sklearn": ".joblib",
    "lightgbm": ".txt",
    "onnx": ".onnx",
    "xgboost": ".ubj",
    "catboost": ".cbm",
}


def artifact_suffix(framework: str) -> str:
    """The file suffix of a framework's artifacts (``.joblib`` for scikit-learn)."""
    return _SUFFIX.get(framework, ".bin")


def _framework_of(model: Any) -> str:
    module = type(model).__module__.split(".")[0]
    if module == "sklearn":
        return "sklearn"
    if module == "lightgbm":
        return "lightgbm"
    if module == "onnx":
        return "onnx"
    if module in ("xgboost", "catboost"):
        return module
    raise KaskadError(
        f"cannot tell the framework of a {type(model).__module__}.{type(model).__name__}; "
        f"pass framework= one of {', '.join(FRAMEWORKS)} with a saved artifact file"
    )


def _save(model: Any, framework: str, folder: Path) -> Path:
    """A fitted object as an artifact file of its framework."""
    path = folder / f"model{_SUFFIX[framework]}"
    if framework == "sklearn":
        import joblib

        joblib.dump(model, path)
    elif framework == "lightgbm":
        booster = getattr(model, "booster_", model)  # LGBMClassifier keeps a Booster
        booster.save_model(str(path))
    elif framework == "xgboost":
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        booster.save_model(str(path))
    elif framework == "catboost":
        model.save_model(str(path))
    else:
        path.write_bytes(model.SerializeToString())
    return path


def register_model(
    model: Any,
    *,
    name: str,
    store: Store | None = None,
    actor: str | None = None,
    framework: str | None = None,
    metrics: dict[str, Any] | None = None,
    description: str = "",
    training_data: Path | str | pl.DataFrame | None = None,
) -> ModelVersion:
    """Register a model given as an artifact file (with ``framework``) or a fitted object.

    From a notebook: ``kaskad.register_model(clf, name="fraud", training_data=train_df)``
    registers into the store in ``./.kaskad`` as the current user; pass ``store=`` and
    ``actor=`` to choose.
    """
    if store is None:
        with Store.open() as opened:
            return register_model(
                model,
                name=name,
                store=opened,
                actor=actor,
                framework=framework,
                metrics=metrics,
                description=description,
                training_data=training_data,
            )
    actor = actor or default_actor()
    with tempfile.TemporaryDirectory(prefix="kaskad-model-") as tmp:
        if isinstance(model, (str, Path)):
            path = Path(model)
            if framework is None:
                raise KaskadError(f"{path}: give the framework ({', '.join(FRAMEWORKS)})")
            if not path.is_file():
                raise ModelLoadError(path, "file not found")
        else:
            framework = framework or _framework_of(model)
            path = _save(model, framework, Path(tmp))
        if framework not in FRAMEWORKS:
            raise ModelLoadError(
                path, f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}"
            )
        # a model saved under another version of its library registers with that version
        # in its environment; a release made with it is refused until overridden
        adapter = load_model(path, framework, allow_version_mismatch=True)
        sha = store.artifacts.put_file(path)
    training: dict[str, Any] | None = None
    frame: pl.DataFrame | None = None
    if training_data is not None:
        source = Path(training_data) if isinstance(training_data, str) else training_data
        training, frame = fingerprint(source)
    names = list(adapter.input_names or [])
    if not names and adapter.n_inputs is not None:
        names = [f"input_{i}" for i in range(adapter.n_inputs)]
    inputs = [{"name": n, "type": _input_type(frame, n)} for n in names]
    return store.add_model_version(
        name=name,
        framework=framework,
        artifact_sha256=sha,
        description=description,
        metrics=dict(metrics or {}),
        environment=_environment(FRAMEWORK_PACKAGES[framework], adapter),
        inputs=inputs,
        outputs=list(adapter.output_names),
        sample=_sample(adapter, frame, names),
        training_data=training,
        actor=actor,
    )


def _environment(packages: tuple[str, ...], adapter: Any) -> dict[str, Any]:
    """The installed versions of a framework's packages, except those the artifact says
    it was saved with (``saved_with``)."""
    env = capture_environment(packages)
    env["packages"] = dict(sorted({**env["packages"], **dict(adapter.saved_with)}.items()))
    if adapter.load_warnings:
        env["warnings"] = list(adapter.load_warnings)
    return env


def _input_type(frame: pl.DataFrame | None, name: str) -> str:
    if frame is None or name not in frame.columns:
        return "float"
    dtype = frame.schema[name]
    if dtype.is_integer():
        return "integer"
    if dtype == pl.Boolean:
        return "boolean"
    return "float" if dtype.is_numeric() else str(dtype)


def _sample(adapter: Any, frame: pl.DataFrame | None, names: list[str]) -> list[dict[str, Any]]:
    """Inputs from the training data with the model's outputs on them."""
    if frame is None or not names or not all(n in frame.columns for n in names):
        return []
    rows = frame.select(names).head(SAMPLE_ROWS)
    x = np.ascontiguousarray(rows.cast(pl.Float64).to_numpy().astype(np.float64))
    outputs = adapter.predict_batch(x)
    sample = []
    for i, row in enumerate(rows.to_dicts()):
        result = {k: float(v[i]) for k, v in outputs.items()}
        sample.append({"input": row, "output": result})
    return sample
