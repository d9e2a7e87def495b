"""Unary tests of decision tables → expression text over ``?``, and their shape.

A unary test (``< 18``, ``[18..25)``, ``'a','b'``, ``not(...)``, ``-``, ``? > income``)
becomes an ordinary kaskad expression in which the input's value is the name
:data:`PLACEHOLDER`; the expression parser and checker of the rule language then type it
like any rule (one parser). The *shape* of a test (intervals and values, when its bounds
are literals) is what ``kaskad validate`` analyses for overlaps, gaps and dead rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PLACEHOLDER", "Interval", "Shape", "UnaryTestError", "translate"]

PLACEHOLDER = "__table_input"

Value = str | int | float | bool


class UnaryTestError(ValueError):
    """A unary test that is not written in any of the forms tables accept."""


@dataclass(frozen=True)
class Interval:
    """Numbers from ``lo`` to ``hi`` (None: unbounded), each end closed or open."""

    lo: float | None
    lo_closed: bool
    hi: float | None
    hi_closed: bool

    def contains(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (x == self.lo and not self.lo_closed)):
            return False
        return not (self.hi is not None and (x > self.hi or (x == self.hi and not self.hi_closed)))

    def empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        return self.lo > self.hi or (self.lo == self.hi and not (self.lo_closed and self.hi_closed))


@dataclass(frozen=True)
class Shape:
    """What an analysable test accepts: any value, or any of ``intervals`` and
    ``values`` (``negated``: any value but those). Not-NULL values only."""

    any: bool = False
    intervals: tuple[Interval, ...] = ()
    values: tuple[Value, ...] = ()
    negated: bool = False

    def accepts(self, value: Value) -> bool:
        if self.any:
            return True
        inside = value in self.values and not (
            isinstance(value, bool) and not any(isinstance(v, bool) for v in self.values)
        )
        if not inside and isinstance(value, int | float) and not isinstance(value, bool):
            inside = any(i.contains(float(value)) for i in self.intervals)
        return inside != self.negated


ANY_SHAPE = Shape(any=True)
_OP = re.compile(r"^(<=|>=|!=|<>|<|>|=)\s*(.+)$", re.S)
_INTERVAL = re.compile(r"^([\[\]\(])\s*(.+?)\s*\.\.\s*(.+?)\s*([\[\]\)])$", re.S)
_NOT = re.compile(r"^not\s*\((.*)\)$", re.S | re.I)
_NUMBER = re.compile(r"^[+-]?(\d[\d_]*)(\.\d[\d_]*)?([eE][+-]?\d+)?$")
_STRING = re.compile(r"^'([^']|'')*'$", re.S)


def translate(text: str) -> tuple[str | None, Shape | None]:
    """The expression text of a unary test (None for ``-``) and its shape (None when the
    analysis cannot read it). Raises :class:`UnaryTestError` for a malformed test."""
    text = text.strip()
    if text == "-":
        return None, ANY_SHAPE
    match = _NOT.match(text)
    if match and _balanced(match.group(1)):
        inner, shape = _disjunction(match.group(1))
        negated = None if shape is None else Shape(False, shape.intervals, shape.values, True)
        return f"NOT ({inner})", negated
    return _disjunction(text)


def _disjunction(text: str) -> tuple[str, Shape | None]:
    items = split_items(text)
    if not items or any(not i.strip() for i in items):
        raise UnaryTestError(f"empty test in '{text.strip()}'")
    exprs: list[str] = []
    intervals: list[Interval] = []
    values: list[Value] = []
    analysable = True
    for item in items:
        expr, atom = _item(item.strip())
        exprs.append(expr)
        if isinstance(atom, Interval):
            intervals.append(atom)
        elif atom is None:
            analysable = False
        else:
            values.append(atom[0])
    joined = exprs[0] if len(exprs) == 1 else " OR ".join(f"({e})" for e in exprs)
    shape = Shape(False, tuple(intervals), tuple(values)) if analysable else None
    return joined, shape


def _item(item: str) -> tuple[str, Interval | tuple[Value] | None]:
    q = PLACEHOLDER
    if item == "-":
        raise UnaryTestError("'-' (any value) cannot be one of several tests")
    if "?" in _outside_strings(item):
        return _replace_question(item), None
    if item.lower() == "null":
        return f"{q} IS NULL", None
    negated = _NOT.match(item)
    if negated and _balanced(negated.group(1)):
        # ``null, not('a', 'b')``: missing, or none of those (the form of DMN's
        # ``not("a")``, which matches a missing value)
        inner, _ = _disjunction(negated.group(1))
        return f"NOT ({inner})", None
    match = _INTERVAL.match(item)
    if match and ".." in _outside_strings(item):
        start, lo, hi, end = match.groups()
        lo_closed, hi_closed = start == "[", end == "]"
        expr = (
            f"{q} {'>=' if lo_closed else '>'} ({lo}) AND {q} {'<=' if hi_closed else '<'} ({hi})"
        )
        a, b = _literal(lo), _literal(hi)
        if _is_number(a) and _is_number(b):
            return expr, Interval(float(a), lo_closed, float(b), hi_closed)  # type: ignore[arg-type]
        return expr, None
    if item[:1] in "[]" or (item[:1] == "(" and ".." in _outside_strings(item)):
        raise UnaryTestError(f"'{item}' is not an interval: write [a..b], [a..b), (a..b] or ]a..b[")
    match = _OP.match(item)
    if match:
        op, rest = match.groups()
        op = "!=" if op == "<>" else op
        expr = f"{q} {op} ({rest})"
        value = _literal(rest.strip())
        if op == "=":
            return expr, None if value is None else (value,)
        if op == "!=" or not _is_number(value):
            return expr, None
        bound = float(value)  # type: ignore[arg-type]
        return expr, {
            "<": Interval(None, False, bound, False),
            "<=": Interval(None, False, bound, True),
            ">": Interval(bound, False, None, False),
            ">=": Interval(bound, True, None, False),
        }[op]
    value = _literal(item)
    return f"{q} = ({item})", None if value is None else (value,)


def _is_number(value: Value | None) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _literal(text: str) -> Value | None:
    """A literal number, string or boolean written in kaskad syntax, else None."""
    if _NUMBER.match(text):
        clean = text.replace("_", "")
        return float(clean) if any(c in clean for c in ".eE") else int(clean)
    if _STRING.match(text):
        return text[1:-1].replace("''", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return None


def _outside_strings(text: str) -> str:
    """``text`` with the inside of single-quoted strings blanked."""
    out: list[str] = []
    quoted = False
    for ch in text:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        else:
            out.append(" " if quoted else ch)
    return "".join(out)


def _replace_question(text: str) -> str:
    outside = _outside_strings(text)
    return "".join(
        PLACEHOLDER if c == "?" and o == "?" else c for c, o in zip(text, outside, strict=True)
    )


def _balanced(text: str) -> bool:
    """Parentheses in ``text`` (outside strings) never close more than they open."""
    depth = 0
    for ch in _outside_strings(text):
        depth += 1 if ch == "(" else -1 if ch == ")" else 0
        if depth < 0:
            return False
    return depth == 0


def split_items(text: str) -> list[str]:
    """``text`` split at its top-level commas (not inside quotes, brackets or calls)."""
    items: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(_outside_strings(text)):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items
