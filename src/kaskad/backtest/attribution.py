"""Which change between two plans explains each flipped decision.

The changes come from :func:`kaskad.registry.diff.diff_plans` (rules, decision branches,
models, features, shadows, and any kind registered there). For a flipped record, both
plans' decision branches are evaluated on it; the first branch whose condition differs
between the two sides (or that both take, when its outcome changed) is where the decisions
part. When that branch itself changed, it explains the flip. Otherwise its condition read
a value that differs between the sides: the change that explains the flip is the nearest
changed component upstream of that value (the rule that gives it, the model that scores
it, the feature it reads, …). A record one side rejected at the door, or whose difference
no change accounts for, is counted apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl

from kaskad.backtest.result import REJECTED, CellChange, ExplainedChange
from kaskad.compile.expr import typed as t
from kaskad.compile.expr.to_polars import PolarsCompiler, compute_hoisted, hoisted_aggregates
from kaskad.compile.plan import Node, Plan, RuleSetNode
from kaskad.execute.inputs import prepare_frame
from kaskad.registry.diff import PLAN_KINDS, Change, branch_name, diff_plans

UNEXPLAINED = ""  # a flip no change accounts for
_ONE_SIDE_REJECTED = "\x00rejected"


@dataclass(frozen=True)
class _Side:
    """One plan's decision conditions, ready to evaluate on its inputs and outputs."""

    plan: Plan
    conditions: tuple[pl.Expr, ...]
    hoisted: dict[t.TAgg, str]
    compiler: PolarsCompiler
    reads: tuple[tuple[str, ...], ...]  # per branch: the columns its condition reads

    @classmethod
    def of(cls, plan: Plan) -> _Side:
        hoisted: dict[t.TAgg, str] = {}
        compiler = PolarsCompiler(hoisted)
        mine: dict[t.TAgg, str] = {}
        conditions: list[pl.Expr] = []
        reads: list[tuple[str, ...]] = []
        for branch in plan.decision:
            if branch.when is None:
                conditions.append(pl.lit(True))
                reads.append(())
                continue
            for agg in hoisted_aggregates(branch.when):
                mine[agg] = hoisted.setdefault(agg, f"__why_agg{len(hoisted)}")
            conditions.append(compiler.compile(branch.when))
            reads.append(tuple(sorted(t.columns_used(branch.when))))
        return cls(plan, tuple(conditions), mine, compiler, tuple(reads))

    def evaluate(self, inputs: pl.DataFrame, outputs: pl.DataFrame, prefix: str) -> pl.DataFrame:
        """Each branch's condition (``{prefix}{i}``) on every row: True, False or null."""
        extra = [c for c in outputs.columns if c not in inputs.columns]
        frame = pl.concat([inputs, outputs.select(extra)], how="horizontal")
        if self.hoisted:
            frame = compute_hoisted(frame, self.hoisted, self.compiler)
        return frame.select([cond.alias(f"{prefix}{i}") for i, cond in enumerate(self.conditions)])


def _producers(plan: Plan) -> dict[str, Node]:
    return {name: node for node in plan.nodes for name, _ in node.outputs()}


class Attribution:
    """Accumulates, chunk by chunk, how many flips each change explains."""

    def __init__(self, baseline: Plan, candidate: Plan) -> None:
        self.changes: list[Change] = diff_plans(baseline, candidate)
        self.keys = {c.key for c in self.changes}
        self.sides = (_Side.of(baseline), _Side.of(candidate))
        self.producers = (_producers(baseline), _producers(candidate))
        self.counts: Counter[str] = Counter()
        self.cells: Counter[tuple[str, str, str]] = Counter()
        self._explains: dict[str, str] = {}

    # ---- which change a differing value comes from ------------------------------------

    def explain(self, column: str) -> str:
        """The key of the nearest changed component upstream of ``column`` (itself
        included), or UNEXPLAINED."""
        if column not in self._explains:
            self._explains[column] = UNEXPLAINED  # a guard against cycles
            self._explains[column] = self._search(column)
        return self._explains[column]

    def _search(self, column: str) -> str:
        nodes = [p[column] for p in self.producers if column in p]
        for node in nodes:
            own = self._own_change(node, column)
            if own:
                return own
        for node in nodes:
            for read in sorted({c for e in node.expressions() for c in t.columns_used(e)}):
                found = self.explain(read)
                if found:
                    return found
        return UNEXPLAINED

    def _own_change(self, node: Node, column: str) -> str:
        if isinstance(node, RuleSetNode):
            rule = column.removeprefix(f"{node.name}.")
            direct = f"rule {column}"
            if direct in self.keys:
                return direct
            if rule not in {r.id for r in node.rules}:  # a summary: any_hit, hit_count, …
                prefix = f"rule {node.name}."
                return next((k for k in self._ordered() if k.startswith(prefix)), UNEXPLAINED)
            return UNEXPLAINED
        # a model, a feature, or any kind registered with the diff (tables, lists, …): the
        # change named after the step or after the field it gives
        names = (f"{kind} {name}" for kind in PLAN_KINDS for name in (node.id, column))
        return next((key for key in names if key in self.keys), UNEXPLAINED)

    def _ordered(self) -> list[str]:
        return [c.key for c in self.changes]

    # ---- chunks -------------------------------------------------------------------------

    def add(
        self, chunk: pl.DataFrame, out_b: pl.DataFrame, out_c: pl.DataFrame, source: str
    ) -> None:
        dec_b, dec_c = _decision(out_b), _decision(out_c)
        flipped = dec_b.ne_missing(dec_c)
        if not flipped.any():
            return
        rejected = flipped & ((dec_b == REJECTED) | (dec_c == REJECTED))
        self._count(dec_b.filter(rejected), dec_c.filter(rejected), _ONE_SIDE_REJECTED)
        keep = flipped & ~rejected
        if not keep.any():
            return
        base, cand = self.sides
        chunk, out_b, out_c = chunk.filter(keep), out_b.filter(keep), out_c.filter(keep)
        dec_b, dec_c = dec_b.filter(keep), dec_c.filter(keep)
        cond_b = base.evaluate(prepare_frame(base.plan.schema, chunk, source), out_b, "b")
        cond_c = cand.evaluate(prepare_frame(cand.plan.schema, chunk, source), out_c, "c")
        frame = pl.concat([cond_b, cond_c], how="horizontal")
        width = max(len(base.conditions), len(cand.conditions))
        parting: list[pl.Expr] = []
        for i in range(width):
            b = pl.col(f"b{i}") if i < len(base.conditions) else pl.lit(None, dtype=pl.Boolean)
            c = pl.col(f"c{i}") if i < len(cand.conditions) else pl.lit(None, dtype=pl.Boolean)
            # the sides part at branch i: its condition differs, or both take it and it changed
            differs = b.ne_missing(c)
            if f"decision {branch_name(i)}" in self.keys:
                differs = differs | (b.fill_null(False) & c.fill_null(False))
            parting.append(pl.when(differs).then(pl.lit(i)))
        index = frame.select(pl.coalesce(parting).alias("i")).get_column("i")
        self._count(dec_b.filter(index.is_null()), dec_c.filter(index.is_null()), UNEXPLAINED)
        for i in sorted(set(index.drop_nulls().to_list())):
            rows = index == i
            keys = self._attribute(i, out_b.filter(rows), out_c.filter(rows))
            self._count(dec_b.filter(rows), dec_c.filter(rows), keys)

    def _attribute(self, i: int, out_b: pl.DataFrame, out_c: pl.DataFrame) -> str | pl.Series:
        """The key of the change that explains each row parting at branch ``i``."""
        branch = f"decision {branch_name(i)}"
        if branch in self.keys:
            return branch
        base, cand = self.sides
        reads = [
            *(base.reads[i] if i < len(base.reads) else ()),
            *(cand.reads[i] if i < len(cand.reads) else ()),
        ]
        choices: list[pl.Expr] = []
        for column in dict.fromkeys(reads):
            differs = _differs(out_b, out_c, column)
            if differs is not None:
                choices.append(pl.when(differs).then(pl.lit(self.explain(column))))
        if not choices:
            return UNEXPLAINED
        both = pl.concat(
            [out_b.select(_scalars(out_b, "b:")), out_c.select(_scalars(out_c, "c:"))],
            how="horizontal",
        )
        return both.select(pl.coalesce([*choices, pl.lit(UNEXPLAINED)])).to_series()

    def _count(self, dec_b: pl.Series, dec_c: pl.Series, keys: str | pl.Series) -> None:
        if dec_b.len() == 0:
            return
        key = keys if isinstance(keys, pl.Series) else pl.Series([keys] * dec_b.len())
        frame = pl.DataFrame({"b": dec_b, "c": dec_c, "k": key.cast(pl.String)})
        for b, c, k, n in frame.group_by("b", "c", "k").len().iter_rows():
            self.counts[k] += n
            self.cells[(b, c, k)] += n

    def cell(self, baseline: str, candidate: str) -> tuple[CellChange, ...]:
        """The changes that explain the flips of one cell of the flip matrix, most first."""
        found = [
            CellChange(k if k != _ONE_SIDE_REJECTED else REJECTED, n)
            for (b, c, k), n in self.cells.items()
            if (b, c) == (baseline, candidate)
        ]
        return tuple(sorted(found, key=lambda x: (-x.rows, x.change)))

    def explained(self) -> tuple[tuple[ExplainedChange, ...], int, int]:
        """(every change with the flips it explains, flips no change explains, flips
        where one side rejected the record)."""
        changes = tuple(
            ExplainedChange(c.kind, c.name, c.status, c.before, c.after, self.counts[c.key])
            for c in self.changes
        )
        return changes, self.counts[UNEXPLAINED], self.counts[_ONE_SIDE_REJECTED]


def _decision(out: pl.DataFrame) -> pl.Series:
    return out.select(
        pl.when(pl.col("status") == REJECTED)
        .then(pl.lit(REJECTED))
        .otherwise(pl.col("decision").fill_null("(none)"))
    ).to_series()


def _comparable(column: str, dtype: pl.DataType, prefix: str) -> pl.Expr:
    """A column in a form ``ne_missing`` compares: lists and structs by their hash."""
    expr = pl.col(column)
    if isinstance(dtype, pl.List | pl.Struct | pl.Array):
        expr = pl.when(expr.is_null()).then(None).otherwise(expr.hash())
    return expr.alias(prefix + column)


def _scalars(out: pl.DataFrame, prefix: str) -> list[pl.Expr]:
    return [_comparable(c, out.schema[c], prefix) for c in out.columns]


def _differs(out_b: pl.DataFrame, out_c: pl.DataFrame, column: str) -> pl.Expr | None:
    """Whether ``column`` differs between the sides (None: an input field, the same)."""
    in_b, in_c = column in out_b.columns, column in out_c.columns
    if not in_b and not in_c:
        return None
    if in_b != in_c:
        return pl.lit(True)
    return pl.col(f"b:{column}").ne_missing(pl.col(f"c:{column}"))
