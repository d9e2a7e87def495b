"""``kaskad validate`` lint: warnings with codes, places and carets; --strict fails on them."""

from __future__ import annotations

import json
from pathlib import Path

from kaskad.compile.compiler import compile_with_spec
from kaskad.compile.lint import lint
from tests.cli.test_cli import kaskad

SCHEMA = """\
schema: payment
fields:
  id: {type: string, required: true, key: true}
  amount: {type: float, required: true}
  country: {type: string, required: true}
  income: float
  recent:
    type: list
    items:
      type: object
      fields:
        country: string
        amount: float
"""

RULES = """\
ruleset: checks
rules:
  - id: low_income
    description: Income under 1000
    when: income < 1000
    outcome: review
  - id: abroad
    description: Recent payments from another country
    when: count(recent WHERE country <> country) > 0
    outcome: review
  - id: always
    description: A rule with nothing to read
    when: 1 = 1
    outcome: review
  - id: big
    description: A big amount
    when: amount > 5000
    on_missing: pass
    outcome: review
"""

PIPELINE = """\
pipeline: payments
input: payment.yaml
steps:
  - rules: checks.yaml
decision:
  - when: checks.any_hit
    outcome: review
    reason: checks
  - otherwise: approve
"""


def _write(folder: Path, pipeline: str = PIPELINE) -> Path:
    (folder / "payment.yaml").write_text(SCHEMA)
    (folder / "checks.yaml").write_text(RULES)
    path = folder / "pipeline.yaml"
    path.write_text(pipeline)
    return path


def test_each_warning_has_its_code_and_place(tmp_path: Path) -> None:
    spec, plan = compile_with_spec(_write(tmp_path))
    found = {w.code: w for w in lint(spec, plan)}
    assert sorted(found) == ["K901", "K902", "K903", "K904"]
    unknown = found["K901"]
    assert "rule set 'checks' can be unknown" in unknown.message
    assert "income" in unknown.message and "default 'approve'" in unknown.message
    assert (unknown.location.line, unknown.location.column) == (5, 11)  # `income` in its when
    shadow = found["K902"]
    assert "'country' inside the aggregate over 'recent'" in shadow.message
    rendered = shadow.render().splitlines()
    assert rendered[1].strip() == "when: count(recent WHERE country <> country) > 0"
    assert rendered[2].index("^") == rendered[1].index("country")
    assert "rule 'always' reads no field" in found["K903"].message
    assert "rule 'big' declares on_missing: pass" in found["K904"].message


def test_reading_the_unknowns_silences_k801(tmp_path: Path) -> None:
    reads = PIPELINE.replace(
        "  - otherwise: approve",
        "  - when: checks.unknown_count > 0\n    outcome: manual_review\n"
        "    reason: missing_data\n  - otherwise: approve",
    )
    spec, plan = compile_with_spec(_write(tmp_path, reads))
    assert "K901" not in {w.code for w in lint(spec, plan)}


def test_validate_prints_warnings_and_strict_fails(tmp_path: Path) -> None:
    path = str(_write(tmp_path))
    plain = kaskad("validate", path)
    assert plain.returncode == 0, plain.stderr
    assert "4 warnings" in plain.stderr and "warning: " in plain.stderr
    assert "K902 'country' inside the aggregate" in plain.stderr
    strict = kaskad("validate", path, "--strict")
    assert strict.returncode == 1 and "treated as errors" in strict.stderr
    assert kaskad("validate", path, "--warnings-as-errors").returncode == 1
    as_json = kaskad("validate", path, "--json", "--strict")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["valid"] is False
    assert sorted(w["code"] for w in data["warnings"]) == ["K901", "K902", "K903", "K904"]


def test_the_examples_have_no_surprising_warnings() -> None:
    root = Path(__file__).resolve().parents[2]
    spec, plan = compile_with_spec(
        root / "tests" / "execute" / "golden" / "aml_unknowns" / "pipeline.yaml"
    )
    assert "K902" not in {w.code for w in lint(spec, plan)}
