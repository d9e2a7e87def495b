"""A decision table spec → a :class:`~kaskad.compile.plan.TableNode` of typed expressions.

Each unary test is translated (:mod:`kaskad.compile.unary`) into an expression over the
input's value, parsed and typed by the rule language's own parser and checker, and the
input's typed expression is put where ``?`` stood. A rule's tests are joined with AND, so
a rule reads NULL (unknown) exactly when a test it needs cannot be decided.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kaskad.compile.expr import ast
from kaskad.compile.expr import typed as t
from kaskad.compile.expr.check import Scope, check_expression
from kaskad.compile.expr.parser import ExprSyntaxError, parse
from kaskad.compile.naming import TABLE_MATCHED, TABLE_UNKNOWN, table_column
from kaskad.compile.plan import TableNode, TableOutput, TableRule
from kaskad.compile.unary import PLACEHOLDER, Shape, UnaryTestError, translate
from kaskad.errors import Location, Problem
from kaskad.spec.table import Cell, TableSpec
from kaskad.spec.types import BOOLEAN, FLOAT, DType

__all__ = ["compile_table", "table_expression_texts", "table_outputs", "test_shapes"]

_TYPES = {"string": "string", "integer": "integer", "float": "float", "boolean": "boolean"}
_ACCEPTS = {
    "string": ("string", "category", "null"),
    "integer": ("integer", "null"),
    "float": ("integer", "float", "null"),
    "boolean": ("boolean", "null"),
}


def table_outputs(spec: TableSpec) -> list[str]:
    """The result fields a table gives, in order."""
    out = [table_column(spec.name, o.id) for o in spec.outputs]
    return [*out, table_column(spec.name, TABLE_MATCHED), table_column(spec.name, TABLE_UNKNOWN)]


def table_expression_texts(spec: TableSpec) -> list[str]:
    """Every expression text of the table (tests translated), to find what it reads."""
    texts = [i.expr.text for i in spec.inputs]
    for rule in spec.rules:
        for cell in rule.when:
            try:
                text, _ = translate(cell.text)
            except UnaryTestError:
                continue
            if text is not None:
                texts.append(text)
        texts.extend(c.text for c in rule.then)
    texts.extend(c.text for c in spec.default or ())
    return texts


def test_shapes(spec: TableSpec) -> list[list[Shape | None]]:
    """Per rule, per input: the shape of its test (None: not analysable)."""
    out: list[list[Shape | None]] = []
    for rule in spec.rules:
        row: list[Shape | None] = []
        for cell in rule.when:
            try:
                row.append(translate(cell.text)[1])
            except UnaryTestError:
                row.append(None)
        out.append(row)
    return out


class _Typer:
    def __init__(self, columns: Mapping[str, DType], problems: list[Problem]) -> None:
        self.columns = columns
        self.problems = problems
        self.ok = True

    def fail(self, code: str, message: str, loc: Location, hint: str | None = None) -> None:
        self.problems.append(Problem(code, message, loc, hint))
        self.ok = False

    def typed(
        self, text: str, loc: Location, extra: Mapping[str, DType] | None = None
    ) -> t.TExpr | None:
        try:
            node: ast.Node = parse(text)
        except ExprSyntaxError as exc:
            shown = text.replace(PLACEHOLDER, "?")
            self.fail(exc.code, f"syntax error in '{shown}': {exc.message}", loc, exc.hint)
            return None
        columns = {**self.columns, **(extra or {})}
        expr, issues = check_expression(node, Scope(columns))
        for issue in issues:
            hint = issue.hint
            if issue.code == "K202":  # YAML drops the quotes of ['auto', ...]
                hint = f"{hint}; text is " if hint else "text is "
                hint += "written in single quotes, in YAML inside double ones: \"'auto'\""
            self.fail(issue.code, issue.message.replace(PLACEHOLDER, "?"), loc, hint)
        return None if issues else expr


def compile_table(
    spec: TableSpec, columns: Mapping[str, DType], problems: list[Problem]
) -> TableNode | None:
    """The table's node, or None after reporting every problem found."""
    typer = _Typer(columns, problems)
    inputs: list[tuple[str, t.TExpr]] = []
    for i in spec.inputs:
        expr = typer.typed(i.expr.text, i.expr.location)
        if expr is not None:
            inputs.append((i.id, expr))
    outputs = [
        TableOutput(o.id, DType(_TYPES[o.type]), tuple(o.values))  # type: ignore[arg-type]
        for o in spec.outputs
    ]
    _check_aggregator(spec, outputs, typer)
    if spec.default is not None and (not spec.single_hit or spec.aggregator is not None):
        typer.fail(
            "K220",
            f"'default' gives the outputs of a single-hit table; {spec.hit_policy} "
            "gives lists or aggregates (no match: an empty list, COUNT 0, else NULL)",
            spec.location,
        )
    if not typer.ok:
        return None
    rules = [_rule(spec, r, inputs, outputs, typer) for r in spec.rules]
    default = None
    if spec.default is not None:
        default = tuple(
            _output(c, o, typer) or t.TLit(o.dtype, None)
            for c, o in zip(spec.default, outputs, strict=True)
        )
    if not typer.ok or any(r is None for r in rules):
        return None
    done = [r for r in rules if r is not None]
    order = _order(spec, done, outputs, typer)
    if order is None:
        return None
    return TableNode(
        spec.name,
        spec.description,
        spec.hit_policy,
        spec.on_missing,
        tuple(inputs),
        tuple(outputs),
        tuple(done),
        order,
        default,
        spec.ref,
    )


def _check_aggregator(spec: TableSpec, outputs: list[TableOutput], typer: _Typer) -> None:
    agg = spec.aggregator
    for o in outputs:
        if agg == "SUM" and not o.dtype.is_numeric:
            typer.fail(
                "K229", f"COLLECT SUM needs number outputs; '{o.id}' is {o.dtype}", spec.location
            )
        if agg in ("MIN", "MAX") and o.dtype.kind == "boolean":
            typer.fail(
                "K229",
                f"COLLECT {agg} needs number or text outputs; '{o.id}' is boolean",
                spec.location,
            )


def _rule(
    spec: TableSpec,
    rule: Any,
    inputs: list[tuple[str, t.TExpr]],
    outputs: list[TableOutput],
    typer: _Typer,
) -> TableRule | None:
    tests: list[t.TExpr] = []
    ok = True
    for cell, (_, value) in zip(rule.when, inputs, strict=True):
        test = _test(cell, value, typer)
        if test is False:
            ok = False
        elif test is not True:
            tests.append(test)
    then = [_output(c, o, typer) for c, o in zip(rule.then, outputs, strict=True)]
    if not ok or any(e is None for e in then):
        return None
    when: t.TExpr | None = None
    for test in tests:
        when = test if when is None else t.TBinary(BOOLEAN, "AND", when, test)
    text = "; ".join(f"{i}: {c.text}" for (i, _), c in zip(inputs, rule.when, strict=True))
    return TableRule(rule.id, when, tuple(e for e in then if e is not None), rule.annotation, text)


def _test(cell: Cell, value: t.TExpr, typer: _Typer) -> t.TExpr | bool:
    """The test's boolean expression over ``value``; True for ``-``, False on a problem."""
    try:
        text, _ = translate(cell.text)
    except UnaryTestError as exc:
        typer.fail("K223", f"unary test '{cell.text}': {exc}", cell.location, _TEST_HINT)
        return False
    if text is None:
        return True
    typed = typer.typed(text, cell.location, {PLACEHOLDER: value.dtype})
    if typed is None:
        return False
    if typed.dtype.kind not in ("boolean", "null", "any"):
        typer.fail("K223", f"unary test '{cell.text}' is not true/false", cell.location, _TEST_HINT)
        return False
    return substitute(typed, value)


_TEST_HINT = (
    "write '-', '< 18', '[18..25)', \"'a','b'\", 'not(...)', or an expression with ? "
    "for the input's value"
)


def substitute(expr: t.TExpr, value: t.TExpr) -> t.TExpr:
    """``expr`` with the placeholder column replaced by ``value``."""
    if isinstance(expr, t.TCol) and expr.column == PLACEHOLDER and not expr.path:
        return value
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(expr):
        old = getattr(expr, f.name)
        new = _sub_any(old, value)
        if new is not old:
            changes[f.name] = new
    return dataclasses.replace(expr, **changes) if changes else expr


def _sub_any(old: Any, value: t.TExpr) -> Any:
    if isinstance(old, t.TExpr):
        return substitute(old, value)
    if isinstance(old, tuple) and any(isinstance(x, t.TExpr | tuple) for x in old):
        items = tuple(_sub_any(x, value) for x in old)
        return old if all(a is b for a, b in zip(items, old, strict=True)) else items
    return old


def _output(cell: Cell, output: TableOutput, typer: _Typer) -> t.TExpr | None:
    expr = typer.typed(cell.text, cell.location)
    if expr is None:
        return None
    kind = output.dtype.kind
    if expr.dtype.kind not in (*_ACCEPTS[kind], "any"):
        hint = "write text in single quotes: 'report'" if kind == "string" else None
        typer.fail(
            "K225",
            f"output '{output.id}' is {kind}; '{cell.text}' is {expr.dtype}",
            cell.location,
            hint,
        )
        return None
    literal = isinstance(expr, t.TLit) and expr.value is not None
    if output.values and literal and expr.value not in output.values:  # type: ignore[attr-defined]
        typer.fail(
            "K224",
            f"'{cell.text}' is not one of the values of output '{output.id}'",
            cell.location,
            f"values: {', '.join(str(v) for v in output.values)}",
        )
        return None
    if kind == "float" and expr.dtype.kind == "integer":
        if isinstance(expr, t.TLit):
            return t.TLit(FLOAT, float(expr.value) if expr.value is not None else None)
        return t.TBinary(FLOAT, "+", expr, t.TLit(FLOAT, 0.0))
    if expr.dtype.kind == "null":
        return t.TLit(output.dtype, None)
    return expr


def _order(
    spec: TableSpec, rules: list[TableRule], outputs: list[TableOutput], typer: _Typer
) -> tuple[int, ...] | None:
    """Rule indices in the order the policy reads them: by output priority for PRIORITY
    and OUTPUT ORDER (ties in rule order), else in rule order."""
    indices = list(range(len(rules)))
    if spec.hit_policy not in ("PRIORITY", "OUTPUT ORDER"):
        return tuple(indices)
    ranked = [(k, o) for k, o in enumerate(outputs) if o.values]
    if not ranked:
        typer.fail(
            "K224",
            f"{spec.hit_policy} ranks rules by an output's 'values'; no output lists them",
            spec.location,
        )
        return None
    keys: list[tuple[int, ...]] = []
    for rule, rule_spec in zip(rules, spec.rules, strict=True):
        key: list[int] = []
        for k, o in ranked:
            expr = rule.then[k]
            if not isinstance(expr, t.TLit):
                typer.fail(
                    "K224",
                    f"{spec.hit_policy}: output '{o.id}' of rule '{rule.id}' must be one of "
                    "its values, written as a literal",
                    rule_spec.then[k].location,
                )
                return None
            key.append(o.values.index(expr.value) if expr.value in o.values else len(o.values))
        keys.append(tuple(key))
    return tuple(sorted(indices, key=lambda i: keys[i]))
