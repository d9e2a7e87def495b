"""The generated per-record functions give exactly what the closures give (value and
type), on records with missing values everywhere; an expression Python cannot compile
falls back to the closures."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaskad.compile.expr import typed as t
from kaskad.compile.expr.check import Scope, check_expression
from kaskad.compile.expr.parser import parse
from kaskad.compile.expr.to_code import compile_record, source_of
from kaskad.compile.expr.to_python import compile_python
from kaskad.spec.types import BOOLEAN, FLOAT, INTEGER, STRING, DType, Field

ITEM = DType(
    "object",
    fields=(
        Field("kind", STRING),
        Field("amount", FLOAT),
        Field("n", INTEGER),
        Field("ok", BOOLEAN),
        Field("tags", DType("list", item=STRING)),
    ),
)
COLUMNS = {
    "x": FLOAT,
    "y": FLOAT,
    "n": INTEGER,
    "m": INTEGER,
    "s": STRING,
    "b": BOOLEAN,
    "c": BOOLEAN,
    "who": DType("object", fields=(Field("age", INTEGER), Field("name", STRING))),
    "items": DType("list", item=ITEM),
    "codes": DType("list", item=INTEGER),
}

EXPRESSIONS = [
    "x + y",
    "n + m",
    "n * 2 - m",
    "x / y",
    "n / m",
    "-x",
    "NOT b",
    "b AND c",
    "b OR c",
    "NOT (b AND (c OR x > 1))",
    "n > 1.5",
    "n = m",
    "x >= n",
    "s || '!'",
    "s IN ('a', 'b')",
    "s NOT IN ('a', 'b')",
    "s IN ('a', NULL)",
    "n IN (1, 2.5)",
    "n NOT IN (1, NULL)",
    "x IS NULL",
    "who.age IS NOT NULL",
    "who.age >= 18 AND who.name = 'a'",
    "CASE WHEN x > 1 THEN 1 WHEN b THEN 2.5 ELSE NULL END",
    "CASE WHEN b THEN s END",
    "CASE WHEN n > 0 THEN n ELSE 0 END",
    "count(items)",
    "count(items WHERE kind = 'a')",
    "count(items WHERE amount > x AND kind = s)",
    "sum(items.amount)",
    "sum(items.n WHERE kind = 'a')",
    "sum(items.amount WHERE ok)",
    "avg(items.amount)",
    "avg(items.n WHERE amount > 1)",
    "any(items.ok)",
    "all(items.ok)",
    "any(items WHERE amount > y)",
    "all(items WHERE kind IN ('a', 'b'))",
    "max(items.amount WHERE kind = 'a')",
    "min(items.n)",
    "count_distinct(items.kind)",
    "count(codes WHERE codes > 1)",
    "sum(codes, codes * 2)",
    "sum(items, amount * n WHERE ok)",
    "any(items WHERE amount > x OR n > 0)",
    "COALESCE(x, 0) / y",
    "abs(x) > 1 OR s LIKE 'a%'",
]

ENVS: list[dict[str, Any]] = []
_items = [
    None,
    [],
    [{"kind": "a", "amount": 1.5, "n": 2, "ok": True, "tags": ["t"]}],
    [
        {"kind": "a", "amount": 2.0, "n": None, "ok": None, "tags": None},
        {"kind": None, "amount": None, "n": 3, "ok": False, "tags": []},
        {"kind": "b", "amount": -0.0, "n": -1, "ok": True, "tags": ["u", "t"]},
    ],
]
for x, n, s, b, items in itertools.product(
    [None, 0.0, 2.5], [None, 0, 2], [None, "a", "c"], [None, True, False], _items
):
    ENVS.append(
        {
            "x": x,
            "y": 0.0 if x == 2.5 else (None if x is None else 1.0),
            "n": n,
            "m": None if n == 2 else 0,
            "s": s,
            "b": b,
            "c": None if b is False else (not b if b is not None else True),
            "who": None if n is None else {"age": None if n == 0 else 30, "name": s},
            "items": items,
            "codes": None if items is None else [1, 2, None, 5][: len(items) + 1],
        }
    )


def typed(text: str) -> t.TExpr:
    expr, issues = check_expression(parse(text), Scope(COLUMNS))
    assert not issues, issues
    return expr


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (a != a and b != b))


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_generated_code_gives_what_the_closures_give(text: str) -> None:
    expr = typed(text)
    generated, closures = compile_record(expr), compile_python(expr)
    for env in ENVS:
        want = closures(env, None)
        got = generated(env, None)
        assert same(got, want), f"{text} on {env}: {got!r}, closures {want!r}"


def test_the_generated_code_is_straight_line_python() -> None:
    source = source_of(typed("count(items WHERE amount > x AND kind = 'a')"))
    assert source.startswith("def _expr(env, el")
    assert "for " in source and "(env, " not in source.split("\n", 1)[1]  # no closure called
    # a constant that is not NULL is not tested for NULL
    assert "_k0 is None" not in source


def test_an_expression_python_cannot_compile_falls_back_to_the_closures() -> None:
    # 120 nested CASE levels: deeper than Python's parser allows for indented blocks
    text = "CASE " + " ".join(f"WHEN n = {i} THEN {i}" for i in range(120)) + " ELSE -1 END"
    expr = typed(text)
    with pytest.raises(SyntaxError):
        compile(source_of(expr), "<test>", "exec")
    fn = compile_record(expr)
    assert fn({"n": 7}, None) == 7
    assert fn({"n": None}, None) == -1


values = st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-3, 3))


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(EXPRESSIONS),
    st.fixed_dictionaries(
        {
            "x": st.one_of(st.none(), st.floats(-1e6, 1e6)),
            "y": st.one_of(st.none(), st.sampled_from([0.0, -0.0, 3.0])),
            "n": st.one_of(st.none(), st.integers(-5, 5)),
            "m": st.one_of(st.none(), st.integers(-2, 2)),
            "s": st.one_of(st.none(), st.sampled_from(["a", "b", "c", ""])),
            "b": st.one_of(st.none(), st.booleans()),
            "c": st.one_of(st.none(), st.booleans()),
            "items": st.one_of(
                st.none(),
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "kind": st.one_of(st.none(), st.sampled_from(["a", "b"])),
                            "amount": st.one_of(st.none(), st.floats(-1e3, 1e3)),
                            "n": st.one_of(st.none(), st.integers(-3, 3)),
                            "ok": st.one_of(st.none(), st.booleans()),
                        }
                    ),
                    max_size=5,
                ),
            ),
        }
    ),
)
def test_agree_on_random_records(text: str, env: dict[str, Any]) -> None:
    expr = typed(text)
    want = compile_python(expr)(env, None)
    assert same(compile_record(expr)(env, None), want)
