"""Text → syntax tree. User text is parsed, never evaluated."""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.visitors import Transformer_NonRecursive

from kaskad.compile.expr import ast
from kaskad.compile.expr.depth import MAX_DEPTH, TooDeep, limit_depth

_COMP = {"<>": "!=", "==": "="}
_UNITS = {
    "second": 1_000_000,
    "minute": 60_000_000,
    "hour": 3_600_000_000,
    "day": 86_400_000_000,
    "week": 7 * 86_400_000_000,
}
_INTERVAL_PART = re.compile(r"\s*(\d+)\s*(second|minute|hour|day|week)s?\s*", re.IGNORECASE)


def parse_interval(text: str) -> int | None:
    """``'2 days 3 hours'`` → microseconds, or None when it is not an interval."""
    pos, total = 0, 0
    while pos < len(text):
        m = _INTERVAL_PART.match(text, pos)
        if m is None or m.end() == pos:
            return None
        total += int(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    return total if pos > 0 else None


class ExprSyntaxError(Exception):
    """A syntax error at a position inside the expression text."""

    def __init__(
        self,
        message: str,
        line: int,
        column: int,
        length: int = 1,
        hint: str | None = None,
        code: str = "K201",
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.length = length
        self.hint = hint


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("kaskad.compile.expr").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span_of(item: Any) -> ast.Span:
    if isinstance(item, Token):
        length = (item.end_pos or 0) - (item.start_pos or 0)
        return ast.Span(item.line or 1, item.column or 1, max(1, length))
    if isinstance(item, ast.Node):
        return item.span
    meta = item.meta
    return ast.Span(meta.line, meta.column, max(1, meta.end_pos - meta.start_pos))


def _kids(tree: Tree[Any]) -> list[Any]:
    return list(tree.children)


def _join(a: ast.Span, b: ast.Span) -> ast.Span:
    if a.line != b.line:
        return a
    return ast.Span(a.line, a.column, b.column + b.length - a.column)


INT64_MAX = 2**63 - 1


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}…{text[-6:]} ({len(text)} digits)"


class _Build(Transformer_NonRecursive[Token, ast.Node]):
    def number(self, items: list[Token]) -> ast.Node:
        tok = items[0]
        text = str(tok).replace("_", "")
        span = _span_of(tok)
        if any(c in text for c in ".eE"):
            value = float(text)
            if math.isinf(value):
                raise ExprSyntaxError(
                    f"number {_short(text)} is too large for a float",
                    span.line,
                    span.column,
                    span.length,
                    "floats go up to about 1.8e308",
                    code="K211",
                )
            return ast.Literal(span, value, "float")
        digits = text.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > INT64_MAX:
            raise ExprSyntaxError(
                f"integer {_short(text)} is out of the 64-bit range",
                span.line,
                span.column,
                span.length,
                f"integers go up to {INT64_MAX}; write a float (with a decimal point) for larger"
                " numbers",
                code="K211",
            )
        return ast.Literal(span, int(digits), "integer")

    def string(self, items: list[Token]) -> ast.Node:
        tok = items[0]
        return ast.Literal(_span_of(tok), str(tok)[1:-1].replace("''", "'"), "string")

    def true(self, items: list[Token]) -> ast.Node:
        return ast.Literal(_span_of(items[0]), True, "boolean")

    def false(self, items: list[Token]) -> ast.Node:
        return ast.Literal(_span_of(items[0]), False, "boolean")

    def null(self, items: list[Token]) -> ast.Node:
        return ast.Literal(_span_of(items[0]), None, "null")

    def date(self, items: list[Token]) -> ast.Node:
        span = _join(_span_of(items[0]), _span_of(items[1]))
        text = str(items[1])[1:-1]
        try:
            return ast.Literal(span, dt.date.fromisoformat(text), "date")
        except ValueError:
            raise ExprSyntaxError(
                f"invalid date literal '{text}'",
                span.line,
                span.column,
                span.length,
                "write dates as DATE 'YYYY-MM-DD'",
            ) from None

    def timestamp(self, items: list[Token]) -> ast.Node:
        span = _join(_span_of(items[0]), _span_of(items[1]))
        text = str(items[1])[1:-1]
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ExprSyntaxError(
                f"invalid timestamp literal '{text}'",
                span.line,
                span.column,
                span.length,
                "write timestamps as TIMESTAMP 'YYYY-MM-DD HH:MM:SS'",
            ) from None
        return ast.Literal(span, value.replace(tzinfo=None), "datetime")

    def interval(self, items: list[Token]) -> ast.Node:
        span = _join(_span_of(items[0]), _span_of(items[1]))
        text = str(items[1])[1:-1]
        micros = parse_interval(text)
        if micros is None:
            raise ExprSyntaxError(
                f"invalid interval '{text}'",
                span.line,
                span.column,
                span.length,
                "write intervals as INTERVAL '1 hour', INTERVAL '90 minutes', "
                "INTERVAL '2 days 12 hours' (units: week, day, hour, minute, second)",
            )
        return ast.Interval(span, micros, micros % _UNITS["day"] == 0)

    @v_args(tree=True)
    def path(self, tree: Tree[Any]) -> ast.Node:
        return ast.Path(_span_of(tree), tuple(str(t) for t in _kids(tree)))

    @v_args(tree=True)
    def neg(self, tree: Tree[Any]) -> ast.Node:
        operand = _kids(tree)[0]
        if isinstance(operand, ast.Literal) and operand.kind in ("integer", "float"):
            return ast.Literal(_span_of(tree), -operand.value, operand.kind)
        return ast.Unary(_span_of(tree), "-", operand)

    @v_args(tree=True)
    def not_(self, tree: Tree[Any]) -> ast.Node:
        return ast.Unary(_span_of(tree), "NOT", _kids(tree)[1])

    @v_args(tree=True)
    def or_(self, tree: Tree[Any]) -> ast.Node:
        left, _, right = _kids(tree)
        return ast.Binary(_span_of(tree), "OR", left, right)

    @v_args(tree=True)
    def and_(self, tree: Tree[Any]) -> ast.Node:
        left, _, right = _kids(tree)
        return ast.Binary(_span_of(tree), "AND", left, right)

    @v_args(tree=True)
    def binop(self, tree: Tree[Any]) -> ast.Node:
        left, op, right = _kids(tree)
        return ast.Binary(_span_of(tree), str(op), left, right)

    @v_args(tree=True)
    def compare(self, tree: Tree[Any]) -> ast.Node:
        left, op, right = _kids(tree)
        return ast.Binary(_span_of(tree), _COMP.get(str(op), str(op)), left, right)

    @v_args(tree=True)
    def in_(self, tree: Tree[Any]) -> ast.Node:
        operand, neg, _, *items = _kids(tree)
        return ast.InList(_span_of(tree), operand, tuple(items), neg is not None)

    @v_args(tree=True)
    def in_field(self, tree: Tree[Any]) -> ast.Node:
        operand, neg, _, source = _kids(tree)
        return ast.InField(_span_of(tree), operand, source, neg is not None)

    @v_args(tree=True)
    def in_call(self, tree: Tree[Any]) -> ast.Node:
        """``x IN list('name')``: a reference list by name."""
        operand, neg, _, call = _kids(tree)
        assert isinstance(call, ast.Call)
        arg = call.args[0] if len(call.args) == 1 else None
        if (
            call.name != "list"
            or call.where is not None
            or not (isinstance(arg, ast.Literal) and arg.kind == "string")
        ):
            span = call.span
            raise ExprSyntaxError(
                "IN takes (values, ...), a list field, a reference list's name or list('name')",
                span.line,
                span.column,
                span.length,
                "write x IN list('high_risk_countries')",
                code="K260",
            )
        source = ast.Path(arg.span, (str(arg.value),))
        return ast.InField(_span_of(tree), operand, source, neg is not None, True)

    @v_args(tree=True)
    def between(self, tree: Tree[Any]) -> ast.Node:
        operand, neg, _, low, _, high = _kids(tree)
        return ast.Between(_span_of(tree), operand, low, high, neg is not None)

    @v_args(tree=True)
    def is_null(self, tree: Tree[Any]) -> ast.Node:
        operand, _, neg, _ = _kids(tree)
        return ast.IsNull(_span_of(tree), operand, neg is not None)

    @v_args(tree=True)
    def like(self, tree: Tree[Any]) -> ast.Node:
        operand, neg, _, pattern = _kids(tree)
        return ast.Like(_span_of(tree), operand, pattern, neg is not None, False)

    @v_args(tree=True)
    def ilike(self, tree: Tree[Any]) -> ast.Node:
        operand, neg, _, pattern = _kids(tree)
        return ast.Like(_span_of(tree), operand, pattern, neg is not None, True)

    @v_args(tree=True)
    def call(self, tree: Tree[Any]) -> ast.Node:
        name, *rest = _kids(tree)
        # rest: args (possibly [None] when empty), then WHERE token (or None), then where expr
        where_expr = rest[-1]
        args = [a for a in rest[:-2] if a is not None]
        return ast.Call(_span_of(tree), str(name).lower(), tuple(args), where_expr, _span_of(name))

    @v_args(tree=True)
    def case(self, tree: Tree[Any]) -> ast.Node:
        children = list(_kids(tree))
        subject = children[1]
        i = 2
        whens: list[tuple[ast.Node, ast.Node]] = []
        while i < len(children) and isinstance(children[i], Token) and children[i].type == "WHEN":
            whens.append((children[i + 1], children[i + 3]))
            i += 4
        default = children[i + 1] if i + 1 < len(children) else None
        return ast.Case(_span_of(tree), subject, tuple(whens), default)


_EXPECT_NAMES = {
    "NAME": "a field name",
    "NUMBER": "a number",
    "STRING": "a 'string'",
    "RPAR": "')'",
    "LPAR": "'('",
    "END": "END",
    "THEN": "THEN",
    "AND": "AND",
}


def _describe_expected(expected: set[str]) -> str:
    names = sorted({_EXPECT_NAMES.get(e, e) for e in expected})
    if len(names) > 6:
        return "an expression or operator"
    return ", ".join(names)


def _ends_early(text: str, expected: set[str]) -> ExprSyntaxError:
    lines = text.splitlines() or [""]
    return ExprSyntaxError(
        f"expression ends too early; expected {_describe_expected(expected)}",
        len(lines),
        len(lines[-1]) + 1,
    )


def parse(text: str) -> ast.Node:
    """Parse expression text into a syntax tree or raise :class:`ExprSyntaxError`."""
    if not text or not text.strip():
        raise ExprSyntaxError("empty expression", 1, 1)
    try:
        tree = _parser().parse(text)
    except UnexpectedEOF as exc:
        raise _ends_early(text, set(exc.expected)) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            raise _ends_early(text, set(exc.expected)) from None
        hint = None
        raise ExprSyntaxError(
            f"unexpected '{tok}'; expected {_describe_expected(set(exc.expected))}",
            tok.line or 1,
            tok.column or 1,
            max(1, len(str(tok))),
            hint,
        ) from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        hint = None
        if char == '"':
            hint = "strings use single quotes: 'text'"
        raise ExprSyntaxError(
            f"unexpected character {char!r}", exc.line, exc.column, 1, hint
        ) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark input errors
        raise ExprSyntaxError(str(exc), exc.line, exc.column) from None
    try:
        result = _Build().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExprSyntaxError):
            raise exc.orig_exc from None
        raise
    assert isinstance(result, ast.Node)
    try:
        return limit_depth(result)
    except TooDeep as exc:
        raise ExprSyntaxError(
            f"expression too deeply nested (limit {MAX_DEPTH} levels)",
            exc.span.line,
            exc.span.column,
            exc.span.length,
            "split it into named features, or use IN (…) instead of a long chain of =",
            code="K210",
        ) from None
