"""A scorecard → ordinary feature nodes over typed expressions.

A scorecard ``NAME`` gives, in this order:

- ``NAME.CHARACTERISTIC``: the points of each characteristic, a CASE over its bins (a
  ``missing`` bin first, then the bins in file order, ``otherwise`` as the default) or
  ``coefficient × value`` for a linear term;
- ``NAME.points``: ``intercept + points₁ + points₂ + …``, added in characteristic order
  (one fixed order: every record's sum is the same in both executors and at any batch size);
- ``NAME.score``: the link applied to the points (``logistic``, or the points themselves);
- ``NAME.reasons``: adverse-action reason codes, the characteristics that lost the most
  points against their maximum, largest loss first (binned characteristics only).

Both executors run these as they run any expression feature: no executor code of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from kaskad.compile.expr import typed as t
from kaskad.compile.plan import FeatureNode
from kaskad.errors import Problem
from kaskad.spec.reader import Text
from kaskad.spec.scorecard import BinSpec, CharacteristicSpec, ScorecardSpec
from kaskad.spec.types import BOOLEAN, FLOAT, INTEGER, STRING, STRING_LIST, DType

RESERVED = ("points", "score", "reasons")


def scorecard_outputs(sc: ScorecardSpec) -> list[str]:
    """The result fields a scorecard gives, in order."""
    names = [f"{sc.name}.{c.name}" for c in sc.characteristics]
    names += [f"{sc.name}.points", f"{sc.name}.score"]
    return [*names, f"{sc.name}.reasons"] if _gives_reasons(sc) else names


def _gives_reasons(sc: ScorecardSpec) -> bool:
    return sc.reasons > 0 and any(c.bins for c in sc.characteristics)


def _lit(value: float) -> t.TLit:
    return t.TLit(FLOAT, float(value))


def _bin_condition(
    b: BinSpec, x: t.TExpr, c: CharacteristicSpec, problems: list[Problem]
) -> t.TExpr | None:
    if b.kind == "missing":
        return t.TIsNull(BOOLEAN, x, False)
    if b.kind == "range":
        if not x.dtype.is_numeric:
            problems.append(
                Problem(
                    "K203",
                    f"characteristic '{c.name}': an interval bin needs a number, "
                    f"'{c.input.text.strip()}' is {x.dtype}",
                    c.location,
                )
            )
            return None
        parts: list[t.TExpr] = []
        if b.low is not None:
            parts.append(t.TBinary(BOOLEAN, ">=", x, _lit(b.low)))
        if b.high is not None:
            parts.append(t.TBinary(BOOLEAN, "<", x, _lit(b.high)))
        if len(parts) == 1:
            return parts[0]
        return t.TBinary(BOOLEAN, "AND", parts[0], parts[1])
    values = tuple(_coerce(v, x.dtype) for v in b.values)
    if any(v is None for v in values):
        problems.append(
            Problem(
                "K203",
                f"characteristic '{c.name}': bin values {list(b.values)} do not fit "
                f"'{c.input.text.strip()}' ({x.dtype})",
                c.location,
            )
        )
        return None
    return t.TIn(BOOLEAN, x, values, False, False)


def _coerce(value: object, dtype: DType) -> object:
    if dtype == STRING or dtype.kind == "category":
        return str(value) if not isinstance(value, bool) else None
    if dtype == BOOLEAN:
        return value if isinstance(value, bool) else None
    if dtype == INTEGER:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if dtype.is_numeric:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else None  # type: ignore[arg-type]
    return None


def _points(c: CharacteristicSpec, x: t.TExpr, problems: list[Problem]) -> t.TExpr | None:
    if not c.bins:
        if not x.dtype.is_numeric:
            problems.append(
                Problem(
                    "K203",
                    f"characteristic '{c.name}': a coefficient needs a number, "
                    f"'{c.input.text.strip()}' is {x.dtype}",
                    c.location,
                )
            )
            return None
        term: t.TExpr = t.TBinary(FLOAT, "*", _lit(c.coefficient), x)
        if c.missing is None:
            return term
        return t.TCase(FLOAT, ((t.TIsNull(BOOLEAN, x, False), _lit(c.missing)),), term)
    whens: list[tuple[t.TExpr, t.TExpr]] = []
    default: t.TExpr | None = None
    ordered = sorted(c.bins, key=lambda b: b.kind != "missing")
    for b in ordered:
        if b.kind == "otherwise":
            default = _lit(b.points)
            continue
        cond = _bin_condition(b, x, c, problems)
        if cond is None:
            return None
        whens.append((cond, _lit(b.points)))
    if not whens:
        return default
    return t.TCase(FLOAT, tuple(whens), default)


def compile_scorecard(
    sc: ScorecardSpec,
    inputs: Mapping[str, t.TExpr],
    problems: list[Problem],
) -> list[FeatureNode] | None:
    """The feature nodes of a scorecard whose characteristic inputs are typed."""
    nodes: list[FeatureNode] = []
    for c in sc.characteristics:
        x = inputs.get(c.name)
        if x is None:
            return None
        if c.name in RESERVED:
            problems.append(
                Problem(
                    "K106",
                    f"characteristic name '{c.name}' is reserved for the scorecard's {c.name}",
                    c.location,
                )
            )
            return None
        expr = _points(c, x, problems)
        if expr is None:
            return None
        nodes.append(FeatureNode(f"{sc.name}.{c.name}", FLOAT, c.description, sc.ref, expr))
    total: t.TExpr = _lit(sc.intercept)
    for node in nodes:
        total = t.TBinary(FLOAT, "+", total, t.TCol(FLOAT, node.name))
    points = f"{sc.name}.points"
    nodes.append(
        FeatureNode(points, FLOAT, "intercept plus every characteristic's points", sc.ref, total)
    )
    score: t.TExpr = t.TCol(FLOAT, points)
    if sc.link == "logistic":
        score = t.TFunc(FLOAT, "logistic", (score,))
    nodes.append(FeatureNode(f"{sc.name}.score", FLOAT, sc.description, sc.ref, score))
    if _gives_reasons(sc):
        args: list[t.TExpr] = [t.TLit(INTEGER, sc.reasons)]
        for c in sc.characteristics:
            top = c.max_points()
            if top is None:
                continue
            column = t.TCol(FLOAT, f"{sc.name}.{c.name}")
            args += [t.TLit(STRING, c.reason), t.TBinary(FLOAT, "-", _lit(top), column)]
        nodes.append(
            FeatureNode(
                f"{sc.name}.reasons",
                STRING_LIST,
                "reason codes: characteristics losing the most points, largest first",
                sc.ref,
                t.TFunc(STRING_LIST, "top_reasons", tuple(args)),
            )
        )
    return nodes


def characteristic_texts(sc: ScorecardSpec) -> list[tuple[str, Text]]:
    return [(c.name, c.input) for c in sc.characteristics]
