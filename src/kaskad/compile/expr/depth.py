"""Nesting limits of the expression language, checked without recursion.

The checker and both executors walk expressions recursively, so nesting is bounded:
an expression deeper than :data:`MAX_DEPTH` levels is refused (``K210``) before anything
recursive sees it. Long chains of one logical operator (``a OR b OR c …``) are not
deep: ``AND`` and ``OR`` are associative (also with NULLs), so a chain of any length is
rebalanced into a tree of logarithmic depth with the same result (chains of up to
:data:`KEPT_CHAIN` operands keep their shape, so existing plans keep their hashes).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kaskad.compile.expr import ast

__all__ = ["MAX_DEPTH", "TooDeep", "limit_depth"]

MAX_DEPTH = 200
# chains up to this many operands keep the shape they were written in, so the plans (and
# plan hashes) of existing pipelines stay the same; longer ones are rebalanced
KEPT_CHAIN = 128
_CHAINED = ("AND", "OR")


class TooDeep(Exception):
    """The expression nests more than :data:`MAX_DEPTH` levels at ``span``."""

    def __init__(self, span: ast.Span) -> None:
        super().__init__(f"expression nested more than {MAX_DEPTH} levels deep")
        self.span = span


def _chain(node: ast.Binary) -> list[ast.Node]:
    """Operands of the maximal chain of ``node.op`` below ``node``, left to right."""
    out: list[ast.Node] = []
    todo: list[ast.Node] = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Binary) and n.op == node.op:
            todo.append(n.right)
            todo.append(n.left)
        else:
            out.append(n)
    return out


def _children(node: ast.Node) -> list[ast.Node]:
    if isinstance(node, ast.Binary) and node.op in _CHAINED:
        return _chain(node)
    out: list[ast.Node] = []
    for f in dataclasses.fields(node):
        _collect(getattr(node, f.name), out)
    return out


def _collect(value: Any, out: list[ast.Node]) -> None:
    if isinstance(value, ast.Node):
        out.append(value)
    elif isinstance(value, tuple):
        for item in value:
            _collect(item, out)  # tuples nest two levels at most (CASE's whens)


def _cost(node: ast.Node, children: int) -> int:
    """Levels ``node`` adds: a kept chain of n operands n - 1 (at most: it may be written
    with parentheses), a rebalanced one ⌈log2 n⌉."""
    if isinstance(node, ast.Binary) and node.op in _CHAINED:
        if children <= KEPT_CHAIN:
            return children - 1
        return (children - 1).bit_length()
    return 1


def _depth_or_raise(root: ast.Node) -> None:
    depth: dict[int, int] = {}
    stack: list[tuple[ast.Node, list[ast.Node] | None]] = [(root, None)]
    while stack:
        node, kids = stack.pop()
        if kids is None:
            kids = _children(node)
            stack.append((node, kids))
            stack.extend((k, None) for k in kids)
            continue
        d = _cost(node, len(kids)) + max((depth[id(k)] for k in kids), default=0)
        if d > MAX_DEPTH:
            raise TooDeep(node.span)
        depth[id(node)] = d


def _balanced(op: str, items: list[ast.Node]) -> ast.Node:
    if len(items) == 1:
        return items[0]
    mid = len(items) // 2
    left, right = _balanced(op, items[:mid]), _balanced(op, items[mid:])
    return ast.Binary(_cover(left.span, right.span), op, left, right)


def _cover(a: ast.Span, b: ast.Span) -> ast.Span:
    if a.line != b.line:
        return a
    return ast.Span(a.line, a.column, b.column + b.length - a.column)


def _rebuild(root: ast.Node) -> ast.Node:
    """``root`` with every logical chain balanced, children before parents (no recursion)."""
    done: dict[int, ast.Node] = {}
    stack: list[tuple[ast.Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        kids = _children(node)
        if not ready:
            stack.append((node, True))
            stack.extend((k, False) for k in kids)
            continue
        if isinstance(node, ast.Binary) and node.op in _CHAINED and len(kids) > KEPT_CHAIN:
            done[id(node)] = _balanced(node.op, [done[id(k)] for k in kids])
        elif isinstance(node, ast.Binary) and node.op in _CHAINED:
            done[id(node)] = _relink(node, node.op, done)
        else:
            changes = {f.name: _swap(getattr(node, f.name), done) for f in dataclasses.fields(node)}
            done[id(node)] = dataclasses.replace(node, **changes)
    return done[id(root)]


def _relink(node: ast.Node, op: str, done: dict[int, ast.Node]) -> ast.Node:
    """A kept chain, its shape unchanged, over its rebuilt operands (recursion bounded by
    :data:`KEPT_CHAIN`)."""
    if isinstance(node, ast.Binary) and node.op == op:
        return dataclasses.replace(
            node, left=_relink(node.left, op, done), right=_relink(node.right, op, done)
        )
    return done[id(node)]


def _swap(value: Any, done: dict[int, ast.Node]) -> Any:
    if isinstance(value, ast.Node):
        return done[id(value)]
    if isinstance(value, tuple):
        return tuple(_swap(v, done) for v in value)  # two levels at most (CASE's whens)
    return value


def limit_depth(root: ast.Node) -> ast.Node:
    """``root`` with logical chains rebalanced, or :class:`TooDeep` past the limit."""
    _depth_or_raise(root)
    return _rebuild(root)
