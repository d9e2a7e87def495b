"""Name resolution and type checking: syntax tree + scope → typed tree.

Every problem in one expression is collected; a node that failed gets the ``any``
type so that one mistake is reported once, not again by every operator above it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kaskad.compile.expr import ast, reflists
from kaskad.compile.expr import typed as t
from kaskad.compile.expr.functions import AGGREGATES, FUNCTION_TABLE, FUNCTIONS
from kaskad.spec.reflist import RefList
from kaskad.spec.timezone import zone
from kaskad.spec.types import ANY, BOOLEAN, DATE, DATETIME, FLOAT, INTEGER, NULL, STRING, DType


@dataclass(frozen=True)
class CheckIssue:
    code: str
    message: str
    span: ast.Span
    hint: str | None = None


@dataclass
class Scope:
    """Names visible to an expression: frame columns with their types."""

    columns: Mapping[str, DType]
    element: DType | None = None  # inside an aggregate: the list's item type
    element_name: str = ""
    uses_outer: list[bool] = field(default_factory=list)
    # reference lists by name (None: a list that could not be read, reported already)
    lists: Mapping[str, RefList | None] = field(default_factory=dict)

    def known_names(self) -> list[str]:
        names: list[str] = []
        for name, dtype in self.columns.items():
            names.append(name)
            names.extend(_nested_names(name, dtype))
        if self.element is not None:
            names.extend(f.name for f in self.element.fields)
        return names


def _nested_names(prefix: str, dtype: DType) -> list[str]:
    out: list[str] = []
    for f in dtype.fields if dtype.kind == "object" else ():
        out.append(f"{prefix}.{f.name}")
        out.extend(_nested_names(f"{prefix}.{f.name}", f.dtype))
    return out


def suggest(name: str, known: list[str]) -> str | None:
    """A 'did you mean' hint, comparing whole names and their last part."""
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not matches:
        last = {k.rsplit(".", 1)[-1]: k for k in known}
        hit = difflib.get_close_matches(name.rsplit(".", 1)[-1], list(last), n=1, cutoff=0.75)
        matches = [last[hit[0]]] if hit else []
    return f"did you mean '{matches[0]}'?" if matches else None


def unify(a: DType, b: DType) -> DType | None:
    """Common type of two branches (CASE, COALESCE), or None when incompatible."""
    if a.kind == "any" or b.kind == "null":
        return a
    if b.kind == "any" or a.kind == "null":
        return b
    if a.is_numeric and b.is_numeric:
        return FLOAT if "float" in (a.kind, b.kind) else INTEGER
    if a.is_textual and b.is_textual:
        if a.kind == b.kind == "category":
            return DType("category", values=tuple(dict.fromkeys(a.values + b.values)))
        return STRING
    if a.kind == b.kind and a.kind not in ("object", "list"):
        return a
    return None


def like_to_regex(pattern: str) -> str:
    """SQL LIKE pattern → regular expression body (without anchors)."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


class Checker:
    """Resolves names and checks types of one expression."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.issues: list[CheckIssue] = []

    def fail(self, code: str, message: str, span: ast.Span, hint: str | None = None) -> t.TExpr:
        self.issues.append(CheckIssue(code, message, span, hint))
        return t.TLit(ANY, None)

    def check(self, node: ast.Node) -> t.TExpr:
        method = getattr(self, "_" + type(node).__name__.lower())
        result: t.TExpr = method(node)
        return result

    def check_boolean(self, node: ast.Node, what: str) -> t.TExpr:
        expr = self.check(node)
        if expr.dtype.kind not in ("boolean", "any", "null"):
            return self.fail(
                "K207", f"{what} must be true or false, but this is {expr.dtype}", node.span
            )
        return expr

    # ---- leaves -------------------------------------------------------------------------

    def _literal(self, node: ast.Literal) -> t.TExpr:
        return t.TLit(DType(node.kind), node.value)

    def _path(self, node: ast.Path) -> t.TExpr:
        parts = node.parts
        scope = self.scope
        if scope.element is not None:
            if scope.element.kind != "object":
                if parts == (scope.element_name,) or parts == ("value",):
                    return t.TElem(scope.element, ())
            elif scope.element.field(parts[0]) is not None:
                dtype = self._descend(scope.element, parts, node, "")
                return t.TElem(dtype, parts) if dtype is not None else t.TLit(ANY, None)
        for i in range(len(parts), 0, -1):
            name = ".".join(parts[:i])
            if name in scope.columns:
                base = scope.columns[name]
                rest = parts[i:]
                if scope.element is not None:
                    scope.uses_outer.append(True)
                if not rest:
                    return t.TCol(base, name, ())
                dtype = self._descend(base, rest, node, name)
                if dtype is None:
                    return t.TLit(ANY, None)
                return t.TCol(dtype, name, rest)
        return self.fail(
            "K202",
            f"unknown field '{node.dotted}'",
            node.span,
            suggest(node.dotted, scope.known_names()),
        )

    def _descend(
        self,
        dtype: DType,
        rest: tuple[str, ...],
        node: ast.Path,
        prefix: str,
    ) -> DType | None:
        """Follow ``rest`` through nested objects of ``dtype`` (reached by ``prefix``)."""
        current = dtype
        walked = [prefix] if prefix else []
        for part in rest:
            where = ".".join(walked) or "the list element"
            if current.kind == "any":  # a step that failed: it was reported already
                return current
            if current.kind == "list":
                self.fail(
                    "K208",
                    f"'{where}' is a list; use an aggregate such as "
                    f"count({where} WHERE ...) or sum({where}.field)",
                    node.span,
                )
                return None
            if current.kind != "object":
                self.fail("K202", f"'{where}' is {current}, it has no field '{part}'", node.span)
                return None
            f = current.field(part)
            if f is None:
                known = [x.name for x in current.fields]
                self.fail(
                    "K202",
                    f"unknown field '{node.dotted}' ({where} has no '{part}')",
                    node.span,
                    suggest(part, known),
                )
                return None
            walked.append(part)
            current = f.dtype
        return current

    # ---- operators ----------------------------------------------------------------------

    def _unary(self, node: ast.Unary) -> t.TExpr:
        if node.op == "NOT":
            operand = self.check_boolean(node.operand, "the operand of NOT")
            return t.TUnary(BOOLEAN, "NOT", operand)
        operand = self.check(node.operand)
        if operand.dtype.kind not in ("integer", "float", "any", "null"):
            return self.fail("K203", f"cannot negate {operand.dtype}", node.span)
        return t.TUnary(operand.dtype if operand.dtype.kind != "null" else INTEGER, "-", operand)

    def _interval(self, node: ast.Interval) -> t.TExpr:
        return self.fail(
            "K203",
            "an interval can only be added to or subtracted from a date or datetime",
            node.span,
            "write ts - INTERVAL '1 hour' or d + INTERVAL '7 days'",
        )

    def _shift(self, node: ast.Binary) -> t.TExpr:
        """``date/datetime ± INTERVAL '...'`` (and ``INTERVAL '...' + date/datetime``)."""
        left, right = node.left, node.right
        if isinstance(left, ast.Interval):
            if node.op == "-" or isinstance(right, ast.Interval):
                return self.fail(
                    "K203", "an interval can only be subtracted from a date or datetime", node.span
                )
            left, right = right, left
        assert isinstance(right, ast.Interval)
        if isinstance(left, ast.Interval):
            return self._interval(left)
        operand = self.check(left)
        kind = operand.dtype.kind
        if kind == "any":
            return operand
        if kind not in ("date", "datetime", "null"):
            return self.fail(
                "K203",
                f"an interval moves a date or datetime, but this is {operand.dtype}",
                left.span,
            )
        dtype = DATE if kind == "date" and right.whole_days else DATETIME
        if kind == "datetime" and operand.dtype.tz:
            dtype = operand.dtype  # the moved time stays in its zone
        micros = -right.micros if node.op == "-" else right.micros
        return t.TShift(dtype, operand, micros)

    def _infield(self, node: ast.InField) -> t.TExpr:
        """``x IN list_field``: true when an element equals x (SQL ``= ANY``); or ``x IN
        name`` of a reference list (:mod:`~kaskad.compile.expr.reflists`)."""
        if reflists.names_list(self, node):
            return reflists.in_list(self, node)
        if self.scope.element is not None:
            return self.fail(
                "K208", "IN a list field cannot be used inside an aggregate", node.span
            )
        operand = self.check(node.operand)
        source, rest = self._list_source(node.source)
        if source is None:
            return t.TLit(ANY, None)
        item = source.dtype.item or ANY
        if rest or item.kind in ("object", "list"):
            return self.fail(
                "K203",
                f"IN needs a list of values, but '{node.source.dotted}' is {source.dtype}",
                node.source.span,
                "for lists of objects use any(LIST WHERE field = value)",
            )
        if any(isinstance(n, t.TAgg) for n in t.walk(operand)):
            return self.fail(
                "K208", "the value before IN a list field cannot hold an aggregate", node.span
            )
        if "any" in (operand.dtype.kind, item.kind):
            return t.TLit(ANY, None)
        if operand.dtype.kind in ("object", "list", "boolean", "null"):
            return self.fail("K203", f"IN does not apply to {operand.dtype}", node.operand.span)
        if operand.dtype.family() != item.family():
            return self.fail("K203", f"cannot compare {operand.dtype} with {item}", node.span)
        cond = t.TBinary(BOOLEAN, "=", operand, t.TElem(item, ()))
        outer = bool(t.columns_used(operand))
        found = t.TAgg(BOOLEAN, "any", source, cond, None, outer)
        return t.TUnary(BOOLEAN, "NOT", found) if node.negated else found

    def _binary(self, node: ast.Binary) -> t.TExpr:
        op = node.op
        if op in ("+", "-") and (
            isinstance(node.left, ast.Interval) or isinstance(node.right, ast.Interval)
        ):
            return self._shift(node)
        if op in ("AND", "OR"):
            left = self.check_boolean(node.left, f"each side of {op}")
            right = self.check_boolean(node.right, f"each side of {op}")
            return t.TBinary(BOOLEAN, op, left, right)
        left = self.check(node.left)
        right = self.check(node.right)
        lk, rk = left.dtype.kind, right.dtype.kind
        if "any" in (lk, rk):
            return t.TBinary(ANY if op not in _COMPARE else BOOLEAN, op, left, right)
        if op == "||":
            for side, e in ((node.left, left), (node.right, right)):
                if not (e.dtype.is_textual or e.dtype.kind == "null"):
                    return self.fail(
                        "K203",
                        f"|| joins text, but this is {e.dtype}",
                        side.span,
                        "convert numbers with CASE or compare them directly",
                    )
            return t.TBinary(STRING, op, left, right)
        if op in _COMPARE:
            return self._compare(node, op, left, right)
        # arithmetic
        for side, e in ((node.left, left), (node.right, right)):
            if not (e.dtype.is_numeric or e.dtype.kind == "null"):
                hint = (
                    "use days_between(a, b) for dates"
                    if e.dtype.kind in ("date", "datetime")
                    else None
                )
                return self.fail(
                    "K203", f"'{op}' needs numbers, but this is {e.dtype}", side.span, hint
                )
        if op == "/":
            return t.TBinary(FLOAT, op, left, right)
        if op == "%":
            return self.fail("K203", "'%' is not supported; use arithmetic instead", node.span)
        result = FLOAT if "float" in (lk, rk) else INTEGER
        return t.TBinary(result, op, left, right)

    def _compare(self, node: ast.Binary, op: str, left: t.TExpr, right: t.TExpr) -> t.TExpr:
        left, right = _local_literal(left, right.dtype), _local_literal(right, left.dtype)
        lt, rt = left.dtype, right.dtype
        if "null" in (lt.kind, rt.kind):
            return self.fail(
                "K203", f"'{op} NULL' is never true; use IS NULL or IS NOT NULL", node.span
            )
        if lt.family() != rt.family() or lt.kind in ("object", "list"):
            hint = None
            if {lt.family(), rt.family()} == {"date", "text"}:
                hint = "write date constants as DATE 'YYYY-MM-DD'"
            quoted = right if isinstance(right, t.TLit) else left
            if (
                {lt.family(), rt.family()} == {"number", "text"}
                and isinstance(quoted, t.TLit)
                and isinstance(quoted.value, str)
                and _is_number(quoted.value)
            ):
                hint = f"write the number without quotes: {quoted.value}"
            return self.fail("K203", f"cannot compare {lt} with {rt}", node.span, hint)
        self._check_category(left, right, node.right)
        self._check_category(right, left, node.left)
        return t.TBinary(BOOLEAN, op, left, right)

    def _check_category(self, field_expr: t.TExpr, other: t.TExpr, other_node: ast.Node) -> None:
        if field_expr.dtype.kind != "category" or not isinstance(other, t.TLit):
            return
        if isinstance(other.value, str) and other.value not in field_expr.dtype.values:
            allowed = ", ".join(f"'{v}'" for v in field_expr.dtype.values)
            close = difflib.get_close_matches(other.value, list(field_expr.dtype.values), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed values: {allowed}"
            self.fail(
                "K206",
                f"'{other.value}' is not an allowed value ({allowed})",
                other_node.span,
                hint,
            )

    def _inlist(self, node: ast.InList) -> t.TExpr:
        if not all(isinstance(item, ast.Literal) for item in node.items):
            return self._in_computed(node)
        operand = self.check(node.operand)
        values: list[object] = []
        has_null = False
        for item in node.items:
            if not isinstance(item, ast.Literal):
                self.fail(
                    "K209",
                    "IN lists hold constants only",
                    item.span,
                    "compare with OR for computed values",
                )
                continue
            lit = self._literal(item)
            assert isinstance(lit, t.TLit)
            if item.kind == "null":
                has_null = True
                continue
            if operand.dtype.kind != "any" and lit.dtype.family() != operand.dtype.family():
                self.fail("K203", f"cannot compare {operand.dtype} with {lit.dtype}", item.span)
                continue
            self._check_category(operand, lit, item)
            values.append(lit.value)
        if operand.dtype.kind in ("object", "list", "boolean"):
            return self.fail("K203", f"IN does not apply to {operand.dtype}", node.operand.span)
        if operand.dtype.kind == "float" or (
            operand.dtype.kind == "integer" and any(isinstance(v, float) for v in values)
        ):
            values = [float(v) for v in values]  # type: ignore[arg-type]
        return t.TIn(BOOLEAN, operand, tuple(values), has_null, node.negated)

    def _in_computed(self, node: ast.InList) -> t.TExpr:
        """``x IN (a, field, ...)`` with fields or expressions: ``x = a OR x = field ...``,
        which is SQL's meaning, missing values included."""

        def equals(item: ast.Node) -> ast.Node:
            if isinstance(item, ast.Literal) and item.kind == "null":
                return item  # x = NULL is unknown
            return ast.Binary(item.span, "=", node.operand, item)

        test = equals(node.items[0])
        for item in node.items[1:]:
            test = ast.Binary(node.span, "OR", test, equals(item))
        found = self.check_boolean(test, "IN")
        return t.TUnary(BOOLEAN, "NOT", found) if node.negated else found

    def _between(self, node: ast.Between) -> t.TExpr:
        low = ast.Binary(node.span, ">=", node.operand, node.low)
        high = ast.Binary(node.span, "<=", node.operand, node.high)
        both = self._binary(ast.Binary(node.span, "AND", low, high))
        return t.TUnary(BOOLEAN, "NOT", both) if node.negated else both

    def _isnull(self, node: ast.IsNull) -> t.TExpr:
        return t.TIsNull(BOOLEAN, self.check(node.operand), node.negated)

    def _like(self, node: ast.Like) -> t.TExpr:
        operand = self.check(node.operand)
        if not operand.dtype.is_textual and operand.dtype.kind not in ("any", "null"):
            return self.fail(
                "K203", f"LIKE matches text, but this is {operand.dtype}", node.operand.span
            )
        if not (isinstance(node.pattern, ast.Literal) and node.pattern.kind == "string"):
            return self.fail(
                "K209", "the LIKE pattern must be a 'text' constant", node.pattern.span
            )
        regex = like_to_regex(str(node.pattern.value))
        return t.TLike(BOOLEAN, operand, regex, node.negated, node.case_insensitive)

    def _case(self, node: ast.Case) -> t.TExpr:
        whens: list[tuple[t.TExpr, t.TExpr]] = []
        result: DType | None = NULL
        for cond_node, value_node in node.whens:
            if node.subject is not None:
                cond = self._binary(ast.Binary(cond_node.span, "=", node.subject, cond_node))
            else:
                cond = self.check_boolean(cond_node, "a WHEN condition")
            value = self.check(value_node)
            result = self._unify_into(result, value, value_node)
            whens.append((cond, value))
        default = None
        if node.default is not None:
            default = self.check(node.default)
            result = self._unify_into(result, default, node.default)
        if result is None:
            return t.TLit(ANY, None)
        if result.kind == "null":
            result = STRING
        return t.TCase(result, tuple(whens), default)

    def _unify_into(self, acc: DType | None, value: t.TExpr, node: ast.Node) -> DType | None:
        if acc is None:
            return None
        merged = unify(acc, value.dtype)
        if merged is None:
            self.fail("K203", f"branches mix {acc} and {value.dtype}", node.span)
        return merged

    # ---- calls --------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> t.TExpr:
        if node.name in AGGREGATES:
            return self._aggregate(node)
        if node.name == "lookup":
            return reflists.lookup(self, node)
        if node.where is not None:
            return self.fail(
                "K208", f"WHERE applies to aggregates only, not {node.name}()", node.span
            )
        func = FUNCTION_TABLE.get(node.name)
        if func is None:
            return self.fail(
                "K204",
                f"unknown function '{node.name}'",
                node.name_span,
                suggest(node.name, list(FUNCTIONS)),
            )
        if not func.min_args <= len(node.args) <= func.max_args:
            return self.fail(
                "K205",
                f"{node.name}() takes {func.arity()} argument(s), got {len(node.args)}",
                node.span,
            )
        args = tuple(self.check(a) for a in node.args)
        if any(a.dtype.kind == "any" for a in args):
            return t.TLit(ANY, None)
        result = func.typing(_ArgTypes(self, node, args))
        return t.TLit(ANY, None) if result is None else t.TFunc(result, node.name, args)

    def _aggregate(self, node: ast.Call) -> t.TExpr:
        func = node.name
        if self.scope.element is not None:
            return self.fail(
                "K208", "aggregates cannot be nested inside another aggregate", node.span
            )
        if not node.args or len(node.args) > 2 or not isinstance(node.args[0], ast.Path):
            return self.fail(
                "K208",
                f"write {func}(LIST [, VALUE] [WHERE CONDITION]), where LIST is a list field",
                node.span,
            )
        path = node.args[0]
        assert isinstance(path, ast.Path)
        source, rest = self._list_source(path)
        if source is None:
            return t.TLit(ANY, None)
        item = source.dtype.item or ANY
        inner = Scope(self.scope.columns, item, path.parts[-1], lists=self.scope.lists)
        sub = Checker(inner)
        value: t.TExpr | None = None
        value_node: ast.Node | None = None
        if rest:
            value_node = ast.Path(path.span, rest)
        if len(node.args) == 2:
            if rest:
                return self.fail(
                    "K208", "give either LIST.field or LIST, VALUE, not both", node.span
                )
            value_node = node.args[1]
        if value_node is not None:
            value = sub.check(value_node)
        where = sub.check_boolean(node.where, "a WHERE condition") if node.where else None
        self.issues.extend(sub.issues)
        outer = bool(inner.uses_outer)
        if func == "count":
            if value is not None:
                return self.fail(
                    "K208",
                    "count() counts list elements: write count(LIST WHERE CONDITION)",
                    node.span,
                )
            return t.TAgg(INTEGER, func, source, None, where, outer)
        if func in ("any", "all"):
            if value is None and where is None:
                return self.fail(
                    "K208", f"{func}() needs a condition: {func}(LIST WHERE ...)", node.span
                )
            if value is not None and where is not None:
                return self.fail("K208", f"{func}() takes one condition", node.span)
            cond = value if value is not None else where
            assert cond is not None
            if cond.dtype.kind not in ("boolean", "any"):
                return self.fail("K207", f"{func}() needs a true/false condition", node.span)
            return t.TAgg(BOOLEAN, func, source, cond, None, outer)
        if value is None:
            return self.fail(
                "K208",
                f"{func}() needs a value: {func}(LIST.field) or {func}(LIST, expression)",
                node.span,
            )
        if value.dtype.kind == "any":
            return t.TLit(ANY, None)
        if func == "count_distinct":
            if value.dtype.kind in ("object", "list"):
                return self.fail(
                    "K203", f"count_distinct() cannot compare {value.dtype}", node.span
                )
            return t.TAgg(INTEGER, func, source, value, where, outer)
        if func in ("sum", "avg") and not value.dtype.is_numeric:
            return self.fail(
                "K203", f"{func}() needs numbers, but the value is {value.dtype}", node.span
            )
        if func in ("min", "max") and value.dtype.kind in ("object", "list", "boolean"):
            return self.fail("K203", f"{func}() cannot order {value.dtype}", node.span)
        dtype = FLOAT if func == "avg" else value.dtype
        return t.TAgg(dtype, func, source, value, where, outer)

    def _list_source(self, path: ast.Path) -> tuple[t.TCol | None, tuple[str, ...]]:
        """Split ``transactions.amount`` into the list field and the path inside elements."""
        parts = path.parts
        for i in range(1, len(parts) + 1):
            prefix = ast.Path(path.span, parts[:i])
            sub = Checker(Scope(self.scope.columns))
            resolved = sub._path(prefix)
            if sub.issues:
                continue
            if resolved.dtype.kind == "list":
                assert isinstance(resolved, t.TCol)
                return resolved, parts[i:]
        resolved = self.check(path)
        if resolved.dtype.kind != "any":
            self.fail("K208", f"'{path.dotted}' is {resolved.dtype}, not a list", path.span)
        return None, ()


class _ArgTypes:
    """The checks a function's typing rule runs on its arguments (see ``functions.py``)."""

    def __init__(self, checker: Checker, node: ast.Call, args: tuple[t.TExpr, ...]) -> None:
        self.checker = checker
        self.node = node
        self.args = args

    def fail(self, code: str, message: str, i: int) -> None:
        self.checker.fail(code, message, self.node.args[i].span)

    def _need(self, i: int, ok: bool, what: str) -> bool:
        if not ok:
            self.fail(
                "K203",
                f"{self.node.name}() needs {what}, but argument {i + 1} is {self.args[i].dtype}",
                i,
            )
        return ok

    def number(self, i: int) -> bool:
        dtype = self.args[i].dtype
        return self._need(i, dtype.is_numeric or dtype.kind == "null", "a number")

    def text(self, i: int) -> bool:
        dtype = self.args[i].dtype
        return self._need(i, dtype.is_textual or dtype.kind == "null", "text")

    def date(self, i: int) -> bool:
        return self._need(i, self.args[i].dtype.kind in ("date", "datetime", "null"), "a date")

    def datetime(self, i: int) -> bool:
        return self._need(i, self.args[i].dtype.kind in ("datetime", "null"), "a datetime")

    def common(self) -> DType | None:
        result: DType | None = NULL
        for arg, arg_node in zip(self.args, self.node.args, strict=True):
            result = self.checker._unify_into(result, arg, arg_node)
        return result


def _local_literal(lit: t.TExpr, other: DType) -> t.TExpr:
    """A ``TIMESTAMP '…'`` compared with a datetime in a time zone is a local time there:
    the constant in UTC, as the datetime is held (the earlier of a repeated hour)."""
    if not (isinstance(lit, t.TLit) and lit.dtype.kind == "datetime" and not lit.dtype.tz):
        return lit
    if other.kind != "datetime" or not other.tz:
        return lit
    value = lit.value.replace(tzinfo=zone(other.tz)).astimezone(dt.UTC).replace(tzinfo=None)
    return t.TLit(other, value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_COMPARE = ("=", "!=", "<", "<=", ">", ">=")


def check_expression(
    node: ast.Node,
    scope: Scope,
    boolean: str | None = None,
) -> tuple[t.TExpr, list[CheckIssue]]:
    """Type-check one parsed expression. ``boolean`` names the context when a condition."""
    checker = Checker(scope)
    expr = checker.check_boolean(node, boolean) if boolean else checker.check(node)
    return expr, checker.issues


__all__ = [
    "CheckIssue",
    "Scope",
    "check_expression",
    "suggest",
    "unify",
]
