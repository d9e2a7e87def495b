"""A card pipeline with a step that raises on some records: the Python feature
``log_income`` refuses a missing income (as many a library does when given NaN), and a
LogisticRegression reads it."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

SCHEMA = """\
schema: card
fields:
  id: {type: string, required: true, key: true}
  amount: {type: float, required: true}
  income: float
"""

RULES = """\
ruleset: limits
rules:
  - id: large
    description: A large amount
    when: amount > 1000
    outcome: review
"""

FEATURES = """\
featureset: ratios
module: ratios.py
features:
  - name: share
    description: The amount in hundreds
    expr: amount / 100
"""

MODULE = '''\
import numpy as np

from kaskad import feature


@feature(returns="float", inputs={"income": "income"})
def log_income(income):
    """Log of the income; raises when an income is missing."""
    if np.isnan(income).any():
        raise ValueError("income is missing")
    return np.log1p(income)
'''


def build(folder: Path, *, step_fallback: bool = False, pipeline_fallback: bool = True) -> Path:
    """Write the pipeline into ``folder``; return its ``pipeline.yaml``."""
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "schemas" / "card.yaml").write_text(SCHEMA)
    (folder / "limits.yaml").write_text(RULES)
    (folder / "ratios.yaml").write_text(FEATURES)
    (folder / "ratios.py").write_text(MODULE)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    joblib.dump(LogisticRegression().fit(x, y), folder / "risk.joblib")
    own = "    on_error: {outcome: manual_review, reason: feature_error}\n"
    step = own if step_fallback else ""
    whole = "on_error: {outcome: refer, reason: step_failed}\n" if pipeline_fallback else ""
    text = (
        "pipeline: card\n"
        "input: schemas/card.yaml\n"
        "steps:\n"
        "  - features: ratios.yaml\n"
        f"{step}"
        "  - rules: limits.yaml\n"
        "  - model: risk\n"
        "    artifact: risk.joblib\n"
        "    framework: sklearn\n"
        "    inputs: [share, log_income]\n"
        "    outputs: {score: score}\n"
        "decision:\n"
        "  - when: limits.any_hit\n"
        "    outcome: review\n"
        "    reason: large\n"
        "  - when: score > 0.5\n"
        "    outcome: decline\n"
        "    reason: risk\n"
        "  - otherwise: approve\n"
        f"{whole}"
    )
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path
