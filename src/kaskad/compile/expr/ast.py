"""Syntax tree of the expression language, as parsed (names not yet resolved)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaskad.spec.types import Kind


@dataclass(frozen=True)
class Span:
    """Position inside the expression text: 1-based line and column, and length."""

    line: int
    column: int
    length: int


@dataclass(frozen=True)
class Node:
    span: Span


@dataclass(frozen=True)
class Literal(Node):
    value: Any
    kind: Kind  # null, boolean, integer, float, string, date, datetime


@dataclass(frozen=True)
class Interval(Node):
    """``INTERVAL '1 hour'``: a length of time, only added to or taken from a date/datetime."""

    micros: int
    whole_days: bool


@dataclass(frozen=True)
class Path(Node):
    parts: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "NOT"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / % || = != < <= > >= AND OR
    left: Node
    right: Node


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class InField(Node):
    """``x IN list_field``: whether a list field holds the value."""

    operand: Node
    source: Path
    negated: bool
    named_list: bool = False  # ``x IN list('name')``: a reference list, never a field


@dataclass(frozen=True)
class Between(Node):
    operand: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool


@dataclass(frozen=True)
class Like(Node):
    operand: Node
    pattern: Node
    negated: bool
    case_insensitive: bool


@dataclass(frozen=True)
class Case(Node):
    subject: Node | None
    whens: tuple[tuple[Node, Node], ...]
    default: Node | None


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]
    where: Node | None
    name_span: Span
