"""The compiler reports each problem exactly once, shadows or not, and nothing that only
follows from a step that already failed."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from kaskad import SpecError, compile_pipeline
from kaskad.errors import Problem

SHADOWS = """\
  - name: antifraud_v2
    rules: rules/antifraud.yaml
    replaces: antifraud
  - name: screening
    pipeline: aml_screening.yaml
"""


@pytest.fixture
def credit(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the credit example, the working directory (files shown relative)."""
    monkeypatch.chdir(project)
    return project


def _problems(pipeline: Path) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        compile_pipeline(pipeline)
    return info.value.problems


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _with_shadows(credit: Path, extra: str = "") -> Path:
    """The credit pipeline with a model, a rule-set and a whole-pipeline shadow."""
    pipeline = credit / "pipeline.yaml"
    with pipeline.open("a", encoding="utf-8") as f:
        f.write(SHADOWS + extra)
    return pipeline


def _where(problems: list[Problem]) -> Counter[str]:
    return Counter(f"{p.location.prefix()} {p.code}" for p in problems)


def test_the_shadowed_pipeline_compiles(credit: Path) -> None:
    plan = compile_pipeline(_with_shadows(credit))
    assert [s.kind for s in plan.shadows] == ["model", "rules", "pipeline"]
    # one decision, compiled once, shared by the challengers that recompute steps
    assert plan.shadows[0].decision is plan.shadows[1].decision == plan.decision


def test_each_problem_exactly_once_with_shadows(credit: Path) -> None:
    pipeline = _with_shadows(credit)
    # the decision (read by the champion and by the model and rule-set shadows)
    _edit(pipeline, "when: payment_to_income > 0.5", "when: payment_to_incom > 0.5")
    # a rule the champion and the whole-pipeline shadow both read
    _edit(
        credit / "rules" / "aml_mandatory_control.yaml",
        "operation.amount_rub >= 1000000",
        "operation.amount_rbu >= 1000000",
    )
    # a feature the models (champion and challenger) read
    _edit(
        credit / "features" / "credit.yaml",
        "COALESCE(applicant.debt, 0) / applicant.income",
        "COALESCE(applicant.debt, 0) / applicant.incom",
    )
    found = _problems(pipeline)
    assert _where(found) == Counter(
        [
            "pipeline.yaml:44:11 K202",
            f"{Path('rules/aml_mandatory_control.yaml')}:8:57 K202",
            f"{Path('features/credit.yaml')}:7:41 K202",
        ]
    ), "\n".join(p.render() for p in found)


def test_a_rule_set_that_cannot_be_read_is_reported_once_and_nothing_follows(
    credit: Path,
) -> None:
    pipeline = _with_shadows(credit)
    _edit(credit / "rules" / "antifraud.yaml", "rules:\n", "rules: [\n")
    found = _problems(pipeline)
    assert [p.render() for p in found] == [
        "rules/antifraud.yaml:4:3: K103 invalid YAML: expected the node content, but found '-'\n"
        "      - id: new_device_large_amount\n"
        "      ^"
    ]


def test_a_rule_left_out_is_not_reported_again_where_it_is_read(credit: Path) -> None:
    pipeline = _with_shadows(credit)
    _edit(
        credit / "rules" / "antifraud.yaml",
        "when: applicant.age < 18 OR applicant.age > 100",
        "when: ''",
    )
    found = _problems(pipeline)
    assert [(p.code, p.message) for p in found] == [("K104", "'when' must be an expression")]


def test_a_feature_module_that_fails_to_import_is_reported_once(credit: Path) -> None:
    pipeline = _with_shadows(credit)
    with (credit / "features" / "credit.py").open("a", encoding="utf-8") as f:
        f.write("\nraise RuntimeError('broken on purpose')\n")
    found = _problems(pipeline)
    # payment_to_income, read by the decision, comes from that module
    assert [p.code for p in found] == ["K401"], "\n".join(p.render() for p in found)


def test_a_missing_model_is_reported_once_and_nothing_follows(credit: Path) -> None:
    models = credit / "models"
    shutil.copy(models / "fraud.txt", models / "fraud_v2.txt")
    (models / "fraud.txt").unlink()
    pipeline = _with_shadows(
        credit,
        """\
  - model: fraud_v2
    artifact: models/fraud_v2.txt
    framework: lightgbm
    inputs: [amount, applicant.device_age_days, debt_to_income, is_online]
    outputs: {fraud_score: score}
    replaces: fraud
""",
    )
    found = _problems(pipeline)
    assert [p.code for p in found] == ["K301"], "\n".join(p.render() for p in found)
    assert "models/fraud.txt" in found[0].message


def test_a_challenger_of_a_failed_step_still_reports_its_own_problems(credit: Path) -> None:
    (credit / "models" / "fraud.txt").unlink()
    pipeline = _with_shadows(
        credit,
        """\
  - model: fraud_v2
    artifact: models/fraud_v2.txt
    framework: lightgmb
    inputs: [amount, applicant.device_age_days, debt_to_income, is_online]
    outputs: {fraud_score: score}
    replaces: fraud
""",
    )
    found = _problems(pipeline)
    assert [p.code for p in found] == ["K301", "K303"]
    assert "did you mean 'lightgbm'?" in found[1].render()


def test_yaml_syntax_error_has_line_column_and_caret(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("pipeline: p\ninput: schema.yaml\nsteps:\n  - rules: a.yaml\n   - b\n")
    (found,) = _problems(path)
    assert found.render() == (
        f"{path}:5:4: K103 invalid YAML: expected <block end>, but found "
        "'<block sequence start>'\n"
        "       - b\n"
        "       ^\n"
        "    hint: while parsing a block collection that starts at line 4, column 3"
    )
