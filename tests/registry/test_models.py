"""Registering models from Python (a notebook) and from files."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import polars as pl
import pytest
from sklearn.tree import DecisionTreeClassifier

import kaskad
from kaskad.errors import KaskadError, ModelLoadError
from kaskad.store import Store


def training_frame() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3))
    return pl.DataFrame(
        {
            "income": x[:, 0] * 1000 + 5000,
            "age": (x[:, 1] * 10 + 40).round().astype(np.int64),
            "channel": rng.choice(["web", "branch"], size=300),
            "label": (x[:, 0] + x[:, 2] > 0).astype(np.int64),
        }
    )


def test_register_a_fitted_sklearn_object_with_training_data(local_store: Store) -> None:
    frame = training_frame()
    clf = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        frame.select("income", "age"), frame["label"]
    )
    first = kaskad.register_model(
        clf,
        name="tree",
        store=local_store,
        actor="a data scientist",
        metrics={"auc": 0.7},
        training_data=frame,
    )
    again = kaskad.register_model(clf, name="tree", store=local_store, actor="a data scientist")
    assert (first.version, again.version) == (1, 2)
    assert first.framework == "sklearn" and first.outputs == ["score"]
    assert first.inputs == [{"name": "income", "type": "float"}, {"name": "age", "type": "integer"}]
    assert set(first.environment["packages"]) >= {"scikit-learn", "numpy"}
    assert first.environment["python"].startswith("3.11")
    profile = first.training_data
    assert profile is not None and profile["rows"] == 300 and len(profile["sha256"]) == 64
    assert profile["profile"]["income"]["quantiles"]["0.5"] == pytest.approx(
        float(frame["income"].median()), rel=1e-6
    )
    assert profile["profile"]["channel"]["top"].keys() == {"web", "branch"}
    expected = clf.predict_proba(frame.select("income", "age").head(20))[:, 1]
    assert [s["output"]["score"] for s in first.sample] == list(expected)
    entry = local_store.audit_log(action="model.register")[0]
    assert entry.target == "model:tree@2" and entry.actor == "a data scientist"


def test_register_a_lightgbm_booster_and_a_file(local_store: Store, tmp_path: Path) -> None:
    frame = training_frame()
    booster = lightgbm.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "deterministic": True},
        lightgbm.Dataset(
            frame.select("income", "age").to_numpy(),
            frame["label"].to_numpy(),
            feature_name=["income", "age"],
        ),
        num_boost_round=5,
    )
    version = kaskad.register_model(booster, name="gbm", store=local_store, actor="ds")
    assert version.framework == "lightgbm"
    assert [i["name"] for i in version.inputs] == ["income", "age"]
    path = tmp_path / "gbm.txt"
    booster.save_model(str(path))
    from_file = kaskad.register_model(
        path, name="gbm", framework="lightgbm", store=local_store, actor="ds"
    )
    assert from_file.version == 2
    assert from_file.artifact_sha256 == version.artifact_sha256


def test_registration_errors_are_clear(local_store: Store, tmp_path: Path) -> None:
    with pytest.raises(KaskadError, match="cannot tell the framework"):
        kaskad.register_model(object(), name="x", store=local_store, actor="ds")
    with pytest.raises(ModelLoadError, match=r"nope\.joblib"):
        kaskad.register_model(
            tmp_path / "nope.joblib", name="x", framework="sklearn", store=local_store, actor="ds"
        )
    assert local_store.list_models() == []
