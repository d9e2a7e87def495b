from __future__ import annotations

import datetime as dt

import pytest

from kaskad.compile.expr import ast
from kaskad.compile.expr.parser import ExprSyntaxError, parse


def test_parses_aml_rule_with_positions() -> None:
    node = parse("operation.kind IN ('cash_in', 'cash_out') AND operation.amount_rub >= 1_000_000")
    assert isinstance(node, ast.Binary) and node.op == "AND"
    left, right = node.left, node.right
    assert isinstance(left, ast.InList)
    assert [i.value for i in left.items if isinstance(i, ast.Literal)] == ["cash_in", "cash_out"]
    assert isinstance(right, ast.Binary) and right.op == ">="
    assert isinstance(right.right, ast.Literal) and right.right.value == 1_000_000
    assert isinstance(right.left, ast.Path)
    assert right.left.span == ast.Span(1, 47, 20)


def test_aggregate_with_filter() -> None:
    node = parse("count(transactions WHERE day = operation.day) > 30")
    assert isinstance(node, ast.Binary)
    call = node.left
    assert isinstance(call, ast.Call) and call.name == "count"
    assert isinstance(call.where, ast.Binary)


def test_keywords_are_case_insensitive_and_names_may_start_with_keywords() -> None:
    node = parse("android and NOT order_id is null")
    assert isinstance(node, ast.Binary) and node.op == "AND"
    assert isinstance(node.left, ast.Path) and node.left.parts == ("android",)


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("DATE '2024-02-29'", dt.date(2024, 2, 29), "date"),
        ("TIMESTAMP '2024-01-01 10:00:00'", dt.datetime(2024, 1, 1, 10), "datetime"),
        ("-1.5e3", -1500.0, "float"),
        ("'it''s'", "it's", "string"),
        ("NULL", None, "null"),
        ("TRUE", True, "boolean"),
    ],
)
def test_literals(text: str, value: object, kind: str) -> None:
    node = parse(text)
    assert isinstance(node, ast.Literal)
    assert (node.value, node.kind) == (value, kind)


def test_case_forms() -> None:
    simple = parse("CASE channel WHEN 'web' THEN 1 ELSE 0 END")
    assert isinstance(simple, ast.Case) and simple.subject is not None
    searched = parse("CASE WHEN a > 1 THEN 'x' WHEN a > 0 THEN 'y' END")
    assert isinstance(searched, ast.Case) and len(searched.whens) == 2
    assert searched.default is None


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("amount >", 9, "ends too early"),
        ("amount +* 2", 9, "unexpected '*'"),
        ('name = "x"', 8, "unexpected character"),
        ("DATE '2024-13-01'", 1, "invalid date"),
    ],
)
def test_syntax_errors_point_at_the_character(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse(text)
    assert info.value.column == column
    assert fragment in info.value.message


def test_double_quotes_get_a_hint() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse('kind = "cash"')
    assert info.value.hint is not None and "single quotes" in info.value.hint
