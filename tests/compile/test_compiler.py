from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kaskad import SpecError, compile_pipeline

SCHEMA = """\
schema: app
fields:
  id: {type: string, required: true, key: true}
  amount: float
  age: integer
  kind: {type: category, values: [cash_in, cash_out, transfer]}
  operation:
    type: object
    fields:
      amount_rub: float
"""

RULES = """\
ruleset: aml
description: test rules
rules:
  - id: cash_1m
    description: Cash operation of 1,000,000 RUB or more
    when: kind IN ('cash_in', 'cash_out') AND operation.amount_rbu >= 1000000
  - id: young
    description: Young applicant
    when: age < 'eighteen'
  - id: fine
    description: A correct rule
    when: amount > 0
"""

PIPELINE = """\
pipeline: test
input: schema.yaml
steps:
  - rules: rules.yaml
decision:
  - when: aml.any_hit
    outcome: review
  - otherwise: approve
"""


def project(tmp_path: Path, **files: str) -> Path:
    contents = {"schema.yaml": SCHEMA, "rules.yaml": RULES, "pipeline.yaml": PIPELINE}
    contents.update({k.replace("__", "."): v for k, v in files.items()})
    for name, text in contents.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path / "pipeline.yaml"


def problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        compile_pipeline(path)
    return [p.render() for p in info.value.problems]


def test_two_broken_rules_are_both_reported_with_location_caret_and_hint(tmp_path: Path) -> None:
    found = problems(project(tmp_path))
    assert len(found) == 2
    first, second = found
    assert "rules.yaml:6:47: K202 unknown field 'operation.amount_rbu'" in first
    assert "[ruleset aml, rule cash_1m]" in first
    assert "^" * len("operation.amount_rbu") in first
    assert "did you mean 'amount_rub'?" in first
    assert "rules.yaml:9:11: K203 cannot compare integer with string" in second
    assert "[ruleset aml, rule young]" in second
    caret_line = second.splitlines()[2]
    assert caret_line.index("^") == second.splitlines()[1].index("age")


def test_unknown_keys_and_missing_otherwise(tmp_path: Path) -> None:
    rules = RULES.replace("when: amount > 0", "wehn: amount > 0")
    rules = rules.replace("operation.amount_rbu", "operation.amount_rub").replace(
        "'eighteen'", "18"
    )
    pipeline = PIPELINE.replace("  - otherwise: approve\n", "")
    found = problems(project(tmp_path, rules__yaml=rules, pipeline__yaml=pipeline))
    text = "\n".join(found)
    assert "K105 unknown key 'wehn'" in text and "did you mean 'when'?" in text
    assert "K104 rule #3 needs 'when'" in text
    assert "K503 the decision needs a final 'otherwise' branch" in text


def test_yaml_syntax_error_has_a_location(tmp_path: Path) -> None:
    found = problems(project(tmp_path, rules__yaml="ruleset: aml\nrules: [\n  - id: x\n"))
    assert "rules.yaml:" in found[0] and "K103 invalid YAML" in found[0]


def test_feature_cycle_and_duplicate_outputs(tmp_path: Path) -> None:
    features = """\
    featureset: f
    features:
      - {name: a, expr: b + 1}
      - {name: b, expr: a + 1}
      - {name: amount, expr: "1"}
    """
    pipeline = PIPELINE.replace("  - rules: rules.yaml\n", "  - features: f.yaml\n").replace(
        "aml.any_hit", "a > 1"
    )
    text = "\n".join(problems(project(tmp_path, f__yaml=features, pipeline__yaml=pipeline)))
    assert "K501 circular dependency: a -> b -> a" in text
    assert "K502 'amount' is already an input field" in text


def test_missing_model_artifact_and_unknown_framework(tmp_path: Path) -> None:
    pipeline = PIPELINE.replace(
        "  - rules: rules.yaml\n",
        """\
  - model: m
    artifact: models/nowhere.txt
    framework: lightgbm
    inputs: [amount]
    outputs: {score_m: score}
  - model: n
    artifact: models/other.txt
    framework: lightgmb
    inputs: [amount]
    outputs: {score_n: score}
""",
    ).replace("aml.any_hit", "score_m > 0.5")
    text = "\n".join(problems(project(tmp_path, pipeline__yaml=pipeline)))
    assert (
        "K301 model artifact not found or unreadable: models/nowhere.txt" in text
        or "K301 model artifact not found or unreadable:" in text
    )
    assert "K303 unknown framework 'lightgmb'" in text and "did you mean 'lightgbm'" in text


def test_plan_hash_ignores_formatting_but_not_content(tmp_path: Path) -> None:
    fixed = RULES.replace("operation.amount_rbu", "operation.amount_rub").replace(
        "'eighteen'", "18"
    )
    first = compile_pipeline(project(tmp_path, rules__yaml=fixed)).hash
    reformatted = "# a comment\n" + fixed.replace(
        "description: test rules", "description:   'test rules'"
    )
    second = compile_pipeline(project(tmp_path, rules__yaml=reformatted)).hash
    changed = compile_pipeline(
        project(tmp_path, rules__yaml=fixed.replace(">= 1000000", ">= 600000"))
    ).hash
    assert first == second
    assert changed != first


def test_python_feature_import_error_names_the_line(tmp_path: Path) -> None:
    module = (
        "from kaskad import feature\n\n\n@feature\ndef f(amount):\n    return amount\n\n"
        "raise RuntimeError('broken on purpose')\n"
    )
    pipeline = PIPELINE.replace("  - rules: rules.yaml\n", "  - features: feats.py\n").replace(
        "aml.any_hit", "f > 1"
    )
    text = "\n".join(problems(project(tmp_path, feats__py=module, pipeline__yaml=pipeline)))
    assert "feats.py:8: K401 feature module failed to import: RuntimeError" in text


def test_python_feature_parameter_must_name_a_field(tmp_path: Path) -> None:
    module = "from kaskad import feature\n\n\n@feature\ndef f(amout):\n    return amout\n"
    pipeline = PIPELINE.replace("  - rules: rules.yaml\n", "  - features: feats.py\n").replace(
        "aml.any_hit", "f > 1"
    )
    text = "\n".join(problems(project(tmp_path, feats__py=module, pipeline__yaml=pipeline)))
    assert "K402 feature 'f': parameter 'amout' does not name a field" in text
    assert "did you mean 'amount'" in text
