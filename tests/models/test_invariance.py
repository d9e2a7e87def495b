"""Batch-size invariance as a guarantee: a record's outputs are bit-identical alone, in a
chunk of 7, 1,000 or 50,000, per record, over HTTP and in Spark, for a bank's ordinary
pipeline (LightGBM cascaded into ColumnTransformer + LogisticRegression, an LR challenger)
and its XGBoost and CatBoost variants; released with the default golden set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kaskad import BatchExecutor, compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.execute.convert import json_value
from kaskad.execute.record import RecordExecutor
from kaskad.io.files import read_input
from kaskad.models.base import ModelAdapter, load_bytes
from kaskad.registry.releases import create_release, load_release
from kaskad.store import Store
from tests.models.lr_pipeline import applications, build
from tests.serve.conftest import three_paths

BIG = 50_000


def _bits(values: Any) -> Any:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _adapter(model: Any) -> ModelAdapter:
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return load_bytes(buffer.getvalue(), "sklearn", Path("m.joblib"))


# --- the kernel: exact at any batch size ------------------------------------------------

_RNG = np.random.default_rng(5)
_X = _RNG.normal(size=(600, 9)) * _RNG.lognormal(0, 2, size=9)
_Y = (_X[:, 0] - _X[:, 3] + _RNG.normal(size=600) > 0).astype(int)
_MODELS = {
    "binary": make_pipeline(StandardScaler(), LogisticRegression()).fit(_X, _Y),
    "multiclass": LogisticRegression(max_iter=500).fit(_X, np.digitize(_X[:, 1], [-1, 1])),
    "linear": LinearRegression().fit(_X, _X[:, 2]),
    "ridge": make_pipeline(StandardScaler(), Ridge()).fit(_X, _X[:, 4]),
}


@pytest.mark.parametrize("name", list(_MODELS))
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([1, 2, 7, 31, 1_000]),
    scale=st.floats(1e-3, 1e6),
)
def test_linear_models_are_exact_at_any_batch_size(
    name: str, seed: int, size: int, scale: float
) -> None:
    adapter = _adapter(_MODELS[name])
    assert adapter.exact
    x = np.random.default_rng(seed).normal(size=(size, 9)) * scale
    batch = adapter.predict_batch(x)
    for i in range(min(size, 40)):
        one = adapter.predict_one(x[i].tolist())
        for output in adapter.output_names:
            assert _bits([one[output]]) == _bits(batch[output][i : i + 1])
    half = adapter.predict_batch(x[: size // 2 + 1])
    for output in adapter.output_names:
        assert (_bits(half[output]) == _bits(batch[output][: size // 2 + 1])).all()


def test_the_kernel_agrees_with_scikit_learn_closely() -> None:
    model = _MODELS["binary"]
    ours = _adapter(model).predict_batch(_X)["score"]
    np.testing.assert_allclose(ours, model.predict_proba(_X)[:, 1], rtol=0, atol=1e-15)


# --- the done-when pipeline -------------------------------------------------------------


@pytest.fixture(scope="module", params=["sklearn", "xgboost", "catboost"])
def bank(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp(f"bank-{request.param}"), kind=request.param)


@pytest.fixture(scope="module")
def big(bank: Path) -> pl.DataFrame:
    plan = compile_pipeline(bank)
    path = bank.parent / "big.parquet"
    applications(BIG, seed=99).write_parquet(path)
    return read_input(path, plan.schema)


@pytest.fixture(scope="module")
def reference(bank: Path, big: pl.DataFrame) -> pl.DataFrame:
    """Every record decided in one chunk of 50,000."""
    out = BatchExecutor(compile_pipeline(bank)).run(big)
    assert out.height == BIG
    assert out.get_column("status").unique().to_list() == ["decided"]
    assert out.get_column("shadow.credit_lr_v2.error").null_count() == BIG
    return out


def _chunked(plan: Plan, frame: pl.DataFrame, size: int) -> pl.DataFrame:
    executor = BatchExecutor(plan)
    return pl.concat([executor.run(frame.slice(i, size)) for i in range(0, frame.height, size)])


@pytest.mark.slow
@pytest.mark.parametrize(("size", "rows"), [(1, 60), (7, 700), (1_000, BIG)])
def test_chunk_sizes_give_bit_identical_outputs(
    bank: Path, big: pl.DataFrame, reference: pl.DataFrame, size: int, rows: int
) -> None:
    got = _chunked(compile_pipeline(bank), big.head(rows), size)
    assert got.equals(reference.head(rows))


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [json_value(r) for r in frame.to_dicts()]


@pytest.mark.slow
def test_per_record_and_http_give_bit_identical_outputs(
    bank: Path, big: pl.DataFrame, reference: pl.DataFrame
) -> None:
    records = [json_value(r) for r in big.head(60).to_dicts()]
    want = _rows(reference.head(60))
    direct, one, many = three_paths(bank, records, alone=20)
    assert direct == want and one == want[:20] and many == want


@pytest.mark.slow
def test_spark_gives_bit_identical_outputs(
    spark: Any, bank: Path, reference: pl.DataFrame, tmp_path: Path
) -> None:
    from kaskad.batch.spark import run_spark

    source = tmp_path / "in.parquet"
    applications(BIG, seed=99).head(5_000).write_parquet(source)
    out = tmp_path / "out.parquet"
    assert run_spark(spark, compile_pipeline(bank), str(source), str(out)) == 5_000
    remote = pl.read_parquet(out / "*.parquet").sort("application_id")
    assert remote.equals(reference.head(5_000).sort("application_id"))


@pytest.mark.slow
def test_released_with_the_default_golden_set(bank: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        release = create_release(
            store, bank, actor="tester", golden_input=bank.parent / "applications.jsonl"
        )
        assert release.golden_count == 200
        checked = {c["name"]: c.get("outputs_checked") for c in release.components}
        assert checked["credit"] == "exact" and checked["credit_v2"] == "exact"
        loaded = load_release(store, release.ref, actor="tester", cache_root=tmp_path / "c")
        assert [c.name for c in loaded.checks if c.ok] == [
            "artifacts",
            "environment",
            "plan",
            "golden",
        ]


def test_models_take_their_own_columns(bank: Path) -> None:
    """Text categories reach the model's own OneHotEncoder; the trace says outputs are exact."""
    from kaskad.execute.explain import explain

    plan = compile_pipeline(bank)
    record = json.loads((bank.parent / "applications.jsonl").read_text().splitlines()[0])
    report = explain(plan, RecordExecutor(plan).decide(record))
    credit = next(s for s in report["trace"]["steps"] if s["id"] == "credit")
    assert credit["model"]["outputs_checked"] == {"exact": ["pd"]}
    assert credit["model"]["warnings"] == []
