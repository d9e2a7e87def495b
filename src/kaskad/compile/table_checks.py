"""``kaskad validate`` on decision tables: overlaps, gaps and rules that never match.

The analysis reads the *shape* of each test (:mod:`kaskad.compile.unary`): numeric
comparisons and intervals with literal bounds, lists of literal values, ``not(...)`` and
``-``. It cuts every input's domain at the values the tests name into cells (each point
and each open stretch between two points; for a text input, each named value and "any
other value"; for a category or boolean input, each value), then looks at every
combination of cells: which rules accept it. A test it cannot read (an expression with
``?``, a bound that is not a literal, dates) leaves its rule out of the analysis; gaps are
then not reported at all, since that rule may cover them.

- K230 two rules of a UNIQUE table both match some input (the record would fail);
- K231 two rules of an ANY table both match some input with different outputs;
- K232 a gap: an input combination no rule matches (single-hit tables without a default);
- K233 a rule that can never match: an empty interval, or (FIRST, PRIORITY) every input it
  matches is taken by a rule read before it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kaskad.compile.expr.typed import TCol, TLit
from kaskad.compile.plan import Plan, TableNode
from kaskad.compile.table import test_shapes
from kaskad.compile.unary import Shape, Value
from kaskad.errors import Problem
from kaskad.spec.pipeline import PipelineSpec
from kaskad.spec.table import TableSpec
from kaskad.spec.types import DType

__all__ = ["TABLE_WARNING_CODES", "table_checks"]

TABLE_WARNING_CODES = ("K230", "K231", "K232", "K233")
MAX_COMBINATIONS = 50_000  # larger grids are not analysed
MAX_REPORTED = 3  # gaps and overlaps reported per table


class _Other:
    """A text value no test names."""

    def __repr__(self) -> str:
        return "any other value"


@dataclass(frozen=True)
class _Cell:
    value: Value | _Other
    text: str  # how the cell is shown: "= 18", "(18..25)", "'auto'"


def table_checks(spec: PipelineSpec, plan: Plan) -> list[Problem]:
    """Warnings for every decision table of a pipeline that compiled."""
    nodes = {n.name: n for n in plan.nodes if isinstance(n, TableNode)}
    found: list[Problem] = []
    for table in spec.tables:
        node = nodes.get(table.name)
        if node is not None:
            found += check_table(table, node, _ranked_columns(nodes.values()))
    return found


def _ranked_columns(nodes: Iterable[TableNode]) -> dict[str, tuple[Value, ...]]:
    """Text outputs of single-value tables that list their ``values``: a later table that
    reads one (``risk_class.risk_class``) reads one of those values, or a missing one."""
    return {
        node.column(o.id): o.values
        for node in nodes
        if not node.gives_lists and node.aggregator is None
        for k, o in enumerate(node.table_outputs)
        if o.values
        and o.dtype.kind == "string"
        and all(isinstance(r.then[k], TLit) for r in node.rules)
        and (node.default is None or isinstance(node.default[k], TLit))
    }


def check_table(
    spec: TableSpec, node: TableNode, ranked: Mapping[str, tuple[Value, ...]] | None = None
) -> list[Problem]:
    shapes = test_shapes(spec)
    found = _empty_intervals(spec, shapes)
    ranked = ranked or {}
    dtypes = [
        DType("category", values=tuple(str(v) for v in ranked[expr.column]))
        if isinstance(expr, TCol) and not expr.path and expr.column in ranked
        else expr.dtype
        for _, expr in node.inputs
    ]
    cells: list[list[_Cell]] = []
    unread: set[int] = set()  # inputs whose tests the analysis cannot read (dates, ...)
    for k, dtype in enumerate(dtypes):
        column = [row[k] for row in shapes]
        found_cells = _cells(dtype, [s for s in column if s is not None])
        if not found_cells:
            unread.add(k)
            found_cells = [_Cell(_Other(), "any value")]
        cells.append(found_cells)
    readable = [
        i
        for i, row in enumerate(shapes)
        if all(s is not None and (s.any or k not in unread) for k, s in enumerate(row))
    ]
    if math.prod(len(c) for c in cells) > MAX_COMBINATIONS:
        return found
    found += _grid(spec, node, shapes, cells, readable)
    return found


def _empty_intervals(spec: TableSpec, shapes: list[list[Shape | None]]) -> list[Problem]:
    found: list[Problem] = []
    for rule, row in zip(spec.rules, shapes, strict=True):
        for cell, shape in zip(rule.when, row, strict=True):
            if shape is not None and any(i.empty() for i in shape.intervals):
                found.append(
                    Problem(
                        "K233",
                        f"rule '{rule.id}' has an empty interval '{cell.text}'",
                        cell.location,
                        "the lower bound must be below the upper one",
                    )
                )
    return found


def _cells(dtype: DType, shapes: list[Shape]) -> list[_Cell]:
    """The cells of one input's domain; [] when the tests are not analysable for it."""
    named = [v for s in shapes for v in s.values]
    bounds = [b for s in shapes for i in s.intervals for b in (i.lo, i.hi) if b is not None]
    if dtype.kind == "boolean":
        return [_Cell(True, "true"), _Cell(False, "false")]
    if dtype.kind == "category" and dtype.values:
        return [_Cell(v, f"'{v}'") for v in dtype.values]
    if dtype.kind == "string":
        values = list(dict.fromkeys(v for v in named if isinstance(v, str)))
        return [*(_Cell(v, f"'{v}'") for v in values), _Cell(_Other(), "any other value")]
    if dtype.is_numeric:
        points = sorted(
            {float(v) for v in named if isinstance(v, int | float) and not isinstance(v, bool)}
            | set(bounds)
        )
        return _number_cells(points, dtype.kind == "integer")
    return [_Cell(_Other(), "any value")] if all(s.any for s in shapes) else []


def _number_cells(points: list[float], integer: bool) -> list[_Cell]:
    if not points:
        return [_Cell(0, "any number")]
    out: list[_Cell] = []
    below = math.floor(points[0]) - 1 if integer else points[0] - 1
    out.append(_Cell(below, f"< {_num(points[0])}"))
    for a, b in itertools.pairwise([*points, math.inf]):
        if not integer or a == int(a):
            out.append(_Cell(a, f"= {_num(a)}"))
        if b == math.inf:
            inside: float = math.floor(a) + 1 if integer else a + 1
            out.append(_Cell(inside, f"> {_num(a)}"))
            continue
        inside = math.floor(a) + 1 if integer else (a + b) / 2
        if inside < b:
            out.append(_Cell(inside, f"({_num(a)}..{_num(b)})"))
    return out


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


def _grid(
    spec: TableSpec,
    node: TableNode,
    shapes: list[list[Shape | None]],
    cells: list[list[_Cell]],
    readable: list[int],
) -> list[Problem]:
    found: list[Problem] = []
    ids = [i.id for i in spec.inputs]
    everything_read = len(readable) == len(spec.rules)
    report_gaps = spec.hit_policy in ("UNIQUE", "ANY", "PRIORITY", "FIRST") and not spec.default
    position = {rule: pos for pos, rule in enumerate(node.order)}
    first_somewhere: set[int] = set()
    matches_somewhere: set[int] = set()
    gaps = 0
    overlaps: dict[tuple[int, int], str] = {}
    for combo in itertools.product(*cells):
        covering = [i for i in readable if _accepts(shapes[i], combo)]
        where = ", ".join(f"{name} {c.text}" for name, c in zip(ids, combo, strict=True))
        if not covering:
            if report_gaps and everything_read and gaps < MAX_REPORTED:
                gaps += 1
                found.append(
                    Problem(
                        "K232",
                        f"table '{spec.name}': no rule matches {where}",
                        spec.location,
                        "add a rule for it, or a 'default'",
                    )
                )
            continue
        matches_somewhere.update(covering)
        first_somewhere.add(min(covering, key=lambda i: position[i]))
        if spec.hit_policy in ("UNIQUE", "ANY") and len(covering) > 1:
            for a, b in itertools.combinations(covering, 2):
                if spec.hit_policy == "ANY" and _same_outputs(spec, a, b):
                    continue
                overlaps.setdefault((a, b), where)
    for (a, b), where in list(overlaps.items())[:MAX_REPORTED]:
        ra, rb = spec.rules[a], spec.rules[b]
        code, what = (
            ("K230", "both match")
            if spec.hit_policy == "UNIQUE"
            else ("K231", "both match with different outputs")
        )
        found.append(
            Problem(
                code,
                f"rules '{ra.id}' and '{rb.id}' of {spec.hit_policy} table '{spec.name}' "
                f"{what} for {where}",
                rb.location,
                f"narrow one of them, or use hit policy FIRST (rule '{ra.id}' at "
                f"{ra.location.prefix()})",
            )
        )
    for i in readable:
        rule = spec.rules[i]
        if i not in matches_somewhere:
            found.append(Problem("K233", f"rule '{rule.id}' can never match", rule.location))
        elif spec.hit_policy in ("FIRST", "PRIORITY") and i not in first_somewhere:
            found.append(
                Problem(
                    "K233",
                    f"rule '{rule.id}' can never be chosen: every input it matches is taken "
                    f"by a rule read before it ({spec.hit_policy})",
                    rule.location,
                    "move it up, or remove it",
                )
            )
    return found


def _accepts(row: list[Shape | None], combo: tuple[_Cell, ...]) -> bool:
    return all(
        (s is not None and (s.any or (not isinstance(c.value, _Other) and s.accepts(c.value))))
        or (s is not None and isinstance(c.value, _Other) and s.negated)
        for s, c in zip(row, combo, strict=True)
    )


def _same_outputs(spec: TableSpec, a: int, b: int) -> bool:
    left = [c.text.strip() for c in spec.rules[a].then]
    return left == [c.text.strip() for c in spec.rules[b].then]
