"""A bank's ordinary pipeline, generated from a seed: a LightGBM fraud score cascaded into
a scikit-learn credit model (SimpleImputer + OneHotEncoder and SimpleImputer +
StandardScaler in a ColumnTransformer, then LogisticRegression, fitted on a named
DataFrame with text categories), and a LogisticRegression challenger in shadow.

``build(folder, kind=...)`` writes the schema, the models, the pipeline and a sample of
applications; ``kind`` swaps the credit model's final estimator's framework for XGBoost
or CatBoost (same inputs, the categories encoded by the model itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import joblib
import lightgbm
import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

Kind = Literal["sklearn", "xgboost", "catboost"]
CHANNELS = ["web", "branch", "phone"]
EMPLOYMENT = ["employed", "self_employed", "retired", "student"]
NUMBERS = ["income", "amount", "age", "fraud_score"]
TEXTS = ["channel", "employment"]
CREDIT_INPUTS = [*NUMBERS, *TEXTS]

SCHEMA = """\
schema: application
fields:
  application_id: {type: string, required: true, key: true}
  amount: {type: float, required: true}
  income: float
  age: {type: integer, required: true}
  device_age_days: integer
  channel: {type: category, values: [web, branch, phone], required: true}
  employment: {type: category, values: [employed, self_employed, retired, student]}
"""


def applications(rows: int, seed: int) -> pl.DataFrame:
    """Synthetic applications: ~10% of income, device age and employment missing."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.5, rows)
    device = rng.integers(0, 2000, rows).astype(float)
    employment = rng.choice(EMPLOYMENT, rows, p=[0.6, 0.2, 0.1, 0.1]).astype(object)
    for column in (income, device, employment):
        column[rng.random(rows) < 0.1] = None if column is employment else np.nan
    return pl.DataFrame(
        {
            "application_id": [f"A{seed}-{i:06d}" for i in range(rows)],
            "amount": np.round(rng.lognormal(11, 0.8, rows), 2),
            "income": pl.Series(income, dtype=pl.Float64).fill_nan(None),
            "age": rng.integers(18, 80, rows),
            "device_age_days": pl.Series(device).fill_nan(None).cast(pl.Int64),
            "channel": rng.choice(CHANNELS, rows).tolist(),
            "employment": pl.Series(employment.tolist(), dtype=pl.String),
        }
    )


def _fraud(frame: pl.DataFrame, seed: int, path: Path) -> lightgbm.Booster:
    x = frame.select("amount", "device_age_days", "age").cast(pl.Float64).to_numpy()
    rng = np.random.default_rng(seed + 1)
    y = ((np.nan_to_num(x[:, 1], nan=30) < 60) & (rng.random(len(x)) < 0.5)).astype(int)
    params = {"objective": "binary", "verbose": -1, "deterministic": True, "num_threads": 1}
    data = lightgbm.Dataset(x, y, feature_name=["amount", "device_age_days", "age"])
    booster = lightgbm.train(params, data, num_boost_round=15)
    booster.save_model(str(path))
    return booster


def _credit_frame(frame: pl.DataFrame, booster: lightgbm.Booster) -> pl.DataFrame:
    x = frame.select("amount", "device_age_days", "age").cast(pl.Float64).to_numpy()
    return frame.with_columns(
        pl.Series("fraud_score", booster.predict(x)), pl.col("age").cast(pl.Float64)
    ).select(CREDIT_INPUTS)


def _target(frame: pl.DataFrame, seed: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed + 2)
    ratio = (frame["amount"] / frame["income"].fill_null(20_000)).to_numpy()
    risk = (
        0.8 * np.log1p(ratio)
        - 0.02 * frame["age"].to_numpy()
        + 1.5 * frame["fraud_score"].to_numpy()
    )
    risk = risk + np.where(frame["employment"].fill_null("").to_numpy() == "student", 0.7, 0.0)
    return (risk + rng.normal(0, 0.5, frame.height) > 0.6).astype(int)


def credit_pipeline(c: float) -> Pipeline:
    """The bank's model: impute and scale the numbers, impute and one-hot the categories."""
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMBERS),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent", missing_values=None),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                TEXTS,
            ),
        ]
    )
    return make_pipeline(columns, LogisticRegression(C=c, max_iter=500))


def _boosted(kind: Kind, x: pl.DataFrame, y: np.ndarray[Any, Any], path: Path) -> None:
    if kind == "xgboost":
        import xgboost

        numbers = x.select(NUMBERS).to_numpy()
        data = xgboost.DMatrix(numbers, y, feature_names=NUMBERS, missing=np.nan)
        params = {"objective": "binary:logistic", "nthread": 1, "max_depth": 3}
        xgboost.train(params, data, num_boost_round=20).save_model(str(path))
        return
    import catboost

    rows = [
        [
            *(np.nan if v is None else v for v in row[:4]),
            *("nan" if v is None else v for v in row[4:]),
        ]
        for row in x.rows()
    ]
    model = catboost.CatBoostClassifier(
        iterations=30,
        depth=4,
        verbose=0,
        thread_count=1,
        random_seed=0,
        allow_writing_files=False,
    )
    model.fit(catboost.Pool(rows, y, cat_features=[4, 5], feature_names=CREDIT_INPUTS))
    model.save_model(str(path))


def build(folder: Path, seed: int = 11, rows: int = 2_000, kind: Kind = "sklearn") -> Path:
    """Write the pipeline, its schema, models and ``applications.jsonl``; the pipeline's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.yaml").write_text(SCHEMA)
    frame = applications(rows, seed)
    with (folder / "applications.jsonl").open("w") as f:
        for row in frame.to_dicts():
            f.write(json.dumps(row) + "\n")
    booster = _fraud(frame, seed, folder / "fraud.txt")
    x = _credit_frame(frame, booster)
    y = _target(x, seed)
    joblib.dump(credit_pipeline(1.0).fit(x, y), folder / "credit_lr_v2.joblib")
    inputs = "[income, amount, age, fraud_score, channel, employment]"
    if kind == "sklearn":
        joblib.dump(credit_pipeline(0.3).fit(x, y), folder / "credit.joblib")
        credit = f"artifact: credit.joblib\n    framework: sklearn\n    inputs: {inputs}"
    else:
        suffix = {"xgboost": "ubj", "catboost": "cbm"}[kind]
        _boosted(kind, x, y, folder / f"credit.{suffix}")
        shown = "[income, amount, age, fraud_score]" if kind == "xgboost" else inputs
        credit = f"artifact: credit.{suffix}\n    framework: {kind}\n    inputs: {shown}"
    pipeline = f"""\
pipeline: bank_credit
description: LightGBM fraud score cascaded into the bank's credit model
version: 1
input: schema.yaml
steps:
  - model: fraud
    artifact: fraud.txt
    framework: lightgbm
    inputs: [amount, device_age_days, age]
    outputs: {{fraud_score: score}}
  - model: credit
    {credit}
    outputs: {{pd: score}}
decision:
  - when: fraud_score > 0.8
    outcome: reject
    reason: fraud
  - when: pd > 0.5
    outcome: reject
    reason: credit_risk
  - otherwise: approve
shadow:
  - name: credit_lr_v2
    model: credit_v2
    artifact: credit_lr_v2.joblib
    framework: sklearn
    inputs: {inputs}
    outputs: {{pd: score}}
    replaces: credit
"""
    path = folder / "pipeline.yaml"
    path.write_text(pipeline)
    return path
