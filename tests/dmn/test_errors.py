"""What ``import-dmn`` refuses: each problem with its stable code (K240-K247), the element
(kind and id) it is about, and its line in the DMN file; every problem of a file at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaskad.dmn import DmnImportError, read_dmn
from kaskad.errors import Problem

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" '
    'xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" '
    'xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/" '
    'xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="Definitions_1" name="DRD" '
    'namespace="http://camunda.org/schema/1.0/dmn" exporter="Camunda Modeler" '
    'exporterVersion="5.16.0">\n'
)
TAIL = "</definitions>\n"


def table(
    body: str,
    *,
    decision: str = "d1",
    attrs: str = "",
    inputs: str = '<input id="i1"><inputExpression id="e1" typeRef="number"><text>x</text>'
    "</inputExpression></input>",
    outputs: str = '<output id="o1" name="out" typeRef="string" />',
) -> str:
    return (
        f'  <decision id="{decision}" name="{decision}">\n'
        f'    <decisionTable id="t_{decision}"{attrs}>\n'
        f"      {inputs}\n"
        f"      {outputs}\n"
        f"{body}"
        "    </decisionTable>\n"
        "  </decision>\n"
    )


def rule(rule_id: str, *entries: str, outputs: tuple[str, ...] = ('"a"',)) -> str:
    cells = "".join(
        f'<inputEntry id="{rule_id}_in{n}"><text>{e}</text></inputEntry>'
        for n, e in enumerate(entries)
    )
    results = "".join(
        f'<outputEntry id="{rule_id}_out{n}"><text>{o}</text></outputEntry>'
        for n, o in enumerate(outputs)
    )
    return f'      <rule id="{rule_id}">{cells}{results}</rule>\n'


def problems_of(tmp_path: Path, text: str, name: str = "model.dmn") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DmnImportError) as caught:
        read_dmn(path, name)
    return caught.value.problems


def line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


# ---- the file --------------------------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DmnImportError) as caught:
        read_dmn(tmp_path / "absent.dmn")
    found = only(caught.value.problems)
    assert found.code == "K240" and "cannot read the file" in found.message


def test_malformed_xml_names_line_and_column(tmp_path: Path) -> None:
    text = HEAD + '  <decision id="d1">\n    <decisionTable id="t">\n  </decision>\n' + TAIL
    found = only(problems_of(tmp_path, text))
    assert found.code == "K241"
    assert "not well-formed XML: mismatched tag" in found.message
    assert (found.location.line, found.location.column) == (5, 5)
    assert found.render().startswith("model.dmn:5:5: K241")


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        pytest.param(
            '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
            ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
            ' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n'
            "]>\n<definitions>&lol3;</definitions>\n",
            "declares a DTD (<!DOCTYPE lolz …>)",
            id="billion-laughs",
        ),
        pytest.param(
            '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            "<definitions>&x;</definitions>\n",
            "declares a DTD (<!DOCTYPE d …>)",
            id="external-entity",
        ),
        pytest.param(
            '<?xml version="1.0"?>\n<!DOCTYPE definitions SYSTEM "http://example.invalid/dmn.dtd">'
            "\n<definitions/>\n",
            "declares a DTD (<!DOCTYPE definitions …>)",
            id="external-dtd",
        ),
    ],
)
def test_xml_bombs_and_external_references_are_refused(
    tmp_path: Path, text: str, refused: str
) -> None:
    found = only(problems_of(tmp_path, text))
    assert found.code == "K242"
    assert found.message.startswith(f"refused: the file {refused}")
    assert "a DMN file needs no DTD, entities or external references" in found.message
    assert found.location.line == 2


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            '<?xml version="1.0"?>\n<bpmn:definitions '
            'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>\n',
            "{http://www.omg.org/spec/BPMN/20100524/MODEL}definitions",
        ),
        (
            '<?xml version="1.0"?>\n<definitions '
            'xmlns="https://www.omg.org/spec/DMN/20991231/MODEL/"/>\n',
            "{https://www.omg.org/spec/DMN/20991231/MODEL/}definitions",
        ),
        ('<?xml version="1.0"?>\n<definitions/>\n', "the root element is definitions;"),
    ],
)
def test_a_file_that_is_not_dmn(tmp_path: Path, text: str, found: str) -> None:
    problem = only(problems_of(tmp_path, text))
    assert problem.code == "K240"
    assert found in problem.message
    assert "expected <definitions> in a DMN 1.1-1.5 namespace" in problem.message
    assert problem.location.line == 2


# ---- decisions that are not tables -----------------------------------------------------


def test_decisions_other_than_tables_are_refused_all_at_once(tmp_path: Path) -> None:
    text = (
        HEAD + '  <decision id="fee" name="Fee">\n'
        '    <literalExpression id="le1"><text>amount * 0.01</text></literalExpression>\n'
        "  </decision>\n"
        '  <decision id="ctx" name="Context">\n'
        '    <context id="c1"><contextEntry><variable name="a"/></contextEntry></context>\n'
        "  </decision>\n"
        '  <decision id="empty" name="Empty" />\n'
        '  <businessKnowledgeModel id="bkm1" name="Scoring" />\n'
        + table(rule("r1", "&lt; 5"))
        + TAIL
    )
    problems = problems_of(tmp_path, text)
    assert [(p.code, p.location.line) for p in problems] == [  # in file order
        ("K243", line_of(text, "literalExpression")),
        ("K243", line_of(text, "<context")),
        ("K243", line_of(text, 'id="empty"')),
        ("K243", line_of(text, "businessKnowledgeModel")),
    ]
    messages = {p.location.line: p.message for p in problems}
    assert messages[line_of(text, "literalExpression")] == (
        "decision 'fee' is a literalExpression: only decision tables are imported"
    )
    assert "decision 'ctx' is a context" in messages[line_of(text, "<context")]
    assert messages[line_of(text, 'id="empty"')] == "decision 'empty' has no decision logic"
    assert (
        "businessKnowledgeModel 'bkm1' is not imported"
        in messages[line_of(text, "businessKnowledgeModel")]
    )


# ---- FEEL --------------------------------------------------------------------------------


def test_unsupported_feel_names_the_entry_its_rule_and_line(tmp_path: Path) -> None:
    text = HEAD + table(rule("r1", "&lt; 5") + rule("r2", "count(items) &gt; 2")) + TAIL
    found = only(problems_of(tmp_path, text))
    assert found.code == "K244"
    assert found.location.line == line_of(text, 'rule id="r2"')
    assert found.message == (
        "inputEntry 'r2_in0' of rule 'r2': FEEL function 'count' is not supported: only names, "
        'literals, arithmetic, comparisons, and/or, not(…) and date("…") are imported '
        "(at character 1 of `count(items) > 2`)"
    )


def test_every_feel_problem_of_a_table_is_reported(tmp_path: Path) -> None:
    inputs = (
        '<input id="i1"><inputExpression id="e1"><text>{a: 1}.a</text></inputExpression></input>'
    )
    body = rule("r1", "-", outputs=("if x then 1 else 2",)) + rule("r2", "-", outputs=('"ok"',))
    outputs = (
        '<output id="o1" name="out" typeRef="string">'
        "<defaultOutputEntry><text>upper(x)</text></defaultOutputEntry></output>"
    )
    text = HEAD + table(body, inputs=inputs, outputs=outputs) + TAIL
    messages = sorted(p.message for p in problems_of(tmp_path, text))
    assert [m.split(":")[0] for m in messages] == [
        "defaultOutputEntry of output 'o1' must be a literal value, got `upper(x)`",
        "inputExpression of input 'i1'",
        "outputEntry 'r1_out0' of rule 'r1'",
    ]
    assert "FEEL contexts ({…}) are not supported" in messages[1]
    assert "FEEL if-then-else expressions are not supported" in messages[2]


def test_other_expression_languages_are_refused(tmp_path: Path) -> None:
    text = HEAD + table(rule("r1", "-"), attrs=' expressionLanguage="juel"') + TAIL
    found = only(problems_of(tmp_path, text))
    assert found.code == "K244"
    assert found.message == "decisionTable 't_d1' is written in juel: only FEEL is imported"


# ---- hit policies and types --------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "outputs", "entries", "message"),
    [
        (' hitPolicy="SOMETIMES"', None, ('"a"',), "unknown hitPolicy 'SOMETIMES'"),
        (
            ' hitPolicy="FIRST" aggregation="SUM"',
            '<output id="o1" name="out" typeRef="number" />',
            ("1",),
            "aggregation 'SUM' with hitPolicy 'FIRST'",
        ),
        (
            ' hitPolicy="COLLECT" aggregation="SUM"',
            '<output id="o1" name="a" typeRef="number" /><output id="o2" name="b" '
            'typeRef="number" />',
            ("1", "2"),
            "COLLECT SUM over 2 outputs; DMN defines aggregation for single-output tables only",
        ),
        (
            ' hitPolicy="COLLECT" aggregation="MAX"',
            None,
            ('"a"',),
            "COLLECT MAX needs a number output; this one is string",
        ),
        (
            ' hitPolicy="PRIORITY"',
            None,
            ('"a"',),
            "hitPolicy PRIORITY takes its order from the outputs' outputValues, and no output "
            "has any",
        ),
    ],
)
def test_hit_policies_that_cannot_be_kept_are_refused(
    tmp_path: Path,
    attrs: str,
    outputs: str | None,
    entries: tuple[str, ...],
    message: str,
) -> None:
    kwargs = {"outputs": outputs} if outputs else {}
    text = HEAD + table(rule("r1", "-", outputs=entries), attrs=attrs, **kwargs) + TAIL
    found = only(problems_of(tmp_path, text))
    assert found.code == "K245"
    assert message in found.message


@pytest.mark.parametrize(
    ("output", "entry", "message"),
    [
        (
            '<output id="o1" name="due" typeRef="date" />',
            'date("2024-01-01")',
            "output 'o1': typeRef 'date' is not supported; table outputs are string, number "
            "(float), integer or boolean",
        ),
        (
            '<output id="o1" name="due" typeRef="tPerson" />',
            '"a"',
            "output 'o1': typeRef 'tPerson' is a structure",
        ),
        (
            '<output id="o1" name="mixed" />',
            "x + 1",
            "output 'o1' has no typeRef and its entries are not literals of one type",
        ),
    ],
)
def test_output_types_kaskad_has_not_are_refused(
    tmp_path: Path, output: str, entry: str, message: str
) -> None:
    item = (
        '  <itemDefinition id="tPerson" name="tPerson">'
        '<itemComponent id="c1" name="age"><typeRef>number</typeRef></itemComponent>'
        "</itemDefinition>\n"
    )
    text = HEAD + item + table(rule("r1", "-", outputs=(entry,)), outputs=output) + TAIL
    found = only(problems_of(tmp_path, text))
    assert found.code == "K246"
    assert message in found.message
    assert found.location.line == line_of(text, 'output id="o1"')


def test_an_untyped_output_takes_the_type_of_its_entries(tmp_path: Path) -> None:
    text = (
        HEAD
        + table(
            rule("r1", "&lt; 1", outputs=("1",)) + rule("r2", "&gt;= 1", outputs=("2.5",)),
            outputs='<output id="o1" name="rate" />',
        )
        + TAIL
    )
    path = tmp_path / "m.dmn"
    path.write_text(text, encoding="utf-8")
    assert read_dmn(path).tables[0].outputs[0].type == "float"


# ---- structure -----------------------------------------------------------------------------


def test_structure_problems(tmp_path: Path) -> None:
    text = (
        HEAD
        + table(rule("r1", "-", "-"), decision="Scoring")
        + table(rule("r1", "-"), decision="scoring")
        + '  <decision id="needs" name="needs">\n'
        '    <informationRequirement><requiredDecision href="#elsewhere"/>'
        "</informationRequirement>\n"
        '    <decisionTable id="t_needs">\n'
        '      <input id="bare" label="nothing" />\n'
        "    </decisionTable>\n"
        "  </decision>\n" + TAIL
    )
    problems = problems_of(tmp_path, text)
    assert {p.code for p in problems} == {"K247"}
    messages = {p.location.line: p.message for p in problems}
    assert messages[
        line_of(text, 'rule id="r1"><inputEntry id="r1_in0"><text>-</text></inputEntry><inputEntry')
    ] == ("rule 'r1' has 2 inputEntry and 1 outputEntry; the table has 1 inputs and 1 outputs")
    assert messages[line_of(text, 'decision id="scoring"')] == (
        "decision 'scoring' and decision 'Scoring' (line 3) would both be written as table "
        "'scoring'"
    )
    assert messages[line_of(text, 'decision id="needs"')] == (
        "decision 'needs' requires decision 'elsewhere', which is not in this file"
    )
    assert messages[line_of(text, 'input id="bare"')] == (
        "input 'bare' has no inputExpression text"
    )
    assert messages[line_of(text, 'decisionTable id="t_needs"')] == (
        "decisionTable 't_needs' has no <output>"
    )


def test_every_code_the_importer_gives_is_documented() -> None:
    import re

    root = Path(__file__).resolve().parents[2]
    used = set()
    for source in (root / "src" / "kaskad" / "dmn").glob("*.py"):
        used |= set(re.findall(r'"(K24\d)"', source.read_text(encoding="utf-8")))
    page = (root / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| (K24\d) \|", page, flags=re.M))
    assert used == documented - {"K249"} == {f"K24{n}" for n in range(9)}


def test_an_input_without_expression_does_not_shift_the_columns(tmp_path: Path) -> None:
    inputs = (
        '<input id="i1"><inputExpression id="e1"><text>x</text></inputExpression></input>'
        '<input id="i2" label="empty"><inputExpression id="e2"><text> </text></inputExpression>'
        "</input>"
    )
    text = HEAD + table(rule("r1", "&lt; 1", "-") + rule("r2", "-", "-"), inputs=inputs) + TAIL
    found = only(problems_of(tmp_path, text))
    assert (found.code, found.message) == ("K247", "input 'i2' has no inputExpression text")


def test_decisions_that_require_each_other_are_refused(tmp_path: Path) -> None:
    requires = '<informationRequirement><requiredDecision href="#{}"/></informationRequirement>'
    first = table(rule("r1", "-"), decision="a").replace(
        "<decisionTable", requires.format("b") + "<decisionTable", 1
    )
    second = table(rule("r1", "-"), decision="b").replace(
        "<decisionTable", requires.format("a") + "<decisionTable", 1
    )
    text = HEAD + first + second + TAIL
    found = only(problems_of(tmp_path, text))
    assert found.code == "K247"
    assert found.message == "decision 'a' requires itself through other decisions"


def test_an_input_named_like_an_output_is_renamed(tmp_path: Path) -> None:
    inputs = '<input id="i1"><inputExpression id="e1"><text>score</text></inputExpression></input>'
    outputs = '<output id="o1" name="score" typeRef="number" />'
    text = HEAD + table(rule("r1", "-", outputs=("1",)), inputs=inputs, outputs=outputs) + TAIL
    path = tmp_path / "m.dmn"
    path.write_text(text, encoding="utf-8")
    found = read_dmn(path).tables[0]
    assert ([i.id for i in found.inputs], [o.id for o in found.outputs]) == (
        ["score_in"],
        ["score"],
    )
    assert found.inputs[0].expr == "score"
