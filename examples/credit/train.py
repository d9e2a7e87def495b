"""Train the credit example's models from the synthetic training table.

- ``fraud.txt``: LightGBM binary model on amount, device_age_days, debt_to_income,
  is_online.
- ``credit_pd.joblib``: scikit-learn GradientBoostingClassifier behind an imputer, on income,
  term_months, num_overdue, fraud_score, debt_to_income (fitted on a data frame,
  so the artifact stores these names).
- ``credit_pd_v2.onnx``: the challenger, the same five inputs; a scikit-learn
  pipeline (constant imputation + GradientBoostingClassifier) exported with skl2onnx.

Every model is tree-based and accepts NaN for a missing input. Import this module
with its directory on ``sys.path`` (running ``build.py`` does that).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import numpy.typing as npt
import polars as pl
from generate import generate_applications, training_table
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

FRAUD_INPUTS = ("amount", "device_age_days", "debt_to_income", "is_online")
CREDIT_INPUTS = ("income", "term_months", "num_overdue", "fraud_score", "debt_to_income")
DEFAULT_ROWS = 20_000
HOLDOUT_SHARE = 0.2
# Every credit input is >= 0, so -1 marks "missing" for the challenger's trees.
MISSING_FILL = -1.0

FloatArray = npt.NDArray[np.float64]


def matrix(table: pl.DataFrame, columns: tuple[str, ...]) -> FloatArray:
    """Columns as an (n, k) float64 array, nulls as NaN."""
    return np.column_stack(
        [table[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in columns]
    )


def add_fraud_score(table: pl.DataFrame, fraud_model: Path) -> pl.DataFrame:
    """The table with a ``fraud_score`` column from the fraud model."""
    booster = lightgbm.Booster(model_file=str(fraud_model))
    scores = np.asarray(booster.predict(matrix(table, FRAUD_INPUTS)), dtype=np.float64)
    return table.with_columns(pl.Series("fraud_score", scores))


def train_models(
    out_dir: Path,
    seed: int,
    *,
    table: pl.DataFrame | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Train the three models into ``out_dir``; returns their paths by name.

    Without ``table`` the training table is generated from ``DEFAULT_ROWS``
    applications with ``seed``. Holdout AUCs are reported through ``log``.
    """
    if table is None:
        table = training_table(generate_applications(DEFAULT_ROWS, seed), seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "fraud": out_dir / "fraud.txt",
        "credit_pd": out_dir / "credit_pd.joblib",
        "credit_pd_v2": out_dir / "credit_pd_v2.onnx",
    }
    train = np.random.default_rng([seed, 2]).random(table.height) >= HOLDOUT_SHARE
    test = ~train

    x_fraud = matrix(table, FRAUD_INPUTS)
    y_fraud = table["is_fraud"].to_numpy()
    fraud = _train_fraud(x_fraud[train], y_fraud[train], seed)
    fraud.save_model(str(paths["fraud"]))
    table = add_fraud_score(table, paths["fraud"])

    x_credit = matrix(table, CREDIT_INPUTS)
    y_credit = table["defaulted"].to_numpy()
    credit_pd = _credit_model(seed, n_estimators=150, max_depth=3, learning_rate=0.05)
    credit_pd.fit(pl.DataFrame(x_credit[train], schema=list(CREDIT_INPUTS)), y_credit[train])
    joblib.dump(credit_pd, paths["credit_pd"])

    challenger = _challenger(seed).fit(x_credit[train], y_credit[train])
    onx = to_onnx(
        challenger,
        initial_types=[("features", FloatTensorType([None, len(CREDIT_INPUTS)]))],
        options={"zipmap": False},
    )
    onx.doc_string = "credit PD challenger; inputs: " + ", ".join(CREDIT_INPUTS)
    # skl2onnx lists operator sets in hash order, which varies between processes;
    # sorting them keeps the file byte-identical for the same seed.
    opsets = sorted(onx.opset_import, key=lambda o: o.domain)
    del onx.opset_import[:]
    onx.opset_import.extend(opsets)
    paths["credit_pd_v2"].write_bytes(onx.SerializeToString())

    named_test = pl.DataFrame(x_credit[test], schema=list(CREDIT_INPUTS))
    aucs = {
        "fraud": _auc(y_fraud[test], table["fraud_score"].to_numpy()[test]),
        "credit_pd": _auc(y_credit[test], credit_pd.predict_proba(named_test)[:, 1]),
        "credit_pd_v2": _auc(y_credit[test], challenger.predict_proba(x_credit[test])[:, 1]),
    }
    log(
        f"holdout AUC ({int(test.sum())} rows): "
        + ", ".join(f"{name} {auc:.3f}" for name, auc in aucs.items())
    )
    return paths


def _train_fraud(x: FloatArray, y: npt.NDArray[Any], seed: int) -> lightgbm.Booster:
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 40,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 1,
        "seed": seed,
        "verbose": -1,
    }
    data = lightgbm.Dataset(x, y, feature_name=list(FRAUD_INPUTS), free_raw_data=False)
    return lightgbm.train(params, data, num_boost_round=200)


def _credit_model(seed: int, **gbm: Any) -> Pipeline:
    """Gradient boosting behind a constant imputer (every credit input is >= 0, so -1 marks
    a missing value). Scikit-learn's GradientBoostingClassifier scores a single row in one
    call over all trees, which keeps per-decision latency low."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_FILL)),
            ("gbm", GradientBoostingClassifier(random_state=seed, **gbm)),
        ]
    )


def _challenger(seed: int) -> Pipeline:
    return _credit_model(seed, n_estimators=150, max_depth=3, learning_rate=0.1, subsample=0.8)


def _auc(y: npt.NDArray[Any], score: FloatArray) -> float:
    return float(roc_auc_score(y, score))
