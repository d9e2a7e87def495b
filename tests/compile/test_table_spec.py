"""Reading decision tables: YAML and CSV grids, and every mistake with its code and place."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaskad import compile_pipeline
from kaskad.compile.plan import TableNode
from kaskad.errors import SpecError

from .table_helpers import write_pipeline

GOOD = """\
table: t
hit_policy: first
inputs:
  - {id: age, expr: age}
  - {id: kind, expr: kind}
outputs:
  - {id: band, type: string, values: [young, old]}
  - {id: weight, type: float}
default: {band: old, weight: 1}
rules:
  - when: ["< 30", "'auto','home'"]
    then: ["'young'", 2]
    annotation: young drivers
    id: young_driver
  - when: ["-", "-"]
    then: ["'old'", 0.5]
"""


def problems(tmp_path: Path, table: str, csv: str | None = None) -> list[str]:
    with pytest.raises(SpecError) as err:
        compile_pipeline(write_pipeline(tmp_path, table, csv))
    return [p.render() for p in err.value.problems]


def test_yaml_table_compiles_to_a_typed_node(tmp_path: Path) -> None:
    plan = compile_pipeline(write_pipeline(tmp_path, GOOD))
    node = plan.nodes[0]
    assert isinstance(node, TableNode)
    assert node.hit_policy == "FIRST"  # written in any case
    assert [r.id for r in node.rules] == ["young_driver", "r2"]
    assert node.rules[0].annotation == "young drivers"
    assert node.rules[1].when is None  # every test is '-'
    assert node.default is not None and node.default[1].dtype.kind == "float"
    fields = dict(plan.output_fields())
    assert str(fields["t.band"]) == "string"
    assert str(fields["t.weight"]) == "float"
    assert str(fields["t.matched"]) == "list of string"
    assert str(fields["t.unknown"]) == "list of string"


def test_csv_rules_give_the_same_plan_as_the_yaml_grid(tmp_path: Path) -> None:
    yaml_plan = compile_pipeline(write_pipeline(tmp_path / "a", GOOD))
    head = GOOD.split("rules:")[0]
    csv = (
        "age,kind,band,weight,annotation,id\n"
        "< 30,\"'auto','home'\",'young',2,young drivers,young_driver\n"
        "-,-,'old',0.5,,\n"
    )
    csv_plan = compile_pipeline(write_pipeline(tmp_path / "b", head + "rules: t.csv\n", csv))
    assert csv_plan.nodes[0].rules == yaml_plan.nodes[0].rules  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "code", "line"),
    [
        (("hit_policy: first", "hit_policy: sometimes"), "K220", 2),
        (("then: [\"'old'\", 0.5]", "then: [\"'old'\"]"), "K221", 16),
        (("id: young_driver", "id: band"), "K222", 11),
        (('when: ["< 30"', 'when: ["[1.."'), "K223", 11),
        (("then: [\"'young'\", 2]", "then: [\"'middle'\", 2]"), "K224", 12),
        (("then: [\"'old'\", 0.5]", "then: [\"'old'\", \"'x'\"]"), "K225", 16),
        (('when: ["< 30"', "when: [\"< 'a'\""), "K203", 11),
        (("expr: kind}", "expr: kinds}"), "K202", 5),
    ],
)
def test_mistakes_have_codes_and_lines(
    tmp_path: Path, change: tuple[str, str], code: str, line: int
) -> None:
    assert change[0] in GOOD
    found = problems(tmp_path, GOOD.replace(change[0], change[1]))
    assert any(f"t.yaml:{line}:" in p and f" {code} " in p for p in found), found


def test_csv_mistakes_name_the_csv_line(tmp_path: Path) -> None:
    head = GOOD.split("rules:")[0] + "rules: t.csv\n"
    found = problems(tmp_path, head, "age,kind,band,weight\n< 30,-,'young',2\n-,'boat','old',1\n")
    assert any("t.csv:3:" in p and "K206" in p for p in found), found
    found = problems(tmp_path, head, "age,band,weight\n-,'old',1\n")
    assert any("t.csv:1:" in p and "K226" in p for p in found), found
    found = problems(tmp_path, head, "age,kind,band,weight\n-,-,'old'\n")
    assert any("t.csv:2:" in p and "K221" in p for p in found), found
    found = problems(tmp_path, head, "age,kind,band,weight,id\n-,-,'old',1,no way\n")
    assert any("t.csv:2:" in p and "K222" in p for p in found), found
    found = problems(tmp_path, head, "age,kind,band,weight\n,-,'old',1\n")
    assert any("t.csv:2:" in p and "K221" in p and "'-'" in p for p in found), found


def test_priority_needs_ranked_literal_outputs(tmp_path: Path) -> None:
    table = GOOD.replace("hit_policy: first", "hit_policy: PRIORITY").replace(
        ", values: [young, old]", ""
    )
    assert any("K224" in p and "values" in p for p in problems(tmp_path, table))


def test_aggregate_needs_numbers_and_default_needs_single_hit(tmp_path: Path) -> None:
    table = GOOD.replace("hit_policy: first", "hit_policy: COLLECT SUM")
    found = problems(tmp_path, table)
    assert any("K229" in p and "'band'" in p for p in found)
    assert any("K220" in p and "default" in p for p in found)


def test_a_later_step_reads_table_outputs(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, GOOD)
    path.write_text(
        path.read_text().replace(
            "decision:\n", "decision:\n  - when: t.band = 'young'\n    outcome: refer\n"
        )
    )
    plan = compile_pipeline(path)
    assert plan.decision[0].outcome == "refer"
