"""Challengers run in a thread beside the champion's steps they do not read
(:class:`kaskad.execute.batch.BatchExecutor`), with the same fields as when they run after
the champion: on a card pipeline unlike the example, where a Python step after the
challenger's start fails the records with no income, and a challenger model that cannot
take a missing income raises for a chunk holding such a record."""

from __future__ import annotations

import threading
from pathlib import Path

import joblib
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from kaskad import BatchExecutor, compile_pipeline
from kaskad.batch.overlap import decided_ahead
from kaskad.io.reading import Chunk
from tests.execute.failing_pipeline import RULES, SCHEMA  # the same card records and limits

FEATURES = """\
featureset: ratios
features:
  - name: share
    description: The amount in hundreds
    expr: amount / 100
"""

STRICT = """\
ruleset: limits
rules:
  - id: large
    description: A large amount, lower threshold
    when: amount > 100
    outcome: review
"""

PIPELINE = """\
pipeline: card
input: schemas/card.yaml
steps:
  - features: ratios.yaml
  - rules: limits.yaml
  - model: risk
    artifact: risk.joblib
    framework: sklearn
    inputs: [share, income]
    outputs: {score: score}
    tolerance: 1.0e-12
decision:
  - when: limits.any_hit
    outcome: review
    reason: large
  - when: score > 0.5
    outcome: decline
    reason: risk
  - otherwise: approve
on_error: {outcome: refer, reason: step_failed}
shadow:
  - name: strict
    rules: strict.yaml
    replaces: limits
  - name: risk_income
    model: risk_v2
    artifact: risk_v2.joblib
    framework: sklearn
    inputs: [share, income]
    outputs: {score: score}
    tolerance: 1.0e-12
    replaces: risk
  - name: risk_amount
    model: risk_v3
    artifact: risk_v3.joblib
    framework: sklearn
    inputs: [share, amount]
    outputs: {score: score}
    replaces: risk
"""


def build(folder: Path) -> Path:
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "schemas" / "card.yaml").write_text(SCHEMA)
    (folder / "ratios.yaml").write_text(FEATURES)
    (folder / "limits.yaml").write_text(RULES)
    (folder / "strict.yaml").write_text(STRICT)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] - x[:, 1] > 0).astype(int)
    # the champion and a challenger refuse a missing income (NaN) for the whole call, as
    # many a library does: the champion's step fails for those records alone
    joblib.dump(KNeighborsClassifier(5).fit(x, y), folder / "risk.joblib")
    joblib.dump(KNeighborsClassifier(3).fit(x, y), folder / "risk_v2.joblib")
    joblib.dump(LogisticRegression().fit(x, y), folder / "risk_v3.joblib")
    path = folder / "pipeline.yaml"
    path.write_text(PIPELINE)
    return path


def rows(n: int, seed: int, missing: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8, 1, n)
    return pl.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "amount": rng.lognormal(5, 1.5, n),
            "income": [
                None if m else float(v)
                for m, v in zip(rng.random(n) < missing, income, strict=True)
            ],
        }
    )


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def beside(plan_path: Path) -> BatchExecutor:
    return BatchExecutor(compile_pipeline(plan_path))


@pytest.fixture(scope="module")
def after(plan_path: Path) -> BatchExecutor:
    return BatchExecutor(compile_pipeline(plan_path), overlap=False)


def test_challengers_start_before_the_champion_steps_they_do_not_read(
    beside: BatchExecutor,
) -> None:
    # strict reads the score (after all 3 steps); both model challengers replace the
    # model, so they start after share and limits, beside the champion's model
    assert [s.after for s in beside._shadows] == [3, 2, 2]


def test_a_challenger_that_raised_on_records_the_champion_failed_runs_again_without_them(
    beside: BatchExecutor, after: BatchExecutor
) -> None:
    frame = rows(40, seed=5, missing=0.3)
    out = beside.run(frame)
    assert out.equals(after.run(frame))
    failed = out.filter(pl.col("status") == "failed")
    decided = out.filter(pl.col("status") == "decided")
    assert failed.height == frame["income"].null_count() > 0
    # started on every record, risk_income's model refused the missing incomes; run
    # again on the decided records alone, it has a score for each and no error
    assert decided["shadow.risk_income.error"].null_count() == decided.height
    assert decided["shadow.risk_income.score"].null_count() == 0
    # risk_amount ran on every record; the failed records' values are dropped
    assert decided["shadow.risk_amount.score"].null_count() == 0
    assert failed["shadow.risk_amount.score"].null_count() == failed.height


def test_rejected_and_failed_records_give_the_same_results(
    beside: BatchExecutor, after: BatchExecutor
) -> None:
    no_income = rows(12, seed=6, missing=1.0)  # the champion fails every record
    infinite = rows(12, seed=7, missing=0.2).with_columns(  # r3 is rejected by the input check
        pl.when(pl.col("id") == "r3").then(float("inf")).otherwise(pl.col("amount")).alias("amount")
    )
    statuses = []
    for frame in (no_income, infinite):
        out = beside.run(frame)
        assert out.equals(after.run(frame))
        statuses.append(set(out["status"]))
    assert statuses == [{"failed"}, {"rejected", "failed", "decided"}]


@pytest.mark.slow
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(0, 70),
    seed=st.integers(0, 10_000),
    missing=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
)
def test_beside_and_after_the_champion_give_the_same_results(
    beside: BatchExecutor, after: BatchExecutor, n: int, seed: int, missing: float
) -> None:
    frame = rows(n, seed, missing)
    assert beside.run(frame).equals(after.run(frame))


@pytest.mark.slow
def test_a_run_decides_the_next_chunk_ahead_with_the_same_results(
    beside: BatchExecutor, after: BatchExecutor
) -> None:
    frame = rows(500, seed=8, missing=0.1)
    chunks = [Chunk(c) for c in frame.iter_slices(37)]
    ahead = [out for _, out in decided_ahead(beside, iter(chunks), "test", 2)]
    one = [out for _, out in decided_ahead(after, iter(chunks), "test", 1)]
    assert len(ahead) == len(one) == len(chunks)
    assert all(a.equals(b) for a, b in zip(ahead, one, strict=True))


class _FailsAt(BatchExecutor):
    """Raises for the chunk whose first id is ``first``, as a defect would."""

    def __init__(self, plan_path: Path, first: str) -> None:
        super().__init__(compile_pipeline(plan_path))
        self.first = first

    def run(self, frame: pl.DataFrame, source: str = "input") -> pl.DataFrame:
        if frame.height and frame["id"][0] == self.first:
            raise RuntimeError(f"chunk at {self.first} failed")
        return super().run(frame, source)


def test_a_chunk_that_fails_to_decide_raises_in_order_and_stops_the_threads(
    plan_path: Path,
) -> None:
    frame = rows(100, seed=9, missing=0.0)
    chunks = [Chunk(c) for c in frame.iter_slices(10)]
    seen = []
    with pytest.raises(RuntimeError, match="chunk at r30 failed"):
        for chunk, _ in decided_ahead(_FailsAt(plan_path, "r30"), iter(chunks), "test", 2):
            seen.append(chunk.frame["id"][0])
    assert seen == ["r0", "r10", "r20"]
    assert not [t for t in threading.enumerate() if t.name.startswith("kaskad-run-ahead")]
