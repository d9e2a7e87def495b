"""Compiled tree kernels against the libraries: random models of every supported family
(random hyperparameters, missing values, categorical splits) must give the library's
exact bits on fresh random inputs, in a batch and one record at a time; what no kernel
reproduces falls back to the library with a reason."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from kaskad.models.base import ModelAdapter, load_bytes
from kaskad.models.kernels import LIBRARY, LINEAR, TREES, KernelAdapter, choose, ensemble_of
from kaskad.models.kernels.batch import kernel_of
from kaskad.models.kernels.gate import refusals
from kaskad.models.kernels.native import compile_trees
from kaskad.models.kernels.record import generated, walker, wrapped

WIDTH = 5


def _bits(values: Any) -> Any:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _sklearn(model: Any) -> ModelAdapter:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return load_bytes(buffer.getvalue(), "sklearn", Path("m.joblib"))


def _lightgbm(booster: lgb.Booster) -> ModelAdapter:
    return load_bytes(booster.model_to_string().encode(), "lightgbm", Path("m.txt"))


def _data(seed: int, rows: int = 400, missing: float = 0.15) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, WIDTH)) * rng.lognormal(0, 1.5, size=WIDTH)
    x[:, 3] = rng.integers(0, 12, size=rows)  # a categorical-looking column
    x[:, 4] = np.where(rng.random(rows) < 0.3, 0.0, x[:, 4])  # zeros: LightGBM's zero band
    y = np.nan_to_num(x[:, 0]) + (x[:, 3] % 3 == 0) + rng.normal(size=rows)
    x[rng.random(x.shape) < missing] = np.nan
    return x, y


def _inputs(seed: int, x: Any, rows: int = 300) -> Any:
    """Fresh inputs near the training data: resampled values, jittered, NaN, zeros."""
    rng = np.random.default_rng(seed + 1)
    out = x[rng.integers(0, len(x), size=rows)].copy()
    jitter = rng.random(out.shape) < 0.3
    out[jitter] += rng.normal(size=int(jitter.sum()))
    out[rng.random(out.shape) < 0.1] = np.nan
    out[rng.random(out.shape) < 0.05] = 0.0
    return out


def assert_identical(adapter: ModelAdapter, x: Any, kind: str = TREES) -> KernelAdapter:
    choice = choose(adapter)
    assert choice.kernel == kind, choice.reason
    kernel = choice.adapter
    assert isinstance(kernel, KernelAdapter)
    kernel.use_library_from(0)  # the NumPy walk on every batch size
    want = adapter.predict_batch(x)
    got = kernel.predict_batch(x)
    assert set(got) == set(want)
    for name in want:
        assert (_bits(got[name]) == _bits(want[name])).all(), name
    if kind == TREES:  # the trees compiled to machine code, on every batch size
        assert kernel.native is not None and kernel.native.wait() is not None, kernel.native.reason
        assert kernel.native.level == 2
        kernel.use_library_from(1)
        native = kernel.predict_batch(x)
        for name in want:
            assert (_bits(native[name]) == _bits(want[name])).all(), f"compiled: {name}"
        e = ensemble_of(adapter)  # and without LLVM's optimisations (the first stage)
        e.refuses_nan, e.refuses_inf = refusals(adapter, e.n_features)
        compiled = compile_trees(e, 0)
        fast = kernel_of(e, compiled.batch, 1 << 30)
        level0 = KernelAdapter(
            adapter, TREES, fast, wrapped(e, compiled.record), library_from_rows=0
        )
        got0 = level0.predict_batch(x)
        for name in want:
            assert (_bits(got0[name]) == _bits(want[name])).all(), f"level 0: {name}"
        # one row at a time: the compiled trees at both levels, and the function made at
        # load (Python, or LightGBM's single-row predictor) that records use before them
        assert kernel.native.record() is not None
        loaded = KernelAdapter(adapter, TREES, kernel.batch, kernel.record, library_from_rows=0)
        singles = [("compiled", kernel), ("level 0", level0), ("at load", loaded)]
    else:
        singles = [("record", kernel)]
    for i in range(len(x)):
        row = x[i].tolist()
        for label, scorer in singles:
            one = scorer.predict_one(row)
            for name in want:
                assert _bits([one[name]])[0] == _bits(want[name][i : i + 1])[0], (label, name, i)
    return kernel


# --- LightGBM -----------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    objective=st.sampled_from(["binary", "regression", "multiclass"]),
    leaves=st.integers(2, 40),
    depth=st.sampled_from([-1, 2, 5]),
    missing=st.sampled_from(["nan", "zero", "none"]),
    categorical=st.booleans(),
)
def test_lightgbm_random_models(
    seed: int, objective: str, leaves: int, depth: int, missing: str, categorical: bool
) -> None:
    x, y = _data(seed)
    params: dict[str, Any] = {
        "objective": objective,
        "num_leaves": leaves,
        "max_depth": depth,
        "min_data_in_leaf": 3,
        "verbose": -1,
        "use_missing": missing != "none",
        "zero_as_missing": missing == "zero",
        "seed": seed,
    }
    label = y
    if objective == "binary":
        label = (y > np.median(y)).astype(int)
    elif objective == "multiclass":
        label = np.digitize(y, np.quantile(y, [0.33, 0.66]))
        params["num_class"] = 3
    data = lgb.Dataset(x, label, categorical_feature=[3] if categorical else "auto")
    booster = lgb.train(params, data, num_boost_round=15)
    assert_identical(_lightgbm(booster), _inputs(seed, x))


def test_lightgbm_random_forest_mode_and_sigmoid() -> None:
    x, y = _data(3)
    booster = lgb.train(
        {
            "objective": "binary",
            "sigmoid": 0.7,
            "boosting": "rf",
            "bagging_fraction": 0.6,
            "bagging_freq": 1,
            "verbose": -1,
        },
        lgb.Dataset(x, (y > 0).astype(int)),
        num_boost_round=8,
    )
    assert ensemble_of(_lightgbm(booster)).divide == 8.0
    assert_identical(_lightgbm(booster), _inputs(3, x))


def test_lightgbm_edge_values() -> None:
    x, y = _data(8)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "zero_as_missing": True},
        lgb.Dataset(x, (y > 0).astype(int)),
        num_boost_round=10,
    )
    adapter = _lightgbm(booster)
    e = ensemble_of(adapter)
    edges = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-36, -1e-35, 1e300]
    rows = [[v] * WIDTH for v in edges]
    rows += [[t] * WIDTH for t in e.threshold if np.isfinite(t)][:50]
    assert_identical(adapter, np.asarray(rows, dtype=np.float64))


# --- XGBoost ------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    objective=st.sampled_from(["binary:logistic", "reg:squarederror"]),
    depth=st.integers(1, 8),
    rate=st.sampled_from([0.05, 0.3, 1.0]),
)
def test_xgboost_random_models(seed: int, objective: str, depth: int, rate: float) -> None:
    import xgboost as xgb

    x, y = _data(seed)
    label = (y > np.median(y)).astype(int) if objective.startswith("binary") else y
    booster = xgb.train(
        {"objective": objective, "max_depth": depth, "eta": rate, "seed": seed},
        xgb.DMatrix(x, label),
        num_boost_round=12,
    )
    adapter = load_bytes(bytes(booster.save_raw("ubj")), "xgboost", Path("m.ubj"))
    assert_identical(adapter, _inputs(seed, x))


def test_xgboost_multiclass_is_left_to_the_library() -> None:
    import xgboost as xgb

    x, y = _data(12)
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3},
        xgb.DMatrix(x, np.digitize(y, [-0.5, 0.5])),
        num_boost_round=3,
    )
    choice = choose(load_bytes(bytes(booster.save_raw("ubj")), "xgboost", Path("m.ubj")))
    assert choice.kernel == LIBRARY and "multiclass" in choice.reason


# --- CatBoost -----------------------------------------------------------------------------


def _catboost(model: Any, tmp: Path) -> ModelAdapter:
    path = tmp / "m.cbm"
    model.save_model(str(path))
    return load_bytes(path.read_bytes(), "catboost", path)


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    binary=st.booleans(),
    depth=st.integers(1, 7),
    nan_mode=st.sampled_from(["Min", "Max"]),
)
def test_catboost_random_models(
    tmp_path_factory: pytest.TempPathFactory, seed: int, binary: bool, depth: int, nan_mode: str
) -> None:
    import catboost

    x, y = _data(seed)
    kind = catboost.CatBoostClassifier if binary else catboost.CatBoostRegressor
    target = (y > np.median(y)).astype(int) if binary else y
    model = kind(
        iterations=15,
        depth=depth,
        nan_mode=nan_mode,
        random_seed=seed,
        verbose=0,
        allow_writing_files=False,
    )
    model.fit(x, target)
    assert_identical(_catboost(model, tmp_path_factory.mktemp("cb")), _inputs(seed, x))


def test_catboost_categorical_features_are_left_to_the_library(tmp_path: Path) -> None:
    import catboost
    import pandas as pd

    x, y = _data(13, missing=0.0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(WIDTH)])
    frame["f3"] = frame["f3"].astype(int).astype(str)
    model = catboost.CatBoostClassifier(
        iterations=5, verbose=0, cat_features=["f3"], allow_writing_files=False
    )
    model.fit(frame, (y > 0).astype(int))
    choice = choose(_catboost(model, tmp_path))
    assert choice.kernel == LIBRARY and "named columns" in choice.reason


# --- scikit-learn -------------------------------------------------------------------------

_CLASSIFIERS = [
    lambda s, d: DecisionTreeClassifier(max_depth=d, random_state=s),
    lambda s, d: RandomForestClassifier(n_estimators=7, max_depth=d, random_state=s),
    lambda s, d: ExtraTreesClassifier(n_estimators=5, max_depth=d, random_state=s),
    lambda s, d: GradientBoostingClassifier(n_estimators=12, max_depth=d, random_state=s),
]
_REGRESSORS = [
    lambda s, d: DecisionTreeRegressor(max_depth=d, random_state=s),
    lambda s, d: RandomForestRegressor(n_estimators=6, max_depth=d, random_state=s),
    lambda s, d: ExtraTreesRegressor(n_estimators=4, max_depth=d, random_state=s),
    lambda s, d: GradientBoostingRegressor(
        n_estimators=10, max_depth=d, random_state=s, loss="huber"
    ),
]


@pytest.mark.slow
@settings(max_examples=16, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    make=st.sampled_from(_CLASSIFIERS + _REGRESSORS),
    depth=st.sampled_from([1, 3, 8, None]),
    classes=st.sampled_from([2, 3]),
    imputed=st.booleans(),
)
def test_sklearn_random_models(
    seed: int, make: Any, depth: int | None, classes: int, imputed: bool
) -> None:
    x, y = _data(seed)
    model = make(seed, depth)
    is_classifier = hasattr(model, "predict_proba")
    target = (
        np.digitize(y, np.quantile(y, np.linspace(0, 1, classes + 1)[1:-1]))
        if (is_classifier)
        else y
    )
    if imputed or "GradientBoosting" in type(model).__name__:
        model = make_pipeline(SimpleImputer(strategy="median"), model)
    model.fit(x, target)
    assert_identical(_sklearn(model), _inputs(seed, x))


def test_sklearn_constant_imputer_and_gradient_boosting_like_the_credit_model() -> None:
    x, y = _data(21, rows=600, missing=0.3)
    model = make_pipeline(
        SimpleImputer(strategy="constant", fill_value=-1),
        GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0),
    ).fit(x, (y > 0).astype(int))
    kernel = assert_identical(_sklearn(model), _inputs(21, x))
    # every value the library refuses is refused by the kernel too
    with pytest.raises(Exception, match="inf"):
        kernel.predict_one([np.inf] * WIDTH)
    with pytest.raises(Exception, match="inf"):
        kernel.predict_batch(np.full((2, WIDTH), np.inf))


def test_the_walker_gives_the_generated_function_s_bits() -> None:
    x, y = _data(6)
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "num_leaves": 30},
        lgb.Dataset(x, y, categorical_feature=[3]),
        num_boost_round=10,
    )
    e = ensemble_of(_lightgbm(booster))
    fast, slow = generated(e), walker(e)
    for row in _inputs(6, x).tolist():
        assert _bits(fast(row)).tolist() == _bits(slow(row)).tolist()


# --- ONNX (skl2onnx) ------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    classifier=st.booleans(),
    depth=st.integers(1, 5),
    fill=st.sampled_from([-1.0, 0.0, 2.5]),
)
def test_onnx_tree_ensembles_from_skl2onnx(
    seed: int, classifier: bool, depth: int, fill: float
) -> None:
    from skl2onnx import to_onnx

    x, y = _data(seed)
    final: Any = (
        GradientBoostingClassifier(n_estimators=10, max_depth=depth, random_state=seed)
        if classifier
        else GradientBoostingRegressor(n_estimators=10, max_depth=depth, random_state=seed)
    )
    target = (y > 0).astype(int) if classifier else y
    model = make_pipeline(SimpleImputer(strategy="constant", fill_value=fill), final)
    model.fit(x, target)
    onnx_model = to_onnx(
        model, x[:1].astype(np.float32), options={"zipmap": False} if classifier else None
    )
    adapter = load_bytes(onnx_model.SerializeToString(), "onnx", Path("m.onnx"))
    assert_identical(adapter, _inputs(seed, x))


# --- scikit-learn linear models (records; batches are sklearn_exact's kernel) -------------


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    kind=st.sampled_from(["binary", "multiclass", "linear", "ridge"]),
    scaled=st.booleans(),
    scale=st.floats(1e-3, 1e4),
)
def test_sklearn_linear_models(seed: int, kind: str, scaled: bool, scale: float) -> None:
    x, y = _data(seed)
    x = x * scale
    final: Any = {
        "binary": LogisticRegression(max_iter=300),
        "multiclass": LogisticRegression(max_iter=300),
        "linear": LinearRegression(),
        "ridge": Ridge(alpha=0.5),
    }[kind]
    target: Any = y
    if kind == "binary":
        target = y > 0
    elif kind == "multiclass":
        target = np.digitize(y, [-0.5, 0.5])
    steps: list[Any] = [SimpleImputer(strategy="mean")]
    if scaled:
        steps.append(StandardScaler())
    model = make_pipeline(*steps, final).fit(x, target)
    assert_identical(_sklearn(model), _inputs(seed, x), LINEAR)


def test_a_value_the_library_refuses_raises_the_library_s_error() -> None:
    x, y = _data(14, missing=0.0)
    adapter = _sklearn(make_pipeline(StandardScaler(), Ridge()).fit(x, y))
    kernel = assert_identical(adapter, _inputs(14, x), LINEAR)
    row = [np.inf] + [0.0] * (WIDTH - 1)
    with pytest.raises(Exception, match="infinity") as ours:
        kernel.predict_one(row)
    with pytest.raises(Exception, match="infinity") as theirs:
        adapter.predict_one(row)
    assert str(ours.value) == str(theirs.value)
    # NaN passes the scaler and gives NaN, with the kernel as without it
    nan = [np.nan] * WIDTH
    assert np.isnan(kernel.predict_one(nan)["prediction"])
    assert np.isnan(adapter.predict_one(nan)["prediction"])


# --- the gate and what has no kernel ------------------------------------------------------


def test_the_gate_refuses_a_kernel_that_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    import kaskad.models.kernels as kernels

    x, y = _data(9)
    adapter = _sklearn(RandomForestRegressor(n_estimators=3, random_state=0).fit(x, y))
    real = kernels.ensemble_of

    def off_by_one_ulp(library: ModelAdapter) -> Any:
        e = real(library)
        leaf = e.feature.index(-1)
        e.value[leaf] = float(np.nextafter(e.value[leaf], np.inf))
        return e

    monkeypatch.setattr(kernels, "ensemble_of", off_by_one_ulp)
    choice = choose(adapter)
    assert choice.kernel == LIBRARY
    assert "not bit-identical" in choice.reason
    assert choice.adapter is adapter


def test_models_without_a_kernel_say_why() -> None:
    x, y = _data(10, missing=0.0)
    linear = _sklearn(make_pipeline(MinMaxScaler(), LogisticRegression()).fit(x, y > 0))
    choice = choose(linear)
    assert choice.kernel == LIBRARY and "MinMaxScaler" in choice.reason
    scaled = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=3)).fit(x, y)
    choice = choose(_sklearn(scaled))
    assert choice.kernel == LIBRARY and "StandardScaler" in choice.reason


def test_each_link_calls_the_exp_its_library_calls() -> None:
    """LightGBM and SciPy's ``expit`` call the C library's exp, scikit-learn's softmax
    NumPy's; on some processors (AVX-512) the two differ in the last bit for some values,
    so each kernel must call the same one (bit for bit, on every machine)."""
    from scipy.special import expit

    from kaskad.models.kernels.record import exp, exp_array, np_exp

    x = np.random.default_rng(3).normal(size=20_000) * 4
    libm = np.asarray([math.exp(v) for v in x.tolist()])
    assert exp_array(x).view(np.uint64).tolist() == libm.view(np.uint64).tolist()
    assert [exp(v) for v in x.tolist()] == libm.tolist()
    assert np.array_equal(1.0 / (1.0 + exp_array(-x)), expit(x))
    assert np.asarray(np_exp(x.tolist())).view(np.uint64).tolist() == (
        np.exp(x).view(np.uint64).tolist()
    )
    assert exp(1e6) == math.inf and exp_array(np.asarray([1e6]))[0] == math.inf
