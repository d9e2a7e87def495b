"""Compiled kernels in a pipeline: the plan records which kernel scores each model (and
keeps it through its JSON form), ``kaskad validate`` shows it, ``kernel: library`` opts a
step out, a bad value is K320, and both executors give the same bits with the kernel as
with the library, on a claims pipeline with missing values everywhere (a random-forest
severity model cascaded into a LightGBM multiclass triage with a categorical split)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kaskad import BatchExecutor, compile_pipeline
from kaskad.cli.main import app
from kaskad.compile.plan import ModelNode
from kaskad.compile.serial import plan_from_json, plan_hash, plan_to_json
from kaskad.errors import SpecError
from kaskad.execute.record import RecordExecutor
from kaskad.models.kernels import TREES

SCHEMA = """\
schema: claim
fields:
  claim_id: {type: string, required: true, key: true}
  amount: float
  vehicle_age: float
  region: integer
  prior_claims: integer
"""

PIPELINE = """\
pipeline: claims_triage
description: severity forest cascaded into a multiclass triage model
version: 1
input: schema.yaml
steps:
  - model: severity
    artifact: severity.joblib
    framework: sklearn
    inputs: [amount, vehicle_age, prior_claims]
    outputs: {{severity: prediction}}
  - model: triage
    artifact: triage.txt
    framework: lightgbm
    inputs: [amount, severity, region]
    outputs: {{p_fast: proba_0, p_review: proba_2}}{kernel}
decision:
  - when: p_review > 0.5
    outcome: review
    reason: severe
  - otherwise: fast_track
"""


def _claims(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)

    def holes(values: Any, share: float = 0.2) -> list[Any]:
        return [None if rng.random() < share else v for v in values.tolist()]

    return pl.DataFrame(
        {
            "claim_id": [f"C{seed}-{i}" for i in range(rows)],
            "amount": pl.Series(holes(rng.lognormal(7, 1, rows)), dtype=pl.Float64),
            "vehicle_age": pl.Series(holes(rng.uniform(0, 25, rows)), dtype=pl.Float64),
            "region": pl.Series(holes(rng.integers(0, 9, rows)), dtype=pl.Int64),
            "prior_claims": pl.Series(holes(rng.integers(0, 5, rows)), dtype=pl.Int64),
        }
    )


def build(folder: Path, kernel: str = "") -> Path:
    from sklearn.ensemble import RandomForestRegressor

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.yaml").write_text(SCHEMA)
    frame = _claims(1_500, 1)
    x = frame.select("amount", "vehicle_age", "prior_claims").to_numpy().astype(float)
    severity = np.nan_to_num(x[:, 0]) / 1000 + np.nan_to_num(x[:, 2])
    forest = RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0).fit(x, severity)
    joblib.dump(forest, folder / "severity.joblib")
    triage_x = np.column_stack(
        [x[:, 0], forest.predict(x), frame["region"].to_numpy().astype(float)]
    )
    label = np.digitize(severity + (np.nan_to_num(triage_x[:, 2]) % 4 == 1), [1.0, 3.0])
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "min_data_in_leaf": 5},
        lgb.Dataset(triage_x, label, categorical_feature=[2]),
        num_boost_round=12,
    )
    (folder / "triage.txt").write_text(booster.model_to_string())
    path = folder / "pipeline.yaml"
    path.write_text(PIPELINE.format(kernel=f"\n    kernel: {kernel}" if kernel else ""))
    return path


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("claims"))


def test_the_plan_records_the_kernel_and_keeps_it(claims: Path) -> None:
    plan = compile_pipeline(claims)
    kernels = {n.name: (n.kernel, n.kernel_reason) for n in plan.model_nodes()}
    assert kernels == {"severity": (TREES, ""), "triage": (TREES, "")}
    again = plan_from_json(plan_to_json(plan))
    assert [(n.kernel, n.kernel_reason) for n in again.model_nodes()] == list(kernels.values())
    assert again.hash == plan.hash
    # which kernel runs is not part of the hash: the same bits either way
    nodes = tuple(
        replace(n, kernel="library", kernel_reason="x") if isinstance(n, ModelNode) else n
        for n in plan.nodes
    )
    assert plan_hash(replace(plan, nodes=nodes)) == plan.hash


@pytest.mark.slow
def test_opting_out_runs_the_library_and_says_so(tmp_path: Path) -> None:
    plan = compile_pipeline(build(tmp_path, kernel="library"))
    triage = next(n for n in plan.model_nodes() if n.name == "triage")
    assert triage.kernel == "library"
    assert "kernel: library" in triage.kernel_reason
    out = CliRunner().invoke(app, ["validate", str(tmp_path / "pipeline.yaml")])
    assert out.exit_code == 0, out.output
    assert "model severity kernel: tree-ensemble/1" in out.output
    assert "model triage kernel: library (the pipeline asks for the library" in out.output
    shown = CliRunner().invoke(app, ["validate", "--json", str(tmp_path / "pipeline.yaml")])
    data = json.loads(shown.output)
    assert data["kernels"]["severity"] == {"kernel": TREES, "reason": ""}
    assert data["kernels"]["triage"]["kernel"] == "library"


def test_a_bad_kernel_value_is_k320(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        compile_pipeline(build(tmp_path, kernel="fastest"))
    problems = [p for p in caught.value.problems if p.code == "K320"]
    assert problems and "'auto'" in problems[0].message
    assert problems[0].location.line is not None


def test_auto_is_the_default(tmp_path: Path) -> None:
    plan = compile_pipeline(build(tmp_path, kernel="auto"))
    assert {n.kernel for n in plan.model_nodes()} == {TREES}


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.sampled_from([1, 5, 40, 700]))
def test_kernel_and_library_give_the_same_bits_in_both_executors(
    claims: Path, seed: int, size: int
) -> None:
    plan = compile_pipeline(claims)
    library = compile_pipeline(build(claims.parent / "library", kernel="library"))
    frame = _claims(size, seed)
    ours = BatchExecutor(plan).run(frame)
    theirs = BatchExecutor(library).run(frame)
    columns = ["severity", "p_fast", "p_review", "decision"]
    assert ours.select(columns).equals(theirs.select(columns))
    record = RecordExecutor(plan)
    for i, row in enumerate(frame.head(25).to_dicts()):
        got = record.decide(row)
        for c in columns:
            assert got.output[c] == ours[c][i], (c, i)


def test_executors_use_the_kernel_the_plan_names_and_the_library_if_it_fails_there(
    claims: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kaskad.models.kernels as kernels
    from kaskad.execute.loaded import Loaded
    from kaskad.models import ModelCache

    plan = compile_pipeline(claims)
    nodes = plan.model_nodes()
    assert all(isinstance(Loaded(plan).model(n), kernels.KernelAdapter) for n in nodes)

    def broken(library: object) -> kernels.TreeEnsemble:
        raise kernels.Unsupported("not in this process")

    monkeypatch.setattr(kernels, "ensemble_of", broken)
    kernels.forget()
    fresh = Loaded(plan, ModelCache())  # another process: the gate runs again, and fails
    adapters = [fresh.model(n) for n in nodes]
    assert not any(isinstance(a, kernels.KernelAdapter) for a in adapters)
    frame = _claims(30, 3)
    ours = BatchExecutor(plan, ModelCache()).run(frame)
    monkeypatch.undo()
    kernels.forget()
    assert ours.select("severity", "p_review").equals(
        BatchExecutor(plan).run(frame).select("severity", "p_review")
    )


@pytest.mark.slow
def test_a_large_run_on_the_compiled_trees_gives_the_library_s_bits(claims: Path) -> None:
    """60,000 claims with holes everywhere, scored by the libraries, then by both models'
    trees compiled: both runs equal the library-only pipeline's, and so do claims decided
    one at a time on the compiled trees."""
    from kaskad.execute.loaded import Loaded
    from kaskad.models.kernels import KernelAdapter

    plan = compile_pipeline(claims)
    library = compile_pipeline(build(claims.parent / "library-large", kernel="library"))
    frame = _claims(60_000, 8)
    columns = ["severity", "p_fast", "p_review", "decision"]
    theirs = BatchExecutor(library).run(frame).select(columns)
    executor = BatchExecutor(plan)
    first = executor.run(frame).select(columns)
    slots = []
    for node in plan.model_nodes():
        adapter = Loaded(plan).model(node)
        assert isinstance(adapter, KernelAdapter) and adapter.native is not None
        slots.append(adapter.native)
    assert all(slot.wait(60) is not None for slot in slots), [s.reason for s in slots]
    second = executor.run(frame).select(columns)
    assert first.equals(theirs)
    assert second.equals(theirs)
    record = RecordExecutor(plan)  # one claim at a time, on the compiled trees too
    assert all(slot.record() is not None for slot in slots)
    for i, row in enumerate(frame.head(2_000).to_dicts()):
        got = record.decide(row).output
        for c in columns:
            assert got[c] == theirs[c][i], (c, i)
