"""`kaskad scorecard import`: a fitted scikit-learn LogisticRegression with binning and
one-hot preprocessing becomes a scorecard whose score equals predict_proba (1e-12), and
the scorecard is exact between executors and batch sizes."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder
from typer.testing import CliRunner

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.cli.main import app
from kaskad.errors import SpecError
from tests.conftest import frame_of

SCHEMA = """schema: applicant
fields:
  id: {type: string, required: true, key: true}
  age: {type: float, required: true}
  utilisation: {type: float, required: true}
  debt: {type: float, required: true}
  housing: {type: category, values: [own, rent, family], required: true}
"""
PIPELINE = """pipeline: imported
input: schema.yaml
steps:
  - scorecard: card.yaml
decision:
  - when: card.score < 0.5
    outcome: reject
  - otherwise: approve
"""


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.uniform(18, 80, n),
            "utilisation": rng.beta(2, 3, n),
            "debt": rng.lognormal(6, 1, n),
            "housing": rng.choice(["own", "rent", "family"], n),
        }
    )


def _fitted() -> Pipeline:
    x = _data(3000, 1)
    y = ((x["age"] / 40 - x["utilisation"] + (x["housing"] == "own")) > 0.6).astype(int)
    pre = ColumnTransformer(
        [
            (
                "bins",
                KBinsDiscretizer(
                    n_bins=5, encode="onehot", quantile_method="averaged_inverted_cdf"
                ),
                ["age", "utilisation"],
            ),
            (
                "ord",
                KBinsDiscretizer(
                    n_bins=4, encode="ordinal", quantile_method="averaged_inverted_cdf"
                ),
                ["debt"],
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["housing"]),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(C=0.5))]).fit(x, y)


def test_import_reproduces_predict_proba_exactly_in_both_executors(tmp_path: Path) -> None:
    model = _fitted()
    joblib.dump(model, tmp_path / "model.joblib")
    result = CliRunner().invoke(
        app,
        ["scorecard", "import", str(tmp_path / "model.joblib"), "-o", str(tmp_path / "card.yaml")],
    )
    assert result.exit_code == 0, result.output
    assert "4 characteristics" in result.output
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    plan = compile_pipeline(tmp_path / "pipeline.yaml")

    x = _data(1500, 2)
    expected = model.predict_proba(x)[:, 1]
    records = [{"id": f"a{i}", **row} for i, row in enumerate(x.to_dict("records"))]
    frame = frame_of(records, plan.schema)
    batch = BatchExecutor(plan)
    whole = batch.run(frame)
    scores = whole["card.score"].to_numpy()
    assert np.max(np.abs(scores - expected)) < 1e-12
    bits = scores.view(np.uint64)
    for size in (1, 7, 1000):
        part = pl.concat(
            [batch.run(frame.slice(i, size)) for i in range(0, 70 if size < 1000 else 1500, size)]
        )
        got = part["card.score"].to_numpy().view(np.uint64)
        assert (got == bits[: len(got)]).all()
    one = RecordExecutor(plan)
    for i, rec in enumerate(records[:300]):
        out = one.decide(rec).output
        assert np.float64(out["card.score"]).view(np.uint64) == bits[i]
        assert out["card.reasons"] == whole["card.reasons"][i].to_list()


def test_import_refuses_what_is_not_a_scorecard(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x = _data(200, 3)[["age", "debt"]]
    joblib.dump(
        RandomForestClassifier(n_estimators=2).fit(x, x["age"] > 40), tmp_path / "rf.joblib"
    )
    result = CliRunner().invoke(
        app, ["scorecard", "import", str(tmp_path / "rf.joblib"), "-o", str(tmp_path / "x.yaml")]
    )
    assert result.exit_code == 1
    assert "K306" in result.output and "LogisticRegression" in result.output
    assert not (tmp_path / "x.yaml").exists()


def test_scorecard_mistakes_are_reported_with_their_place(tmp_path: Path) -> None:
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "card.yaml").write_text(
        "scorecard: card\nlink: probit\ncharacteristics:\n"
        "  - name: age\n    input: age\n    bins:\n      - {from: 40, to: 30, points: 1}\n"
        "  - name: housing\n    input: housing\n    bins:\n      - {from: 1, points: 2}\n"
    )
    with pytest.raises(SpecError) as info:
        compile_pipeline(tmp_path / "pipeline.yaml")
    text = str(info.value)
    assert "'link' must be one of none, logistic" in text
    assert "card.yaml:7" in text and "empty interval" in text
    (tmp_path / "card.yaml").write_text(
        "scorecard: card\ncharacteristics:\n"
        "  - name: housing\n    input: housing\n    bins:\n      - {from: 1, points: 2}\n"
    )
    with pytest.raises(SpecError) as info:
        compile_pipeline(tmp_path / "pipeline.yaml")
    assert "K203" in str(info.value) and "an interval bin needs a number" in str(info.value)
