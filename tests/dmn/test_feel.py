"""The FEEL subset decision tables use, translated to kaskad's language; what is beyond it
is refused naming the construct and where it starts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaskad.compile.expr import ast
from kaskad.compile.expr.parser import ExprSyntaxError, parse
from kaskad.dmn.feel import FeelError, expression, literal_values, unary_tests
from tests.dmn.table_check import check_unary


@pytest.mark.parametrize(
    ("feel", "kaskad"),
    [
        ("", "-"),
        ("-", "-"),
        ('"gold"', "'gold'"),
        ('"gold","platinum"', "'gold', 'platinum'"),
        ("12, 1, 2", "12, 1, 2"),
        ("< 21", "< 21"),
        ("<=-1.5", "<= -1.5"),
        ("= 5", "= 5"),
        ("!= 5", "null, not(5)"),
        ('!= "glass"', "null, not('glass')"),
        ("[21..65]", "[21..65]"),
        ("(1..2)", "(1..2)"),
        ("]1..2[", "]1..2["),
        ("[1000..3000[", "[1000..3000["),
        ('not("x", "y")', "null, not('x', 'y')"),
        ('not("x", null)', "not('x', null)"),
        ('"x", != "y"', "null, 'x', not('y')"),
        ("not(< 5, [10..20])", "not(< 5, [10..20])"),
        ("null", "null"),
        ("= null", "null"),
        ("!= null", "not(null)"),
        ("true", "true"),
        ("false", "false"),
        ('date("2024-01-01")', "DATE '2024-01-01'"),
        ('>= date("2024-01-01")', ">= DATE '2024-01-01'"),
        ('[date("2024-06-01")..@"2024-06-30"]', "[DATE '2024-06-01'..DATE '2024-06-30']"),
        ('< date and time("2024-01-01T10:30:00")', "< TIMESTAMP '2024-01-01 10:30:00'"),
        # values of other fields: written over ``?``
        ("< income", "? < income"),
        ("[low..high)", "(? >= low AND ? < high)"),
        ('"a", other', "? = 'a' OR ? = other"),
        ("not(limit)", "NOT (? = limit)"),
        ("> applicant.pension * 2", "? > applicant.pension * 2"),
        # DMN 1.3 unary tests over ``?``, Camunda's cellInput
        ("? > income * 0.5", "? > income * 0.5"),
        ("? > 1 and ? < 5", "? > 1 AND ? < 5"),
        ("cellInput >= 1", "? >= 1"),
    ],
)
def test_unary_tests(feel: str, kaskad: str) -> None:
    assert unary_tests(feel) == kaskad
    check_unary(kaskad)


def test_a_camunda_input_variable_stands_for_the_input() -> None:
    assert unary_tests('season != "Winter"', input_names=frozenset({"season"})) == (
        "(? IS NULL OR ? != 'Winter')"
    )


@pytest.mark.parametrize(
    ("feel", "kaskad"),
    [
        ("applicant.age", "applicant.age"),
        ("customer.income * 12", "customer.income * 12"),
        (
            "policy.active and claim.amount > policy.deductible",
            "policy.active AND claim.amount > policy.deductible",
        ),
        ("a or b and c", "a OR b AND c"),
        ("x = null", "x IS NULL"),
        ("null != x", "x IS NOT NULL"),
        ('kind != "glass"', "(kind IS NULL OR kind != 'glass')"),
        ("not(a) and b", "(NOT (a)) AND b"),
        ("score between 1 and 2", "score BETWEEN 1 AND 2"),
        ('name + " " + surname', "name || ' ' || surname"),
        ("-(a - b) / 2", "-(a - b) / 2"),
        ('"it\'s \\"quoted\\""', "'it''s \"quoted\"'"),
        ('"\\u00e9t\\u00e9"', "'été'"),
        ("true", "TRUE"),
    ],
)
def test_expressions(feel: str, kaskad: str) -> None:
    assert expression(feel).text == kaskad
    parse(kaskad)


@pytest.mark.parametrize(
    ("feel", "message", "column"),
    [
        ("count(items)", "FEEL function 'count' is not supported", 1),
        ("sum(x) > 1", "FEEL function 'sum' is not supported", 1),
        ("{a: 1}.a", "FEEL contexts ({…}) are not supported", 1),
        ("[1, 2, 3]", "FEEL lists ([…]) are not supported here", 1),
        ("if a then 1 else 2", "FEEL if-then-else expressions are not supported", 1),
        ("for x in xs return x", "FEEL for loops are not supported", 1),
        ("some x in xs satisfies x > 1", "FEEL quantified expressions", 1),
        ("x instance of number", "'instance of' tests are not supported", 3),
        ("a ** 2", "exponentiation (**) is not supported", 3),
        ("x in (1, 2)", "FEEL 'in' tests are not supported", 3),
        ("Applicant Age", "FEEL names with spaces ('Applicant Age') are not supported", 1),
        ("'single'", 'unexpected character "\'" (strings use double quotes in FEEL)', 1),
        ('time("10:00:00")', "FEEL function 'time' is not supported", 1),
        ('date("2024-13")', '"2024-13" is neither a date (YYYY-MM-DD)', 6),
        ('date and time("2024-01-01T10:00:00+03:00")', "without a zone", 15),
        ("a +", "the text ends too early", 4),
    ],
)
def test_what_is_beyond_the_subset_is_refused(feel: str, message: str, column: int) -> None:
    with pytest.raises(FeelError) as caught:
        expression(feel)
    assert message in caught.value.message
    assert caught.value.column == column


@pytest.mark.parametrize(
    ("feel", "message"),
    [
        ("count(x) > 1", "FEEL function 'count' is not supported"),
        ('"a" "b"', "unexpected '\"b\"'"),
        ("[1..2", "expected ']', ')' or '['"),
        ("? > max(a, b)", "FEEL function 'max' is not supported"),
        ("some x in y satisfies x", "quantified expressions"),
    ],
)
def test_unary_tests_beyond_the_subset_are_refused(feel: str, message: str) -> None:
    with pytest.raises(FeelError, match=None) as caught:
        unary_tests(feel)
    assert message in caught.value.message


def test_output_values() -> None:
    assert literal_values('"high", "medium","low"') == ["high", "medium", "low"]
    assert literal_values("1, -2, 2.5, true") == [1, -2, 2.5, True]
    with pytest.raises(FeelError):
        literal_values("[1..10]")


# any text a FEEL string can hold (quotes, backslashes, non-ASCII) stays the same text
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"))


def _feel_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@given(_text)
def test_any_string_keeps_its_value(value: str) -> None:
    node = parse(expression(_feel_literal(value)).text)
    assert isinstance(node, ast.Literal) and node.kind == "string"
    assert node.value == value


@given(st.lists(_text, min_size=1, max_size=4), st.booleans())
def test_any_list_of_strings_is_a_list_test_of_the_same_values(
    values: list[str], negated: bool
) -> None:
    feel = ", ".join(_feel_literal(v) for v in values)
    translated = unary_tests(f"not({feel})" if negated else feel)
    # FEEL's not("a") matches a missing value: kaskad says so with ``null,``
    assert translated.startswith("null, not(") == negated
    body = translated[10:-1] if negated else translated
    node = parse(f"x IN ({body})")
    assert isinstance(node, ast.InList)
    assert [item.value for item in node.items] == values  # type: ignore[attr-defined]


def test_the_importer_knows_every_keyword_a_field_name_cannot_be() -> None:
    from kaskad.dmn.tables import KASKAD_KEYWORDS

    words = [
        "and",
        "or",
        "not",
        "in",
        "is",
        "null",
        "true",
        "false",
        "case",
        "when",
        "then",
        "else",
        "end",
        "date",
        "timestamp",
        "interval",
        "between",
        "like",
        "where",
        "exists",
        "any",
        "all",
        "count",
        "sum",
        "min",
        "max",
        "order",
        "by",
        "limit",
        "select",
        "from",
        "as",
        "distinct",
        "if",
        "for",
        "some",
        "every",
        "return",
        "instance",
        "of",
        "function",
    ]
    refused = set()
    for word in words:
        try:
            parse(f"{word}.x > 1")
        except ExprSyntaxError:
            refused.add(word)
    assert refused <= KASKAD_KEYWORDS
    for word in KASKAD_KEYWORDS:
        parse(f"{word}_.x > 1")
