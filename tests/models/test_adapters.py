"""Model adapters: loading, stored names, batch/single-row bitwise parity, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.base import is_classifier
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kaskad.errors import ModelLoadError, ModelPredictionError
from kaskad.models import FRAMEWORKS, ModelAdapter, load_model

FloatArray = npt.NDArray[np.float64]
NAMES = ["amount", "device_age_days", "debt_to_income", "is_online"]
N_ROWS = 500


class Data:
    """Random inputs with ~15% NaN, and binary, 3-class and continuous targets."""

    def __init__(self) -> None:
        rng = np.random.default_rng(20250101)
        x = rng.normal(size=(N_ROWS, len(NAMES)))
        x[:, 3] = rng.integers(0, 2, N_ROWS)
        x[rng.random(x.shape) < 0.15] = np.nan
        signal = np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 2]) + 0.5 * np.isnan(x[:, 1])
        noisy = signal + rng.normal(scale=0.7, size=N_ROWS)
        self.x = x
        self.y_binary = (noisy > 0).astype(np.int64)
        self.y_multi = np.digitize(noisy, [-0.7, 0.7]).astype(np.int64)
        self.y_reg = noisy


@pytest.fixture(scope="module")
def data() -> Data:
    return Data()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _bits(values: FloatArray) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def assert_parity(model: ModelAdapter, x: FloatArray) -> dict[str, FloatArray]:
    """predict_one equals predict_batch bit for bit, whatever the batch size."""
    batch = model.predict_batch(x)
    assert tuple(batch) == model.output_names
    for column in batch.values():
        assert column.dtype == np.float64
        assert column.shape == (len(x),)
    ones = [model.predict_one(x[i].tolist()) for i in range(len(x))]
    assert all(tuple(one) == model.output_names for one in ones)
    for name in model.output_names:
        single = np.array([one[name] for one in ones])
        np.testing.assert_array_equal(_bits(single), _bits(batch[name]))
    # numpy scalars are floats too
    assert model.predict_one(list(x[0])) == ones[0]
    for size in (7, 64):
        parts = [model.predict_batch(x[i : i + size]) for i in range(0, len(x), size)]
        for name in model.output_names:
            joined = np.concatenate([p[name] for p in parts])
            np.testing.assert_array_equal(_bits(joined), _bits(batch[name]))
    return batch


def assert_multiclass(model: ModelAdapter, batch: dict[str, FloatArray]) -> None:
    assert model.output_names == ("prediction", "proba_0", "proba_1", "proba_2")
    probs = np.column_stack([batch[f"proba_{i}"] for i in range(3)])
    np.testing.assert_array_equal(batch["prediction"], np.argmax(probs, axis=1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# --- scikit-learn -------------------------------------------------------------------


def _dump(estimator: Any, path: Path) -> Path:
    joblib.dump(estimator, path)
    return path


def test_sklearn_binary_without_names(data: Data, model_dir: Path) -> None:
    clf = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(data.x, data.y_binary)
    model = load_model(_dump(clf, model_dir / "hgb.joblib"), "sklearn")
    assert model.framework == "sklearn"
    assert model.input_names is None
    assert model.n_inputs == 4
    assert model.output_names == ("score",)
    batch = assert_parity(model, data.x)
    np.testing.assert_array_equal(batch["score"], clf.predict_proba(data.x)[:, 1])


def test_sklearn_names_from_a_data_frame_and_no_warning(data: Data, model_dir: Path) -> None:
    frame = pl.DataFrame(data.x, schema=NAMES)
    clf = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(frame, data.y_binary)
    model = load_model(_dump(clf, model_dir / "hgb_named.joblib"), "sklearn")
    assert model.input_names == tuple(NAMES)
    batch = assert_parity(model, data.x)  # warnings are errors in this suite
    np.testing.assert_array_equal(batch["score"], clf.predict_proba(frame)[:, 1])


@pytest.mark.slow
def test_sklearn_pipeline(data: Data, model_dir: Path) -> None:
    pipe = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=20))
    pipe.fit(pl.DataFrame(data.x, schema=NAMES), data.y_binary)
    model = load_model(_dump(pipe, model_dir / "pipe.joblib"), "sklearn")
    assert model.input_names == tuple(NAMES)
    assert model.n_inputs == 4
    assert_parity(model, data.x)


@pytest.mark.slow
def test_sklearn_multiclass(data: Data, model_dir: Path) -> None:
    clf = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(data.x, data.y_multi)
    model = load_model(_dump(clf, model_dir / "multi.joblib"), "sklearn")
    batch = assert_parity(model, data.x)
    assert_multiclass(model, batch)
    np.testing.assert_array_equal(batch["prediction"], clf.predict(data.x))


@pytest.mark.slow
def test_sklearn_regressor(data: Data, model_dir: Path) -> None:
    reg = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(data.x, data.y_reg)
    model = load_model(_dump(reg, model_dir / "reg.joblib"), "sklearn")
    assert model.output_names == ("prediction",)
    batch = assert_parity(model, data.x)
    np.testing.assert_array_equal(batch["prediction"], reg.predict(data.x))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: {"not": "a model"}, "not a scikit-learn estimator"),
        (lambda d: HistGradientBoostingClassifier(), "not fitted"),
        (lambda d: StandardScaler().fit(d.x), "neither a classifier nor a regressor"),
        (
            lambda d: HistGradientBoostingClassifier(max_iter=2).fit(d.x, np.zeros(N_ROWS)),
            "single class",
        ),
    ],
    ids=["dict", "unfitted", "transformer", "one-class"],
)
def test_sklearn_rejects_non_models(
    data: Data, tmp_path: Path, make: Callable[[Data], Any], reason: str
) -> None:
    path = _dump(make(data), tmp_path / "thing.joblib")
    with pytest.raises(ModelLoadError, match=reason) as info:
        load_model(path, "sklearn")
    assert "thing.joblib" in str(info.value)


def test_sklearn_rejects_another_version(
    data: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = HistGradientBoostingClassifier(max_iter=2).fit(data.x, data.y_binary)
    monkeypatch.setattr("sklearn.base.__version__", "0.0.1")
    path = _dump(clf, tmp_path / "old.joblib")
    monkeypatch.undo()
    with pytest.raises(ModelLoadError, match="another scikit-learn version"):
        load_model(path, "sklearn")


# --- LightGBM -----------------------------------------------------------------------


def _train_booster(
    x: FloatArray, y: Any, params: dict[str, Any], path: Path, names: list[str] | None
) -> lightgbm.Booster:
    base = {"verbose": -1, "deterministic": True, "num_threads": 1, "force_col_wise": True}
    dataset = lightgbm.Dataset(x, y, feature_name=names if names else "auto")
    booster = lightgbm.train(base | params, dataset, num_boost_round=20)
    booster.save_model(str(path))
    return booster


def test_lightgbm_binary(data: Data, model_dir: Path) -> None:
    path = model_dir / "fraud.txt"
    booster = _train_booster(data.x, data.y_binary, {"objective": "binary"}, path, NAMES)
    model = load_model(path, "lightgbm")
    assert model.framework == "lightgbm"
    assert model.input_names == tuple(NAMES)
    assert model.n_inputs == 4
    assert model.output_names == ("score",)
    batch = assert_parity(model, data.x)
    np.testing.assert_array_equal(batch["score"], booster.predict(data.x))
    assert ((batch["score"] > 0) & (batch["score"] < 1)).all()


def test_lightgbm_without_names(data: Data, model_dir: Path) -> None:
    path = model_dir / "anon.txt"
    _train_booster(data.x, data.y_reg, {"objective": "regression"}, path, None)
    model = load_model(path, "lightgbm")
    assert model.input_names is None
    assert model.output_names == ("prediction",)
    assert_parity(model, data.x)


def test_lightgbm_multiclass(data: Data, model_dir: Path) -> None:
    path = model_dir / "multi.txt"
    params = {"objective": "multiclass", "num_class": 3}
    _train_booster(data.x, data.y_multi, params, path, NAMES)
    model = load_model(path, "lightgbm")
    assert_multiclass(model, assert_parity(model, data.x))


def test_lightgbm_rejects_other_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("objective=binary\n")
    with pytest.raises(ModelLoadError, match="not a LightGBM text model"):
        load_model(path, "lightgbm")


# --- ONNX ---------------------------------------------------------------------------


def _export(estimator: Any, x: FloatArray, path: Path, zipmap: bool = False) -> Path:
    options = {"zipmap": False} if is_classifier(estimator) and not zipmap else {}
    onx = to_onnx(estimator, x[:1].astype(np.float32), options=options)
    path.write_bytes(onx.SerializeToString())
    return path


def _imputed(estimator: Any) -> Any:
    """NaN handling for skl2onnx: impute a value below every real input."""
    return make_pipeline(SimpleImputer(strategy="constant", fill_value=-99.0), estimator)


def test_onnx_binary(data: Data, model_dir: Path) -> None:
    pipe = _imputed(GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0))
    pipe.fit(data.x, data.y_binary)
    model = load_model(_export(pipe, data.x, model_dir / "gbc.onnx"), "onnx")
    assert model.framework == "onnx"
    assert model.input_names is None
    assert model.n_inputs == 4
    assert model.output_names == ("score",)
    batch = assert_parity(model, data.x)
    np.testing.assert_allclose(batch["score"], pipe.predict_proba(data.x)[:, 1], atol=1e-5)


def test_onnx_multiclass(data: Data, model_dir: Path) -> None:
    pipe = _imputed(GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0))
    pipe.fit(data.x, data.y_multi)
    model = load_model(_export(pipe, data.x, model_dir / "multi.onnx"), "onnx")
    assert_multiclass(model, assert_parity(model, data.x))


def test_onnx_regressor(data: Data, model_dir: Path) -> None:
    pipe = _imputed(GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0))
    pipe.fit(data.x, data.y_reg)
    model = load_model(_export(pipe, data.x, model_dir / "reg.onnx"), "onnx")
    assert model.output_names == ("prediction",)
    batch = assert_parity(model, data.x)
    np.testing.assert_allclose(batch["prediction"], pipe.predict(data.x), atol=1e-4)


def test_onnx_rejects_zipmap(data: Data, tmp_path: Path) -> None:
    pipe = _imputed(GradientBoostingClassifier(n_estimators=3, random_state=0))
    pipe.fit(data.x, data.y_binary)
    path = _export(pipe, data.x, tmp_path / "zipmap.onnx", zipmap=True)
    with pytest.raises(ModelLoadError, match="zipmap") as info:
        load_model(path, "onnx")
    assert "zipmap.onnx" in str(info.value)


def _hand_made(path: Path, n_feeds: int) -> Path:
    """A double-typed ONNX graph: prediction = 2 * first input column, shape [N, 1]."""
    feeds = [
        helper.make_tensor_value_info(f"x{i}", TensorProto.DOUBLE, [None, 3])
        for i in range(n_feeds)
    ]
    out = helper.make_tensor_value_info("variable", TensorProto.DOUBLE, [None, 1])
    nodes = [
        helper.make_node("Constant", [], ["idx"], value_ints=[0]),
        helper.make_node("Gather", ["x0", "idx"], ["first"], axis=1),
        helper.make_node(
            "Constant", [], ["two"], value=helper.make_tensor("c", TensorProto.DOUBLE, [], [2.0])
        ),
        helper.make_node("Mul", ["first", "two"], ["variable"]),
    ]
    graph = helper.make_graph(nodes, "double", feeds, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def test_onnx_double_input(data: Data, tmp_path: Path) -> None:
    model = load_model(_hand_made(tmp_path / "double.onnx", 1), "onnx")
    assert model.n_inputs == 3
    assert model.output_names == ("prediction",)
    x = data.x[:, :3]
    batch = assert_parity(model, x)
    np.testing.assert_array_equal(batch["prediction"], 2 * x[:, 0])


def test_onnx_rejects_several_inputs(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="expects one input tensor"):
        load_model(_hand_made(tmp_path / "two.onnx", 2), "onnx")


# --- shared behaviour ---------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_unreadable_file_names_the_file(framework: str, tmp_path: Path) -> None:
    path = tmp_path / f"broken-{framework}.bin"
    path.write_bytes(b"tree\x00\x01\x02 definitely not a model")
    with pytest.raises(ModelLoadError) as info:
        load_model(path, framework)
    assert path.name in str(info.value)
    assert info.value.path == str(path)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_missing_file(framework: str, tmp_path: Path) -> None:
    path = tmp_path / "absent.model"
    with pytest.raises(ModelLoadError, match="file not found") as info:
        load_model(path, framework)
    assert "absent.model" in str(info.value)


def test_unknown_framework_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown framework 'tensorflow'") as info:
        load_model(tmp_path / "m.bin", "tensorflow")
    for known in FRAMEWORKS:
        assert known in str(info.value)


def test_input_width_and_empty_batch(data: Data, model_dir: Path) -> None:
    path = model_dir / "width.txt"
    _train_booster(data.x, data.y_binary, {"objective": "binary"}, path, NAMES)
    model = load_model(path, "lightgbm")
    # a prediction failure is not a loading failure
    with pytest.raises(ModelPredictionError, match="prediction failed: expects 4 inputs, got 3"):
        model.predict_one([1.0, 2.0, 3.0])
    with pytest.raises(ModelPredictionError, match="expects 4 inputs, got 5"):
        model.predict_batch(np.zeros((2, 5)))
    with pytest.raises(ModelPredictionError, match="2-D"):
        model.predict_batch(np.zeros(4))
    empty = model.predict_batch(np.zeros((0, 4)))
    assert empty["score"].shape == (0,)
    assert empty["score"].dtype == np.float64
