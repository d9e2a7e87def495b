"""Unary tests → expressions over ``?`` and the shapes the analysis reads."""

from __future__ import annotations

import pytest

from kaskad.compile.unary import PLACEHOLDER, Interval, UnaryTestError, split_items, translate


def expr(test: str) -> str | None:
    text, _ = translate(test)
    return None if text is None else text.replace(PLACEHOLDER, "?")


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ("-", None),
        ("< 18", "? < (18)"),
        (">= income * 0.5", "? >= (income * 0.5)"),
        ("18", "? = (18)"),
        ("= 'a'", "? = ('a')"),
        ("<> 3", "? != (3)"),
        ("[18..25)", "? >= (18) AND ? < (25)"),
        ("]18..25[", "? > (18) AND ? < (25)"),
        ("(18..25]", "? > (18) AND ? <= (25)"),
        ("'a','b'", "(? = ('a')) OR (? = ('b'))"),
        ("'a,b'", "? = ('a,b')"),
        ("not('a', 'b')", "NOT ((? = ('a')) OR (? = ('b')))"),
        ("null", "? IS NULL"),
        ("null, not('a')", "(? IS NULL) OR (NOT (? = ('a')))"),
        ("? > income * 0.5", "? > income * 0.5"),
        ("'what?'", "? = ('what?')"),
        ("date '2024-01-01'", "? = (date '2024-01-01')"),
    ],
)
def test_translation(test: str, expected: str | None) -> None:
    assert expr(test) == expected


def test_shapes() -> None:
    _, shape = translate("[18..25), > 60")
    assert shape is not None
    assert shape.intervals == (
        Interval(18.0, True, 25.0, False),
        Interval(60.0, False, None, False),
    )
    assert shape.accepts(18) and not shape.accepts(25) and shape.accepts(61)
    _, neg = translate("not('a','b')")
    assert neg is not None and neg.negated and neg.accepts("c") and not neg.accepts("a")
    assert translate("? > 1")[1] is None
    assert translate("> income")[1] is None


@pytest.mark.parametrize("bad", ["", "'a',", "-, 1", "[1..", "(1..2"])
def test_malformed_tests(bad: str) -> None:
    with pytest.raises(UnaryTestError):
        translate(bad)


def test_split_respects_quotes_brackets_and_calls() -> None:
    assert split_items("'a,b', [1..2], f(1, 2)") == ["'a,b'", " [1..2]", " f(1, 2)"]
