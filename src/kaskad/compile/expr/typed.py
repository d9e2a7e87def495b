"""Typed, name-resolved expression tree: what both executors compile from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaskad.spec.types import DType


@dataclass(frozen=True)
class TExpr:
    dtype: DType


@dataclass(frozen=True)
class TLit(TExpr):
    value: Any


@dataclass(frozen=True)
class TCol(TExpr):
    """A frame column (input field or step output) and a path into its nested object."""

    column: str
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class TElem(TExpr):
    """A field of the current list element, inside an aggregate."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class TUnary(TExpr):
    op: str  # "-" | "NOT"
    operand: TExpr


@dataclass(frozen=True)
class TBinary(TExpr):
    op: str  # + - * / || = != < <= > >= AND OR
    left: TExpr
    right: TExpr


@dataclass(frozen=True)
class TIn(TExpr):
    operand: TExpr
    values: tuple[Any, ...]  # literal values, NULL excluded
    has_null: bool
    negated: bool


@dataclass(frozen=True)
class TLookup(TExpr):
    """``lookup(list, key, 'column')``: the column's value in the entry of ``key`` (NULL
    when the key is absent or NULL). The list's keys and the column's values travel here,
    in the plan."""

    key: TExpr
    list_name: str
    column: str
    keys: tuple[Any, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class TShift(TExpr):
    """A date or datetime moved by a fixed length of time (``ts - INTERVAL '1 hour'``).

    The result is a date when a date moves by whole days, else a datetime."""

    operand: TExpr
    micros: int  # negative moves back


@dataclass(frozen=True)
class TIsNull(TExpr):
    operand: TExpr
    negated: bool


@dataclass(frozen=True)
class TLike(TExpr):
    operand: TExpr
    regex: str  # anchored at both ends by the executors
    negated: bool
    case_insensitive: bool


@dataclass(frozen=True)
class TCase(TExpr):
    whens: tuple[tuple[TExpr, TExpr], ...]
    default: TExpr | None


@dataclass(frozen=True)
class TFunc(TExpr):
    name: str
    args: tuple[TExpr, ...]


@dataclass(frozen=True)
class TAgg(TExpr):
    """count/sum/avg/min/max/any/all over a list field, with an optional filter."""

    func: str
    source: TCol
    value: TExpr | None
    where: TExpr | None
    outer: bool  # the value or filter reads fields outside the element


def walk(expr: TExpr) -> list[TExpr]:
    """Every node of the tree, parents before children."""
    out: list[TExpr] = [expr]
    for child in children(expr):
        out.extend(walk(child))
    return out


def children(expr: TExpr) -> list[TExpr]:
    if isinstance(expr, TUnary):
        return [expr.operand]
    if isinstance(expr, TBinary):
        return [expr.left, expr.right]
    if isinstance(expr, (TIn, TIsNull, TLike, TShift)):
        return [expr.operand]
    if isinstance(expr, TLookup):
        return [expr.key]
    if isinstance(expr, TCase):
        out = [x for pair in expr.whens for x in pair]
        return [*out, expr.default] if expr.default is not None else out
    if isinstance(expr, TFunc):
        return list(expr.args)
    if isinstance(expr, TAgg):
        out = [expr.source]
        if expr.value is not None:
            out.append(expr.value)
        if expr.where is not None:
            out.append(expr.where)
        return out
    return []


def columns_used(expr: TExpr) -> set[str]:
    """Frame columns an expression reads (inputs and earlier outputs)."""
    return {node.column for node in walk(expr) if isinstance(node, TCol)}
