"""Typed tree → one generated Python function, for the per-record executor.

:func:`compile_record` writes an expression as straight-line Python (local variables,
``if`` blocks, ``for`` loops over list elements) and compiles it once, so a decision runs
one function per expression instead of walking a tree of closures (a closure call per
node). The semantics are those of :mod:`kaskad.compile.expr.to_python`, line for line:
SQL three-valued logic, NULL on division by zero, mixed integer/float comparisons in
float, sums added from the first element. The closures stay the reference, and this
module embeds them for the nodes it does not write out itself (functions, LIKE, lookups,
time shifts, MIN/MAX, COUNT DISTINCT), and uses them whole when Python cannot compile
the generated code (an expression nested deeper than its parser allows).
"""

from __future__ import annotations

from typing import Any

from kaskad.compile.expr import typed as t
from kaskad.compile.expr.functions import Fn
from kaskad.compile.expr.to_python import compile_python

__all__ = ["compile_record", "source_of"]

_CMP = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ARITH = {"+", "-", "*"}
_AGGREGATES = {"count", "any", "all", "sum", "avg"}


def compile_record(node: t.TExpr) -> Fn:
    """A function ``(env, el) -> value`` computing ``node`` for one record."""
    gen = _Gen()
    try:
        code, names = gen.function(node)
        namespace: dict[str, Any] = dict(names)
        exec(compile(code, "<kaskad expression>", "exec"), namespace)
    except (SyntaxError, RecursionError, MemoryError):  # deeper than Python compiles
        return compile_python(node)
    fn: Fn = namespace["_expr"]
    return fn


def source_of(node: t.TExpr) -> str:
    """The generated source of ``node`` (for reading and for tests)."""
    return _Gen().function(node)[0]


class _Gen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.columns: dict[tuple[str, tuple[str, ...]], str] = {}
        self.known = set[str]()  # constants that are not NULL: no test for it
        self.count = 0

    def function(self, node: t.TExpr) -> tuple[str, dict[str, Any]]:
        # every field the expression reads, read once first (a read has no effect and
        # cannot fail: reading one a short-circuit skips costs less than reading one
        # again for every list element)
        for col in t.walk(node):
            if isinstance(col, t.TCol) and (col.column, col.path) not in self.columns:
                name = self.var()
                self.path(name, f"env.get({col.column!r})", col.path, 1)
                self.columns[(col.column, col.path)] = name
        result = self.value(node, 1, "el")
        params = "".join(f", {name}={name}" for name in self.consts)
        head = f"def _expr(env, el{params}):"
        return "\n".join([head, *self.lines, f"    return {result}"]), self.consts

    # ---- helpers --------------------------------------------------------------------

    def const(self, value: Any) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        if value is not None:
            self.known.add(name)
        return name

    def as_float(self, name: str) -> str:
        """``float(name)``, computed now for a numeric constant."""
        value = self.consts.get(name)
        if isinstance(value, (int, float)) and name in self.known:
            return self.const(float(value))
        return f"float({name})"

    def missing(self, *names: str) -> str:
        """A test that one of ``names`` is NULL ('False' when none can be)."""
        tests = [f"{n} is None" for n in names if n not in self.known]
        return " or ".join(tests) or "False"

    def var(self) -> str:
        self.count += 1
        return f"_v{self.count}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def path(self, target: str, start: str, path: tuple[str, ...], depth: int) -> None:
        """``target = start``, then one ``.get`` per part while the value is not NULL."""
        self.emit(depth, f"{target} = {start}")
        for part in path:
            self.emit(depth, f"if {target} is not None:")
            depth += 1
            self.emit(depth, f"{target} = {target}.get({part!r})")

    # ---- nodes ----------------------------------------------------------------------

    def value(self, node: t.TExpr, depth: int, el: str) -> str:
        """Emit the statements computing ``node`` at ``depth``; the name holding it."""
        if isinstance(node, t.TLit):
            return self.const(node.value)
        if isinstance(node, t.TCol):
            return self.columns[(node.column, node.path)]
        out = self.var()
        if isinstance(node, t.TElem):
            self.path(out, el, node.path, depth)
        elif isinstance(node, t.TUnary):
            a = self.value(node.operand, depth, el)
            op = "not " if node.op == "NOT" else "-"
            self.emit(depth, f"{out} = None if {a} is None else {op}{a}")
        elif isinstance(node, t.TBinary):
            self.binary(node, out, depth, el)
        elif isinstance(node, t.TIsNull):
            a = self.value(node.operand, depth, el)
            self.emit(depth, f"{out} = {a} is {'not ' if node.negated else ''}None")
        elif isinstance(node, t.TIn):
            self.in_(node, out, depth, el)
        elif isinstance(node, t.TCase):
            self.case(node, out, depth, el)
        elif isinstance(node, t.TAgg) and node.func in _AGGREGATES:
            self.aggregate(node, out, depth, el)
        else:  # the closure, called from the generated code
            self.emit(depth, f"{out} = {self.const(compile_python(node))}(env, {el})")
        return out

    def binary(self, node: t.TBinary, out: str, depth: int, el: str) -> None:
        op = node.op
        a = self.value(node.left, depth, el)
        if op in ("AND", "OR"):
            stop, other = ("False", "True") if op == "AND" else ("True", "False")
            self.emit(depth, f"if {a} is {stop}:")
            self.emit(depth + 1, f"{out} = {stop}")
            self.emit(depth, "else:")
            b = self.value(node.right, depth + 1, el)
            self.emit(depth + 1, f"if {b} is {stop}:")
            self.emit(depth + 2, f"{out} = {stop}")
            self.emit(depth + 1, "else:")
            self.emit(depth + 2, f"{out} = None if {self.missing(a, b)} else {other}")
            return
        b = self.value(node.right, depth, el)
        missing = self.missing(a, b)
        if op == "/":
            x, y = self.as_float(a), self.as_float(b)
            self.emit(depth, f"{out} = None if {missing} or {b} == 0 else {x} / {y}")
            return
        if op == "||":
            self.emit(depth, f"{out} = None if {missing} else {a} + {b}")
            return
        if op in _ARITH:
            as_float = node.dtype.kind == "float"
            symbol = op
        else:
            as_float = node.left.dtype.is_numeric and node.left.dtype.kind != node.right.dtype.kind
            symbol = _CMP[op]
        x, y = (self.as_float(a), self.as_float(b)) if as_float else (a, b)
        self.emit(depth, f"{out} = None if {missing} else {x} {symbol} {y}")

    def in_(self, node: t.TIn, out: str, depth: int, el: str) -> None:
        a = self.value(node.operand, depth, el)
        values = self.const(frozenset(node.values))
        miss = "None" if node.has_null else "False"
        as_float = node.operand.dtype.kind == "integer" and any(
            isinstance(v, float) for v in node.values
        )
        key = f"float({a})" if as_float else a
        self.emit(depth, f"if {a} is None:")
        self.emit(depth + 1, f"{out} = None")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{out} = True if {key} in {values} else {miss}")
        if node.negated:
            self.emit(depth + 1, f"if {out} is not None:")
            self.emit(depth + 2, f"{out} = not {out}")

    def case(self, node: t.TCase, out: str, depth: int, el: str) -> None:
        level = depth
        for cond, value in node.whens:
            c = self.value(cond, level, el)
            self.emit(level, f"if {c} is True:")
            v = self.value(value, level + 1, el)
            self.emit(level + 1, f"{out} = {v}")
            self.emit(level, "else:")
            level += 1
        if node.default is not None:
            d = self.value(node.default, level, el)
            self.emit(level, f"{out} = {d}")
        else:
            self.emit(level, f"{out} = None")
        if node.dtype.kind == "float":
            self.emit(depth, f"if {out} is not None:")
            self.emit(depth + 1, f"{out} = float({out})")

    def aggregate(self, node: t.TAgg, out: str, depth: int, el: str) -> None:
        items = self.value(node.source, depth, el)
        func = node.func
        self.emit(depth, f"if {items} is None:")
        self.emit(depth + 1, f"{out} = None")
        self.emit(depth, "else:")
        body = depth + 1
        if func == "count" and node.where is None:
            self.emit(body, f"{out} = len({items})")
            return
        item = self.var()
        if func == "count":
            assert node.where is not None
            self.emit(body, f"{out} = 0")
            self.emit(body, f"for {item} in {items}:")
            w = self.value(node.where, body + 1, item)
            self.emit(body + 1, f"if {w} is True:")
            self.emit(body + 2, f"{out} += 1")
            return
        assert node.value is not None
        if func in ("any", "all"):
            stop = func == "any"  # any: a true decides; all: a false decides
            unknown = self.var()
            self.emit(body, f"{unknown} = False")
            self.emit(body, f"for {item} in {items}:")
            v = self.value(node.value, body + 1, item)
            self.emit(body + 1, f"if {v} is None:")
            self.emit(body + 2, f"{unknown} = True")
            self.emit(body + 1, f"elif {v} is {stop}:")
            self.emit(body + 2, f"{out} = {stop}")
            self.emit(body + 2, "break")
            self.emit(body, "else:")
            self.emit(body + 1, f"{out} = None if {unknown} else {not stop}")
            return
        # sum / avg: the kept values added one after another from the first
        as_float = node.value.dtype.kind == "float"
        acc, n = self.var(), self.var()
        self.emit(body, f"{acc} = None")
        self.emit(body, f"{n} = 0")
        self.emit(body, f"for {item} in {items}:")
        inner = body + 1
        if node.where is not None:
            w = self.value(node.where, inner, item)
            self.emit(inner, f"if {w} is not True:")
            self.emit(inner + 1, "continue")
        v = self.value(node.value, inner, item)
        self.emit(inner, f"if {v} is None:")
        self.emit(inner + 1, "continue")
        x = f"float({v})" if as_float else v
        self.emit(inner, f"{acc} = {x} if {n} == 0 else {acc} + {x}")
        self.emit(inner, f"{n} += 1")
        if func == "sum":
            self.emit(body, f"{out} = ({'0.0' if as_float else '0'}) if {n} == 0 else {acc}")
        else:
            self.emit(body, f"{out} = None if {n} == 0 else float({acc}) / {n}")
