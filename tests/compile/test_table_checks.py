"""``kaskad validate`` on decision tables: overlaps, gaps and rules that never match."""

from __future__ import annotations

from pathlib import Path

from kaskad.compile.compiler import compile_with_spec
from kaskad.compile.lint import lint
from kaskad.errors import Problem

from .table_helpers import write_pipeline


def warnings(tmp_path: Path, table: str) -> list[Problem]:
    spec, plan = compile_with_spec(write_pipeline(tmp_path, table))
    return [w for w in lint(spec, plan) if w.code.startswith("K23")]


def table(policy: str, rules: str, extra: str = "") -> str:
    return (
        f"table: t\nhit_policy: {policy}\n{extra}inputs:\n  - {{id: age, expr: age}}\n"
        "  - {id: kind, expr: kind}\noutputs:\n  - {id: out, type: string}\nrules:\n" + rules
    )


COMPLETE = """\
  - when: ["< 18", "-"]
    then: ["'minor'"]
  - when: ["[18..65)", "-"]
    then: ["'adult'"]
  - when: [">= 65", "'auto'"]
    then: ["'senior driver'"]
  - when: [">= 65", "not('auto')"]
    then: ["'senior'"]
"""


def test_a_complete_unique_table_has_no_warnings(tmp_path: Path) -> None:
    assert warnings(tmp_path, table("UNIQUE", COMPLETE)) == []


def test_overlap_in_unique_names_both_rules_and_a_witness(tmp_path: Path) -> None:
    rules = COMPLETE.replace('"[18..65)"', '"[18..65]"')
    found = warnings(tmp_path, table("UNIQUE", rules))
    assert [w.code for w in found] == ["K230", "K230"]
    assert "'r2' and 'r3'" in found[0].message and "age = 65" in found[0].message
    assert found[0].location.line == 13  # the later rule
    assert found[0].location.file is not None and found[0].location.file.endswith("t.yaml")


def test_overlap_is_fine_under_first_but_a_shadowed_rule_is_reported(tmp_path: Path) -> None:
    rules = COMPLETE + '  - when: ["> 70", "\'auto\'"]\n    then: ["\'old driver\'"]\n'
    found = warnings(tmp_path, table("FIRST", rules))
    assert [w.code for w in found] == ["K233"]
    assert "'r5' can never be chosen" in found[0].message


def test_any_overlap_matters_only_when_outputs_differ(tmp_path: Path) -> None:
    same = COMPLETE + '  - when: ["< 10", "-"]\n    then: ["\'minor\'"]\n'
    assert warnings(tmp_path / "a", table("ANY", same)) == []
    other = COMPLETE + '  - when: ["< 10", "-"]\n    then: ["\'child\'"]\n'
    assert [w.code for w in warnings(tmp_path / "b", table("ANY", other))] == ["K231"]


def test_gaps_are_reported_with_the_uncovered_cells(tmp_path: Path) -> None:
    rules = COMPLETE.replace("not('auto')", "'home'")
    found = warnings(tmp_path, table("UNIQUE", rules))
    assert {w.code for w in found} == {"K232"}
    assert "age = 65, kind 'travel'" in found[0].message
    # integers: no gap between '<= 17' and '>= 18'
    ints = COMPLETE.replace('"< 18"', '"<= 17"')
    assert warnings(tmp_path / "b", table("UNIQUE", ints)) == []


def test_a_default_or_a_collect_policy_means_no_gap(tmp_path: Path) -> None:
    rules = COMPLETE.replace("not('auto')", "'home'")
    assert warnings(tmp_path / "a", table("COLLECT", rules)) == []
    text = table("UNIQUE", rules).replace("rules:", "default: {out: other}\nrules:")
    assert warnings(tmp_path / "b", text) == []


def test_empty_interval_and_a_rule_that_never_matches(tmp_path: Path) -> None:
    rules = COMPLETE + '  - when: ["[40..30]", "-"]\n    then: ["\'never\'"]\n'
    found = warnings(tmp_path, table("FIRST", rules))
    assert [w.code for w in found] == ["K233", "K233"]
    assert "empty interval '[40..30]'" in found[0].message
    assert found[0].location.line == 17 and found[0].location.column is not None


def test_expressions_with_question_mark_are_left_out(tmp_path: Path) -> None:
    rules = COMPLETE.replace('"< 18"', '"? < 18"')
    # r1 cannot be analysed: no gap is claimed, nothing else changes
    assert warnings(tmp_path, table("UNIQUE", rules)) == []


def test_an_input_reading_a_ranked_table_output_takes_its_values(tmp_path: Path) -> None:
    """A table that reads another table's text output with ``values`` (all its cells
    literals) sees those values, not "any other value": no false gap."""
    write_pipeline(tmp_path, table("FIRST", COMPLETE))
    band = (
        "table: band\nhit_policy: UNIQUE\ninputs:\n  - {id: group, expr: t.out}\n"
        "outputs:\n  - {id: b, type: string}\nrules:\n"
        "  - when: [\"'minor', 'adult'\"]\n    then: [\"'young'\"]\n"
        "  - when: [\"'senior driver', 'senior'\"]\n    then: [\"'old'\"]\n"
    )
    (tmp_path / "tables" / "band.yaml").write_text(band, encoding="utf-8")
    pipeline = tmp_path / "pipeline.yaml"
    text = pipeline.read_text(encoding="utf-8")
    text = text.replace(
        "  - table: tables/t.yaml\n", "  - table: tables/t.yaml\n  - table: tables/band.yaml\n"
    )
    ranked = "  - {id: out, type: string, values: [minor, adult, senior driver, senior]}"
    t_yaml = tmp_path / "tables" / "t.yaml"
    t_yaml.write_text(t_yaml.read_text().replace("  - {id: out, type: string}", ranked))
    pipeline.write_text(text, encoding="utf-8")
    spec, plan = compile_with_spec(pipeline)
    assert [w for w in lint(spec, plan) if w.code.startswith("K23")] == []
    # without the values, "any other value" of t.out is a gap of band
    t_yaml.write_text(t_yaml.read_text().replace(ranked, "  - {id: out, type: string}"))
    spec, plan = compile_with_spec(pipeline)
    found = [w for w in lint(spec, plan) if w.code.startswith("K23")]
    assert [w.code for w in found] == ["K232"] and "any other value" in found[0].message
