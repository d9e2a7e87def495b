"""Reference lists in expressions: ``x IN name``, ``x IN list('name')`` and
``lookup(name, key, 'column')``.

A list's content is part of the typed tree: ``IN`` becomes the same constant test as
``x IN ('a', 'b', ...)`` (:class:`~kaskad.compile.expr.typed.TIn`, NULL when ``x`` is
NULL), and ``lookup`` a :class:`~kaskad.compile.expr.typed.TLookup` holding the keys and
the column's values, so the plan carries every list it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaskad.compile.expr import ast
from kaskad.compile.expr import typed as t
from kaskad.spec.reflist import RefList
from kaskad.spec.types import ANY, BOOLEAN, FLOAT

if TYPE_CHECKING:
    from kaskad.compile.expr.check import Checker


def names_list(checker: Checker, node: ast.InField) -> bool:
    """Whether ``x IN name`` tests a reference list (rather than a list field)."""
    parts = node.source.parts
    if node.named_list:
        return True
    return len(parts) == 1 and parts[0] in checker.scope.lists


def _unknown(checker: Checker, name: str, span: ast.Span) -> t.TExpr:
    from kaskad.compile.expr.check import suggest

    if name in checker.scope.lists:  # it could not be read: reported already
        return t.TLit(ANY, None)
    known = [n for n, found in checker.scope.lists.items() if found is not None]
    hint = suggest(name, known) or (
        f"declared lists: {', '.join(known)}"
        if known
        else "declare it under 'lists:' in the pipeline"
    )
    return checker.fail("K254", f"unknown reference list '{name}'", span, hint)


def in_list(checker: Checker, node: ast.InField) -> t.TExpr:
    name = node.source.dotted
    found = checker.scope.lists.get(name)
    if found is None:
        return _unknown(checker, name, node.source.span)

    operand = checker.check(node.operand)
    kind = operand.dtype.kind
    if kind == "any":
        return t.TLit(ANY, None)
    if kind in ("object", "list", "boolean", "null") or operand.dtype.family() != (
        found.key_type.family()
    ):
        return checker.fail(
            "K203",
            f"cannot test {operand.dtype} against list '{name}' of {found.key_type} keys",
            node.span,
        )
    values = found.keys()
    if kind == "float":
        values = tuple(float(v) for v in values)
    return t.TIn(BOOLEAN, operand, values, False, node.negated)


def lookup(checker: Checker, node: ast.Call) -> t.TExpr:
    """``lookup(list, key, 'column')``: typed by the column's declared type."""
    if node.where is not None or len(node.args) != 3:
        return checker.fail(
            "K255",
            "write lookup(LIST, KEY, 'column'), e.g. lookup(mcc_groups, mcc, 'group')",
            node.span,
        )
    list_node, key_node, column_node = node.args
    if not (isinstance(list_node, ast.Path) and len(list_node.parts) == 1):
        return checker.fail("K255", "lookup()'s first argument is a list's name", list_node.span)
    name = list_node.parts[0]
    found: RefList | None = checker.scope.lists.get(name)
    if found is None:
        return _unknown(checker, name, list_node.span)
    if not (isinstance(column_node, ast.Literal) and column_node.kind == "string"):
        return checker.fail(
            "K255", "lookup()'s third argument is a column name in quotes", column_node.span
        )
    index = found.column(str(column_node.value))
    if index is None:
        columns = ", ".join(f"'{c}'" for c in found.columns[1:]) or "none"
        return checker.fail(
            "K255",
            f"list '{name}' has no column '{column_node.value}' (its columns: {columns})",
            column_node.span,
        )
    key = checker.check(key_node)
    if key.dtype.kind == "any":
        return t.TLit(ANY, None)
    if key.dtype.kind in ("object", "list", "boolean") or (
        key.dtype.kind != "null" and key.dtype.family() != found.key_type.family()
    ):
        return checker.fail(
            "K203",
            f"list '{name}' has {found.key_type} keys, but the key here is {key.dtype}",
            key_node.span,
        )
    keys = found.keys()
    if key.dtype.kind == "float":
        keys = tuple(float(k) for k in keys)
    dtype = found.types[index]
    values = tuple(r[index] for r in found.rows)
    if dtype.kind == "float":
        values = tuple(None if v is None else float(v) for v in values)
    return t.TLookup(
        dtype if dtype.kind != "float" else FLOAT, key, name, found.columns[index], keys, values
    )


__all__ = ["in_list", "lookup", "names_list"]
