from __future__ import annotations

from kaskad.compile.expr import typed as t
from kaskad.compile.expr.check import Scope, check_expression
from kaskad.compile.expr.parser import parse
from kaskad.spec.types import DATE, FLOAT, INTEGER, STRING, DType, Field

ITEM = DType(
    "object",
    fields=(
        Field("day", DATE),
        Field("amount", FLOAT),
        Field("kind", DType("category", values=("cash_in", "cash_out"))),
    ),
)
COLUMNS = {
    "amount": FLOAT,
    "term": INTEGER,
    "name": STRING,
    "kind": DType("category", values=("cash_in", "cash_out", "transfer")),
    "operation": DType("object", fields=(Field("day", DATE), Field("amount_rub", FLOAT))),
    "transactions": DType("list", item=ITEM),
}


def check(text: str) -> tuple[t.TExpr, list[str]]:
    expr, issues = check_expression(parse(text), Scope(COLUMNS))
    return expr, [f"{i.code} {i.message} | {i.hint}" for i in issues]


def test_types_flow_through_arithmetic() -> None:
    assert check("term + 1")[0].dtype == INTEGER
    assert check("term * amount")[0].dtype == FLOAT
    assert check("term / 2")[0].dtype == FLOAT


def test_unknown_field_suggests_the_close_name() -> None:
    _, issues = check("operation.amount_rbu > 5")
    assert len(issues) == 1
    assert issues[0].startswith("K202") and "did you mean 'amount_rub'" in issues[0]
    _, issues = check("ammount > 5")
    assert "did you mean 'amount'" in issues[0]


def test_category_values_are_checked() -> None:
    _, issues = check("kind = 'cash_inn'")
    assert issues[0].startswith("K206") and "did you mean 'cash_in'" in issues[0]
    _, issues = check("kind IN ('transfer', 'wire')")
    assert len(issues) == 1 and "'wire'" in issues[0]


def test_every_problem_in_one_expression_is_reported_once() -> None:
    _, issues = check("foo > 1 AND bar = 'x' AND term = 'y'")
    codes = [i.split()[0] for i in issues]
    assert codes == ["K202", "K202", "K203"]


def test_aggregates_resolve_element_fields_before_outer_ones() -> None:
    expr, issues = check("count(transactions WHERE day = operation.day AND kind = 'cash_in')")
    assert not issues
    assert isinstance(expr, t.TAgg) and expr.outer and expr.dtype == INTEGER
    inner, issues = check("sum(transactions.amount WHERE kind = 'cash_out')")
    assert not issues
    assert isinstance(inner, t.TAgg) and not inner.outer and inner.dtype == FLOAT


def test_aggregate_misuse() -> None:
    assert "K208" in check("transactions.amount > 1")[1][0]
    assert "K208" in check("sum(transactions)")[1][0]
    assert "K208" in check("count(amount)")[1][0]
    assert "K208" in check("any(transactions)")[1][0]


def test_comparing_null_suggests_is_null() -> None:
    _, issues = check("name = NULL")
    assert "IS NULL" in issues[0]


def test_number_in_quotes_hint() -> None:
    _, issues = check("term < '18'")
    assert "without quotes: 18" in issues[0]


def test_unknown_function() -> None:
    _, issues = check("coalese(amount, 0)")
    assert issues[0].startswith("K204") and "coalesce" in issues[0]
