"""Typed tree → Python closures, for the per-record executor.

Each closure takes the record's environment (input fields and step outputs by
name) and the current list element (inside aggregates). Semantics mirror
:mod:`kaskad.compile.expr.to_polars` exactly (functions: both forms side by side in
:mod:`kaskad.compile.expr.functions`): SQL three-valued logic, NULL on
division by zero, mixed integer/float comparisons done in float, sequential sums.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Any

from kaskad.compile.expr import typed as t
from kaskad.compile.expr.functions import (
    DAY_MICROS,
    FUNCTION_TABLE,
    Env,
    Fn,
    as_datetime,
    empty_value,
)
from kaskad.compile.expr.like import LikeMatcher

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _get_path(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if value is None:
            return None
        value = value.get(part)
    return value


def compile_python(node: t.TExpr) -> Fn:
    """A closure computing ``node`` for one record."""
    if isinstance(node, t.TLit):
        value = node.value
        return lambda env, el: value
    if isinstance(node, t.TCol):
        col, path = node.column, node.path
        if not path:
            return lambda env, el: env.get(col)
        if len(path) == 1:
            key = path[0]

            def field1(env: Env, el: Any) -> Any:
                obj = env.get(col)
                return None if obj is None else obj.get(key)

            return field1
        return lambda env, el: _get_path(env.get(col), path)
    if isinstance(node, t.TElem):
        epath = node.path
        return lambda env, el: _get_path(el, epath)
    if isinstance(node, t.TUnary):
        inner = compile_python(node.operand)
        if node.op == "NOT":

            def not_(env: Env, el: Any) -> Any:
                v = inner(env, el)
                return None if v is None else not v

            return not_

        def neg(env: Env, el: Any) -> Any:
            v = inner(env, el)
            return None if v is None else -v

        return neg
    if isinstance(node, t.TBinary):
        return _binary(node)
    if isinstance(node, t.TIn):
        return _in(node)
    if isinstance(node, t.TShift):
        return _shift(node)
    if isinstance(node, t.TLookup):
        return _lookup(node)
    if isinstance(node, t.TIsNull):
        inner = compile_python(node.operand)
        if node.negated:
            return lambda env, el: inner(env, el) is not None
        return lambda env, el: inner(env, el) is None
    if isinstance(node, t.TLike):
        inner = compile_python(node.operand)
        matches = LikeMatcher.from_regex(node.regex, node.case_insensitive).matches
        negated = node.negated

        def like(env: Env, el: Any) -> Any:
            v = inner(env, el)
            if v is None:
                return None
            return matches(v) != negated

        return like
    if isinstance(node, t.TCase):
        return _case(node)
    if isinstance(node, t.TFunc):
        return _func(node)
    if isinstance(node, t.TAgg):
        return _aggregate(node)
    raise AssertionError(type(node))  # pragma: no cover


def _binary(node: t.TBinary) -> Fn:
    op = node.op
    left = compile_python(node.left)
    right = compile_python(node.right)
    if op == "AND":

        def and_(env: Env, el: Any) -> Any:
            a = left(env, el)
            if a is False:
                return False
            b = right(env, el)
            if b is False:
                return False
            return None if a is None or b is None else True

        return and_
    if op == "OR":

        def or_(env: Env, el: Any) -> Any:
            a = left(env, el)
            if a is True:
                return True
            b = right(env, el)
            if b is True:
                return True
            return None if a is None or b is None else False

        return or_
    if op == "/":

        def div(env: Env, el: Any) -> Any:
            a = left(env, el)
            b = right(env, el)
            if a is None or b is None or b == 0:
                return None
            return float(a) / float(b)

        return div
    if op == "||":

        def concat(env: Env, el: Any) -> Any:
            a = left(env, el)
            b = right(env, el)
            return None if a is None or b is None else a + b

        return concat
    fn: Callable[[Any, Any], Any]
    if op in ("+", "-", "*"):
        fn = {"+": operator.add, "-": operator.sub, "*": operator.mul}[op]
        if node.dtype.kind == "float":

            def arith_f(env: Env, el: Any) -> Any:
                a = left(env, el)
                b = right(env, el)
                return None if a is None or b is None else fn(float(a), float(b))

            return arith_f
    else:
        fn = _CMP[op]
        if node.left.dtype.is_numeric and node.left.dtype.kind != node.right.dtype.kind:

            def cmp_f(env: Env, el: Any) -> Any:
                a = left(env, el)
                b = right(env, el)
                return None if a is None or b is None else fn(float(a), float(b))

            return cmp_f

    def plain(env: Env, el: Any) -> Any:
        a = left(env, el)
        b = right(env, el)
        return None if a is None or b is None else fn(a, b)

    return plain


def _shift(node: t.TShift) -> Fn:
    inner = compile_python(node.operand)
    if node.dtype.kind == "date":
        days = dt.timedelta(days=node.micros // DAY_MICROS)

        def shift_date(env: Env, el: Any) -> Any:
            v = inner(env, el)
            return None if v is None else v + days

        return shift_date
    delta = dt.timedelta(microseconds=node.micros)

    def shift(env: Env, el: Any) -> Any:
        v = inner(env, el)
        return None if v is None else as_datetime(v) + delta

    return shift


def _in(node: t.TIn) -> Fn:
    inner = compile_python(node.operand)
    values = frozenset(node.values)
    miss = None if node.has_null else False
    negated = node.negated
    as_float = node.operand.dtype.kind == "integer" and any(isinstance(v, float) for v in values)

    def in_(env: Env, el: Any) -> Any:
        v = inner(env, el)
        if v is None:
            return None
        if as_float:
            v = float(v)
        result = True if v in values else miss
        if negated and result is not None:
            return not result
        return result

    return in_


def _lookup(node: t.TLookup) -> Fn:
    key = compile_python(node.key)
    table = dict(zip(node.keys, node.values, strict=True))

    def lookup(env: Env, el: Any) -> Any:
        v = key(env, el)
        return None if v is None else table.get(v)

    return lookup


def _case(node: t.TCase) -> Fn:
    whens = [(compile_python(c), compile_python(v)) for c, v in node.whens]
    default = compile_python(node.default) if node.default is not None else None
    as_float = node.dtype.kind == "float"

    def case(env: Env, el: Any) -> Any:
        for cond, value in whens:
            if cond(env, el) is True:
                out = value(env, el)
                break
        else:
            out = default(env, el) if default is not None else None
        return float(out) if as_float and out is not None else out

    return case


def _func(node: t.TFunc) -> Fn:
    args = [compile_python(a) for a in node.args]
    return FUNCTION_TABLE[node.name].python(args, node)


def _aggregate(node: t.TAgg) -> Fn:
    source = compile_python(node.source)
    func = node.func
    where = compile_python(node.where) if node.where is not None else None
    value = compile_python(node.value) if node.value is not None else None
    if func == "count":
        if where is None:

            def count_all(env: Env, el: Any) -> Any:
                items = source(env, el)
                return None if items is None else len(items)

            return count_all
        cond = where

        def count(env: Env, el: Any) -> Any:
            items = source(env, el)
            if items is None:
                return None
            return sum(1 for item in items if cond(env, item) is True)

        return count
    if func in ("any", "all"):
        assert value is not None
        test = value
        stop = func == "any"  # any: a true decides; all: a false decides

        def kleene(env: Env, el: Any) -> Any:
            items = source(env, el)
            if items is None:
                return None
            unknown = False
            for item in items:
                v = test(env, item)
                if v is None:
                    unknown = True
                elif v is stop:
                    return stop
            return None if unknown else not stop

        return kleene
    assert value is not None
    get = value
    as_float = node.value is not None and node.value.dtype.kind == "float"
    empty = empty_value(node)

    def values(env: Env, items: list[Any]) -> list[Any]:
        out = []
        for item in items:
            if where is not None and where(env, item) is not True:
                continue
            v = get(env, item)
            if v is not None:
                out.append(float(v) if as_float else v)
        return out

    if func == "count_distinct":

        def distinct(env: Env, el: Any) -> Any:
            items = source(env, el)
            if items is None:
                return None
            # -0.0 + 0.0 is 0.0: both zeros are one value, as in the batch executor
            return len({v + 0.0 if as_float else v for v in values(env, items)})

        return distinct
    if func in ("sum", "avg"):

        def total(env: Env, el: Any) -> Any:
            items = source(env, el)
            if items is None:
                return None
            vals = values(env, items)
            if not vals:
                return (0.0 if as_float else 0) if func == "sum" else None
            acc = vals[0]
            for v in vals[1:]:
                acc = acc + v
            return acc if func == "sum" else float(acc) / len(vals)

        return total
    pick = min if func == "min" else max

    def extreme(env: Env, el: Any) -> Any:
        items = source(env, el)
        if items is None:
            return None
        vals = values(env, items)
        return pick(vals) if vals else empty

    return extreme
