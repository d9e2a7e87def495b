"""LightGBM's single-row predictor as the per-record kernel: the library's own bits on
random models (binary, multiclass, regression, categorical splits, missing values), safe
to call from many threads at once, and the generated Python kept as the fallback with the
same bits."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaskad.models.base import ModelAdapter, load_bytes
from kaskad.models.kernels import TREES, KernelAdapter, choose, ensemble_of
from kaskad.models.kernels.ensemble import Unsupported
from kaskad.models.kernels.lightgbm_row import single_row
from kaskad.models.kernels.record import record_kernel

WIDTH = 5


def _bits(values: Any) -> list[int]:
    out: list[int] = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64).tolist()
    return out


def _model(seed: int, objective: str, categorical: bool) -> tuple[lgb.Booster, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, WIDTH)) * rng.lognormal(0, 1.5, size=WIDTH)
    x[:, 3] = rng.integers(0, 10, size=300)
    x[:, 4] = np.where(rng.random(300) < 0.3, 0.0, x[:, 4])
    y = np.nan_to_num(x[:, 0]) + (x[:, 3] % 3 == 0) + rng.normal(size=300)
    x[rng.random(x.shape) < 0.2] = np.nan
    params: dict[str, Any] = {"objective": objective, "verbose": -1, "min_data_in_leaf": 3}
    if objective == "binary":
        y = (y > np.median(y)).astype(int)
    elif objective == "multiclass":
        y = np.digitize(y, np.quantile(y, [0.33, 0.66]))
        params["num_class"] = 3
    elif objective == "poisson":
        y = np.abs(y)
    data = lgb.Dataset(x, y, categorical_feature=[3] if categorical else "auto")
    booster = lgb.train(params, data, num_boost_round=20)
    fresh = rng.normal(size=(200, WIDTH)) * 3
    fresh[:, 3] = rng.integers(-2, 14, size=200)
    fresh[rng.random(fresh.shape) < 0.2] = np.nan
    fresh[rng.random(fresh.shape) < 0.05] = 0.0
    fresh[0] = [np.inf, -np.inf, 1e300, 2.5, -0.0]
    return booster, fresh


def _adapter(booster: lgb.Booster) -> ModelAdapter:
    return load_bytes(booster.model_to_string().encode(), "lightgbm", Path("m.txt"))


def _expected(booster: lgb.Booster, x: Any) -> Any:
    out = np.asarray(booster.predict(x))
    return out.reshape(len(x), -1)


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    objective=st.sampled_from(["binary", "regression", "multiclass", "poisson"]),
    categorical=st.booleans(),
)
def test_single_row_gives_booster_predict_s_bits(
    seed: int, objective: str, categorical: bool
) -> None:
    booster, x = _model(seed, objective, categorical)
    want = _expected(booster, x)
    record = single_row(booster, WIDTH, want.shape[1])
    for i, row in enumerate(x.tolist()):
        assert _bits(record(row)) == _bits(want[i]), i


@pytest.mark.parametrize("objective", ["binary", "multiclass"])
def test_the_kernel_adapter_scores_records_with_lightgbm_s_own_predictor(objective: str) -> None:
    booster, x = _model(7, objective, categorical=True)
    adapter = _adapter(booster)
    choice = choose(adapter)
    assert choice.kernel == TREES, choice.reason
    kernel = choice.adapter
    assert isinstance(kernel, KernelAdapter)
    assert kernel.record.__qualname__.startswith("single_row.")
    want = adapter.predict_batch(x)
    for i, row in enumerate(x.tolist()):
        one = kernel.predict_one(row)
        for name, values in want.items():
            assert _bits([one[name]]) == _bits(values[i : i + 1]), (name, i)


@pytest.mark.parametrize("objective", ["binary", "multiclass", "regression"])
def test_the_generated_fallback_gives_the_same_bits(objective: str) -> None:
    """What a LightGBM without the single-row entry point runs instead."""
    booster, x = _model(11, objective, categorical=True)
    want = _expected(booster, x)
    fallback = record_kernel(ensemble_of(_adapter(booster)))
    for i, row in enumerate(x.tolist()):
        assert _bits(fallback(row)) == _bits(want[i]), i


def test_many_threads_at_once_each_get_their_own_row_s_score() -> None:
    booster, x = _model(3, "multiclass", categorical=False)
    want = _expected(booster, x)
    record = single_row(booster, WIDTH, want.shape[1])
    rows = x.tolist()
    wrong: list[int] = []

    def score(offset: int) -> None:
        for _ in range(20):
            for i in range(offset, len(rows), 3):
                if _bits(record(rows[i])) != _bits(want[i]):
                    wrong.append(i)

    threads = [threading.Thread(target=score, args=(k % 3,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


@pytest.mark.slow
def test_the_predictor_outlives_the_booster_s_other_references_and_is_freed() -> None:
    booster, x = _model(5, "binary", categorical=False)
    want = _expected(booster, x)
    record = single_row(booster, WIDTH, 1)
    del booster
    gc.collect()
    assert _bits(record(x[1].tolist())) == _bits(want[1])
    del record
    gc.collect()  # frees the prepared predictor (a crash here would fail the run)


def test_a_booster_without_a_handle_is_unsupported() -> None:
    class NoHandle:
        pass

    with pytest.raises(Unsupported, match="handle"):
        single_row(NoHandle(), WIDTH, 1)
