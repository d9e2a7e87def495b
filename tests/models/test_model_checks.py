"""What validate checks of a model step: its columns' names and kinds, and a declared
tolerance for a model not known to be batch-size invariant (K305)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from kaskad import compile_pipeline
from kaskad.errors import SpecError
from kaskad.registry.golden import near_thresholds, same
from tests.models.lr_pipeline import build

CREDIT_INPUTS = (
    "inputs: [income, amount, age, fraud_score, channel, employment]\n"
    "    outputs: {pd: score}\ndecision"
)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("bank"), rows=600)


def _edit(bank: Path, tmp_path: Path, old: str, new: str) -> Path:
    text = bank.read_text()
    assert old in text
    path = bank.parent / f"edited-{tmp_path.name}.yaml"
    path.write_text(text.replace(old, new))
    return path


def _codes(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        compile_pipeline(path)
    return [p.code for p in info.value.problems]


def test_text_where_the_model_takes_numbers_and_the_reverse(bank: Path, tmp_path: Path) -> None:
    swapped = _edit(
        bank,
        tmp_path,
        CREDIT_INPUTS,
        "inputs: {income: income, amount: amount, age: age, fraud_score: fraud_score, "
        "channel: age, employment: channel}\n    outputs: {pd: score}\ndecision",
    )
    with pytest.raises(SpecError) as info:
        compile_pipeline(swapped)
    messages = [p.message for p in info.value.problems if p.code == "K302"]
    assert any("'channel' is integer" in m and "fitted on strings" in m for m in messages)


def test_names_are_checked(bank: Path, tmp_path: Path) -> None:
    path = _edit(
        bank,
        tmp_path,
        CREDIT_INPUTS,
        "inputs: [income, amount, age, fraud_score, channel]\n    outputs: {pd: score}\ndecision",
    )
    assert "K302" in _codes(path)


def test_a_model_not_known_to_be_exact_needs_a_tolerance(bank: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    model = make_pipeline(PCA(2), LogisticRegression()).fit(x, (x[:, 0] > 0).astype(int))
    joblib.dump(model, bank.parent / "pca.joblib")
    step = (
        "  - model: extra\n    artifact: pca.joblib\n    framework: sklearn\n"
        "    inputs: [amount, age, income]\n    outputs: {extra_score: score}\n"
    )
    path = _edit(bank, tmp_path, "decision:\n", step + "decision:\n")
    with pytest.raises(SpecError, match="K305 model 'extra' is not known") as info:
        compile_pipeline(path)
    assert "PCA is not known to be row-wise exact" in str(info.value)
    declared = _edit(
        bank,
        tmp_path,
        "decision:\n  - when: fraud_score > 0.8",
        step + "    tolerance: 1e-12\ndecision:\n  - when: extra_score > 0.5 OR fraud_score > 0.8",
    )
    plan = compile_pipeline(declared)
    assert plan.tolerances() == {"extra_score": 1e-12}
    cases = [{"input": {}, "output": {"extra_score": 0.5 + 1e-13}}]
    [note] = near_thresholds(plan, cases)
    assert "within the declared tolerance 1e-12 of the threshold 0.5" in note
    assert same(0.25, 0.25 + 1e-13, 1e-12) and not same(0.25, 0.25 + 1e-11, 1e-12)
    assert not same(0.25, 0.25 + 1e-16, None)  # no silent tolerance


def test_a_tolerance_must_be_a_number(bank: Path, tmp_path: Path) -> None:
    path = _edit(
        bank,
        tmp_path,
        "    outputs: {fraud_score: score}\n",
        "    outputs: {fraud_score: score}\n    tolerance: small\n",
    )
    assert _codes(path) == ["K104"]
