"""A step that raises fails its record only, in both executors alike, with the fallback."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.compile.serial import plan_from_json, plan_to_json
from tests.execute.failing_pipeline import build

ROWS = pl.DataFrame(
    {
        "id": ["a", "b", "c", "d", "e"],
        "amount": [10.0, 2000.0, 30.0, 50.0, 70.0],
        "income": [1.0, None, 2.0, None, 3.0],
    }
)
ERROR = "feature log_income: ValueError: income is missing"


def _both(plan_path: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    plan = compile_pipeline(plan_path)
    batch = BatchExecutor(plan).run(ROWS).to_dicts()
    executor = RecordExecutor(plan)
    single = [executor.decide(row).output for row in ROWS.to_dicts()]
    return batch, single


def test_the_pipeline_fallback_decides_failed_records_and_the_rest_are_decided(
    tmp_path: Path,
) -> None:
    batch, single = _both(build(tmp_path))
    assert batch == single
    assert [r["status"] for r in batch] == ["decided", "failed", "decided", "failed", "decided"]
    failed = [r for r in batch if r["status"] == "failed"]
    assert all(r["errors"] == [ERROR] for r in failed)
    assert all(r["decision"] == "refer" and r["reasons"] == ["step_failed"] for r in failed)
    assert all(r["score"] is not None for r in batch if r["status"] == "decided")


def test_a_step_fallback_wins_over_the_pipeline_one(tmp_path: Path) -> None:
    batch, single = _both(build(tmp_path, step_fallback=True))
    assert batch == single
    failed = [r for r in batch if r["status"] == "failed"]
    assert {(r["decision"], tuple(r["reasons"])) for r in failed} == {  # type: ignore[arg-type]
        ("manual_review", ("feature_error",))
    }


def test_without_a_fallback_a_failed_record_has_no_decision(tmp_path: Path) -> None:
    batch, single = _both(build(tmp_path, pipeline_fallback=False))
    assert batch == single
    failed = [r for r in batch if r["status"] == "failed"]
    assert len(failed) == 2
    assert all(r["decision"] is None and r["errors"] == [ERROR] for r in failed)


def test_every_record_failing_still_gives_a_result_per_row(tmp_path: Path) -> None:
    plan = compile_pipeline(build(tmp_path))
    out = BatchExecutor(plan).run(ROWS.with_columns(pl.lit(None, dtype=pl.Float64).alias("income")))
    assert out["status"].to_list() == ["failed"] * 5
    assert out["decision"].to_list() == ["refer"] * 5


def test_the_trace_names_the_failing_step(tmp_path: Path) -> None:
    plan = compile_pipeline(build(tmp_path))
    decision = RecordExecutor(plan).decide({"id": "x", "amount": 5.0})
    assert decision.failed_step == "log_income"
    assert decision.steps[-1].outputs == {"error": ERROR}


def test_fallbacks_travel_in_the_serialised_plan(tmp_path: Path) -> None:
    plan = compile_pipeline(build(tmp_path, step_fallback=True))
    again = plan_from_json(plan_to_json(plan))
    assert again.fallbacks == plan.fallbacks
    assert again.fallback("log_income") is not None
    assert again.fallback("log_income").outcome == "manual_review"  # type: ignore[union-attr]
    assert again.fallback("risk").outcome == "refer"  # type: ignore[union-attr]


def test_a_bad_on_error_is_a_problem(tmp_path: Path) -> None:
    from kaskad.errors import SpecError

    path = build(tmp_path)
    path.write_text(path.read_text().replace("outcome: refer", "outcom: refer"))
    with pytest.raises(SpecError) as caught:
        compile_pipeline(path)
    assert "K105" in str(caught.value) and "on_error" in str(caught.value)


def test_a_model_that_raises_on_some_records_fails_only_those(tmp_path: Path) -> None:
    """A scikit-learn GradientBoostingClassifier refuses NaN inputs: the records whose
    optional income is missing fail at the model step, with its error; the pipeline's
    fallback decides them; the others are decided, identically in both executors."""
    import joblib
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier

    folder = tmp_path / "p"
    path = build(folder)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2))
    model = GradientBoostingClassifier(n_estimators=5, random_state=0)
    joblib.dump(model.fit(x, (x[:, 0] > 0).astype(int)), folder / "gbc.joblib")
    text = path.read_text()
    text = text.replace("artifact: risk.joblib", "artifact: gbc.joblib")
    text = text.replace("inputs: [share, log_income]", "inputs: [amount, income]")
    text = text.replace("  - features: ratios.yaml\n", "")
    path.write_text(text)
    batch, single = _both(path)
    assert batch == single
    assert [r["status"] for r in batch] == ["decided", "failed", "decided", "failed", "decided"]
    failed = [r for r in batch if r["status"] == "failed"]
    assert all(r["decision"] == "refer" for r in failed)
    errors = [str(e) for r in failed for e in r["errors"]]  # type: ignore[union-attr]
    assert errors and all(e.startswith("model risk:") and "NaN" in e for e in errors), errors
    assert all(r["score"] is not None for r in batch if r["status"] == "decided")
