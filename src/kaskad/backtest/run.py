"""Backtest: replay history through two releases of a pipeline and measure what changes.

Both plans run on the same input, chunk by chunk. Memory stays bounded: decisions, rule
outcomes, flips and label outcomes are accumulated as counts. The one exception is model
scores, kept as ``float32`` arrays (one per score output and release) with the label as an
``int8`` array, because baseline-quantile PSI bins, AUC and KS need every value:
``4 bytes × score outputs × 2 releases + 1 byte`` per row, about 170 MB for ten million
rows and two score outputs.

Shadows do not run in a backtest: they never decide, and the comparison here is of the
deciding plans. AUC, Gini and KS are computed here with NumPy (rank-based, ties counted
half); see ``docs/backtest.md`` for every metric.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from collections import Counter
from collections.abc import Iterable

import numpy as np
import polars as pl

from kaskad import __version__
from kaskad.backtest.attribution import Attribution
from kaskad.backtest.metrics import (
    FloatArray,
    LabelArray,
    PsiBin,
    auc,
    ks,
    psi,
    stability,
)
from kaskad.backtest.result import (
    REJECTED,
    BacktestError,
    BacktestResult,
    CellChange,
    ExplainedChange,
    FlipCell,
    LabelError,
    OutcomeCounts,
    OutcomeRate,
    PlanInfo,
    ReasonChange,
    RuleChange,
    RuleRate,
    ScoreHistogram,
    ScorePerformance,
    ScoreShift,
    ScoreSummary,
    ratio,
)
from kaskad.compile.expr.typed import TLit
from kaskad.compile.naming import HIT, PASS, UNKNOWN
from kaskad.compile.plan import ModelNode, Plan, Rule, RuleSetNode, TableNode
from kaskad.execute.batch import BatchExecutor
from kaskad.execute.output_masking import OutputMasking
from kaskad.execute.tables import rule_outcome_exprs
from kaskad.spec.types import BOOLEAN

__all__ = [
    "REJECTED",
    "BacktestError",
    "BacktestResult",
    "CellChange",
    "ExplainedChange",
    "FlipCell",
    "LabelError",
    "OutcomeCounts",
    "OutcomeRate",
    "PlanInfo",
    "PsiBin",
    "ReasonChange",
    "RuleChange",
    "RuleRate",
    "ScoreHistogram",
    "ScorePerformance",
    "ScoreShift",
    "ScoreSummary",
    "auc",
    "backtest",
    "ks",
    "psi",
    "stability",
]

HISTOGRAM_BINS = 25
EXAMPLES_PER_CELL = 5


def _summary(values: FloatArray, missing: int) -> ScoreSummary:
    if values.size == 0:
        return ScoreSummary(0, missing, None, None, None, None)
    q = np.quantile(values.astype(np.float64), [0.05, 0.5, 0.95])
    mean = float(values.astype(np.float64).mean())
    return ScoreSummary(int(values.size), missing, mean, float(q[0]), float(q[1]), float(q[2]))


def _histogram(base: FloatArray, cand: FloatArray) -> ScoreHistogram:
    both = np.concatenate([base, cand]).astype(np.float64)
    if both.size == 0:
        return ScoreHistogram((), (), ())
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    counts = [np.histogram(v.astype(np.float64), bins=edges)[0] for v in (base, cand)]
    return ScoreHistogram(
        tuple(float(e) for e in edges),
        tuple(int(n) for n in counts[0]),
        tuple(int(n) for n in counts[1]),
    )


# ---- accumulation -----------------------------------------------------------------------


def _rules(plan: Plan) -> dict[str, tuple[RuleSetNode, Rule]]:
    """Every rule's result field → its rule set and rule; a decision table's rules count as
    rules too (``TABLE.RULE_ID``: hit when matched), under a rule set of the table's name."""
    found = {
        n.column(r.id): (n, r) for n in plan.nodes if isinstance(n, RuleSetNode) for r in n.rules
    }
    for n in plan.nodes:
        if isinstance(n, TableNode):
            as_rules = RuleSetNode(n.name, n.description, (), n.component)
            for r in n.rules:
                when = r.when if r.when is not None else TLit(BOOLEAN, True)
                rule = Rule(r.id, r.annotation, "hit", "", n.on_missing, r.text, when)
                found[n.column(r.id)] = (as_rules, rule)
    return found


def _scores(plan: Plan) -> dict[str, str]:
    """Score output column → model step name."""
    return {o: n.name for n in plan.nodes if isinstance(n, ModelNode) for o, _ in n.outputs_map}


def _decision_order(baseline: Plan, candidate: Plan, seen: Iterable[str]) -> tuple[str, ...]:
    order = [b.outcome for b in (*baseline.decision, *candidate.decision)]
    order += sorted(s for s in seen if s != REJECTED)
    return (*dict.fromkeys(order), REJECTED)


def _label_codes(chunk: pl.DataFrame, label: str) -> LabelArray:
    if label not in chunk.columns:
        raise LabelError(
            f"label column {label!r} is not in the input (columns: {', '.join(chunk.columns[:20])})"
        )
    try:
        values = chunk.get_column(label).cast(pl.Float64, strict=True).fill_nan(None)
    except pl.exceptions.PolarsError as exc:
        raise LabelError(f"label column {label!r} must hold 0 and 1: {exc}") from exc
    bad = values.filter(values.is_not_null() & ~values.is_in([0.0, 1.0]))
    if bad.len():
        shown = ", ".join(str(v) for v in bad.unique().head(5).to_list())
        raise LabelError(f"label column {label!r} must hold 0 and 1 (or be empty), found {shown}")
    return values.fill_null(-1.0).to_numpy().astype(np.int8)


def _prefixed(frame: pl.DataFrame, prefix: str, columns: list[str]) -> pl.DataFrame:
    decision = (
        pl.when(pl.col("status") == REJECTED)
        .then(pl.lit(REJECTED))
        .otherwise(pl.col("decision").fill_null("(none)"))
    )
    reasons = pl.col("reasons").list.join(", ").fill_null("")
    return frame.select(
        decision.alias(prefix + "decision"),
        reasons.alias(prefix + "reasons"),
        *(pl.col(c).alias(prefix + c) for c in columns),
    )


class _Accumulator:
    def __init__(
        self,
        baseline: Plan,
        candidate: Plan,
        label: str | None,
        masking: OutputMasking | None = None,
    ) -> None:
        self.label = label
        self.masking = masking
        self.rules_b, self.rules_c = _rules(baseline), _rules(candidate)
        self.tables_b = rule_outcome_exprs(baseline.nodes)
        self.tables_c = rule_outcome_exprs(candidate.nodes)
        self.common_rules = [c for c in self.rules_b if c in self.rules_c]
        self.scores_b, self.scores_c = _scores(baseline), _scores(candidate)
        self.keys = [k for k in baseline.schema.keys if k in candidate.schema.keys]
        self.rows = 0
        self.cells: Counter[tuple[str, str]] = Counter()
        self.rule_changes: Counter[tuple[str, str, str, str, str]] = Counter()
        self.reason_changes: Counter[tuple[str, str, str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[str]] = {}
        self.outcomes: dict[str, Counter[tuple[str, str]]] = {"b": Counter(), "c": Counter()}
        self.decided: dict[str, int] = {"b": 0, "c": 0}
        self.rows_changed: Counter[str] = Counter()
        self.score_parts: dict[str, list[FloatArray]] = {}
        self.score_changed: Counter[str] = Counter()
        self.score_max_change: dict[str, float] = {}
        self.labels: list[LabelArray] = []
        self.label_counts: Counter[tuple[str, str, int]] = Counter()

    def add(self, chunk: pl.DataFrame, out_b: pl.DataFrame, out_c: pl.DataFrame) -> None:
        if not (chunk.height == out_b.height == out_c.height):
            raise BacktestError("the executors returned a different number of rows")
        self.rows += chunk.height
        if self.tables_b:
            out_b = out_b.with_columns(self.tables_b)
        if self.tables_c:
            out_c = out_c.with_columns(self.tables_c)
        b = _prefixed(out_b, "b:", [*self.keys, *self.rules_b, *self.scores_b])
        c = _prefixed(out_c, "c:", [*self.rules_c, *self.scores_c])
        both = pl.concat([b, c], how="horizontal")
        for db, dc, n in both.group_by("b:decision", "c:decision").len().iter_rows():
            self.cells[(db, dc)] += n
        self._rules(both)
        self._flips(both.filter(pl.col("b:decision") != pl.col("c:decision")))
        self._scores(both)
        if self.label is not None:
            codes = _label_codes(chunk, self.label)
            self.labels.append(codes)
            frame = both.select("b:decision", "c:decision").with_columns(label=pl.Series(codes))
            for side in ("b", "c"):
                grouped = frame.group_by(f"{side}:decision", "label").len()
                for decision, code, n in grouped.iter_rows():
                    self.label_counts[(side, decision, code)] += n

    def _rules(self, both: pl.DataFrame) -> None:
        exprs: list[pl.Expr] = []
        for side, columns in (("b", self.rules_b), ("c", self.rules_c)):
            exprs.append((pl.col(f"{side}:decision") != REJECTED).sum().alias(f"{side}|decided"))
            for col in columns:
                for outcome in (HIT, PASS, UNKNOWN):
                    name = f"{side}:{col}"
                    exprs.append((pl.col(name) == outcome).sum().alias(f"{name}|{outcome}"))
        exprs += [
            (pl.col(f"b:{col}") != pl.col(f"c:{col}")).sum().alias(f"changed|{col}")
            for col in self.common_rules
        ]
        for name, value in both.select(exprs).row(0, named=True).items():
            what, _, detail = name.partition("|")
            if what in ("b", "c"):
                self.decided[what] += int(value)
            elif what == "changed":
                self.rows_changed[detail] += int(value)
            else:
                side, _, col = what.partition(":")
                self.outcomes[side][(col, detail)] += int(value)

    def _flips(self, off: pl.DataFrame) -> None:
        if off.height == 0:
            return
        cell = ["b:decision", "c:decision"]
        # a row rejected by one release has no rule outcomes there: nothing to compare
        decided = off.filter(
            (pl.col("b:decision") != REJECTED) & (pl.col("c:decision") != REJECTED)
        )
        for col in self.common_rules:
            b, c = f"b:{col}", f"c:{col}"
            changed = decided.filter(pl.col(b).ne_missing(pl.col(c))).group_by(*cell, b, c).len()
            for db, dc, ob, oc, n in changed.iter_rows():
                self.rule_changes[(db, dc, col, ob, oc)] += n
        reasons = off.group_by(*cell, "b:reasons", "c:reasons").len()
        for db, dc, rb, rc, n in reasons.iter_rows():
            self.reason_changes[(db, dc, rb, rc)] += n
        if not self.keys:
            return
        firsts = (
            off.select(*cell, *(pl.col(f"b:{k}").alias(k) for k in self.keys))
            .group_by(*cell, maintain_order=True)
            .head(EXAMPLES_PER_CELL)
        )
        if self.masking is not None:  # a sensitive key is shown as its digest
            firsts = self.masking.frame(firsts)
        key = pl.concat_str([pl.col(k).cast(pl.String) for k in self.keys], separator="/")
        firsts = firsts.select(*cell, key.alias("key"))
        for db, dc, k in firsts.iter_rows():
            found = self.examples.setdefault((db, dc), [])
            if len(found) < EXAMPLES_PER_CELL and k is not None:
                found.append(k)

    def _scores(self, both: pl.DataFrame) -> None:
        for side, outputs in (("b", self.scores_b), ("c", self.scores_c)):
            for output in outputs:
                series = both.get_column(f"{side}:{output}").cast(pl.Float32).fill_null(np.nan)
                self.score_parts.setdefault(f"{side}:{output}", []).append(series.to_numpy())
        for output in (o for o in self.scores_b if o in self.scores_c):
            b, c = pl.col(f"b:{output}"), pl.col(f"c:{output}")
            changed, biggest = both.select(
                b.ne_missing(c).sum().alias("n"), (b - c).abs().max().alias("m")
            ).row(0)
            self.score_changed[output] += int(changed)
            if biggest is not None:
                self.score_max_change[output] = max(self.score_max_change.get(output, 0.0), biggest)

    # ---- finishing ----------------------------------------------------------------------

    def scores(self, side: str, output: str) -> FloatArray:
        parts = self.score_parts.get(f"{side}:{output}", [])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.float32)

    def rule_table(self) -> tuple[RuleRate, ...]:
        order = [*self.rules_b, *(c for c in self.rules_c if c not in self.rules_b)]
        return tuple(self._rule_rate(col) for col in order)

    def _rule_rate(self, col: str) -> RuleRate:
        b, c = self.rules_b.get(col), self.rules_c.get(col)
        counts_b = self._counts("b", col) if b else None
        counts_c = self._counts("c", col) if c else None
        node, rule = c or b or _never()
        if b and c:
            presence, changed = "both", _definition(b[1]) != _definition(c[1])
        else:
            presence, changed = ("baseline only" if b else "candidate only"), False
        return RuleRate(
            column=col,
            ruleset=node.name,
            rule=rule.id,
            description=rule.description,
            presence=presence,
            baseline=counts_b,
            candidate=counts_c,
            hit_rate_change=_change(counts_b, counts_c, "hit_rate"),
            unknown_rate_change=_change(counts_b, counts_c, "unknown_rate"),
            rows_changed=self.rows_changed[col] if b and c else None,
            definition_changed=changed,
            baseline_when=b[1].text if b else None,
            candidate_when=c[1].text if c else None,
        )

    def _counts(self, side: str, col: str) -> OutcomeCounts:
        got = self.outcomes[side]
        rows = self.decided[side]
        hit, unknown = got[(col, HIT)], got[(col, UNKNOWN)]
        return OutcomeCounts(
            rows, hit, got[(col, PASS)], unknown, ratio(hit, rows), ratio(unknown, rows)
        )

    def flip_cells(self, decisions: tuple[str, ...]) -> tuple[FlipCell, ...]:
        rules: dict[tuple[str, str], list[RuleChange]] = {}
        for (db, dc, col, ob, oc), n in self.rule_changes.items():
            rules.setdefault((db, dc), []).append(RuleChange(col, ob, oc, n))
        reasons: dict[tuple[str, str], list[ReasonChange]] = {}
        for (db, dc, rb, rc), n in self.reason_changes.items():
            reasons.setdefault((db, dc), []).append(ReasonChange(rb, rc, n))
        cells = []
        for cell in ((db, dc) for db in decisions for dc in decisions):
            if not self.cells.get(cell):
                continue
            by_rule = sorted(rules.get(cell, []), key=lambda r: (-r.rows, r.column))
            by_reason = sorted(reasons.get(cell, []), key=lambda r: (-r.rows, r.baseline))
            examples = tuple(self.examples.get(cell, ()))
            cells.append(
                FlipCell(*cell, self.cells[cell], tuple(by_rule), tuple(by_reason), examples)
            )
        return tuple(cells)

    def margin(self, side: str, decision: str) -> int:
        index = 0 if side == "b" else 1
        return sum(n for cell, n in self.cells.items() if cell[index] == decision)


def _never() -> typing.NoReturn:
    raise AssertionError("a rule column is in neither plan")


def _definition(rule: Rule) -> tuple[str, str]:
    return (" ".join(rule.text.split()), rule.on_missing)


def _change(b: OutcomeCounts | None, c: OutcomeCounts | None, attr: str) -> float | None:
    if b is None or c is None:
        return None
    before, after = getattr(b, attr), getattr(c, attr)
    return None if before is None or after is None else float(after - before)


def _performance(acc: _Accumulator, labels: LabelArray) -> tuple[ScorePerformance, ...]:
    table = []
    for side, release, outputs in (
        ("b", "baseline", acc.scores_b),
        ("c", "candidate", acc.scores_c),
    ):
        for output in outputs:
            values = acc.scores(side, output)
            keep = ~np.isnan(values) & (labels >= 0)
            s, y = values[keep], labels[keep]
            area = auc(s, y)
            table.append(
                ScorePerformance(
                    output=output,
                    release=release,
                    rows=int(keep.sum()),
                    positives=int((y == 1).sum()),
                    auc=area,
                    gini=None if area is None else 2.0 * area - 1.0,
                    ks=ks(s, y),
                )
            )
    return tuple(table)


def _outcome_rates(acc: _Accumulator, decisions: tuple[str, ...]) -> tuple[OutcomeRate, ...]:
    table = []
    for side, release in (("b", "baseline"), ("c", "candidate")):
        for decision in decisions:
            pos = acc.label_counts[(side, decision, 1)]
            rows = pos + acc.label_counts[(side, decision, 0)]
            if acc.margin(side, decision):
                table.append(OutcomeRate(release, decision, rows, pos, ratio(pos, rows)))
    return tuple(table)


def _score_shifts(acc: _Accumulator) -> tuple[ScoreShift, ...]:
    table = []
    for output in (o for o in acc.scores_b if o in acc.scores_c):
        raw_b, raw_c = acc.scores("b", output), acc.scores("c", output)
        base, cand = raw_b[~np.isnan(raw_b)], raw_c[~np.isnan(raw_c)]
        value, bins = psi(base, cand)
        table.append(
            ScoreShift(
                output=output,
                model_baseline=acc.scores_b[output],
                model_candidate=acc.scores_c[output],
                psi=value,
                stability=stability(value),
                bins=bins,
                histogram=_histogram(base, cand),
                baseline=_summary(base, int(raw_b.size - base.size)),
                candidate=_summary(cand, int(raw_c.size - cand.size)),
                rows_changed=acc.score_changed[output],
                max_abs_change=acc.score_max_change.get(output),
            )
        )
    return tuple(table)


def _info(plan: Plan, role: str, ref: str | None) -> PlanInfo:
    return PlanInfo(role, plan.name, plan.version, plan.hash, plan.source, ref)


def backtest(
    baseline: Plan,
    candidate: Plan,
    frame_chunks: Iterable[pl.DataFrame],
    label: str | None = None,
    *,
    baseline_ref: str | None = None,
    candidate_ref: str | None = None,
    input_name: str | None = None,
    masking: OutputMasking | None = None,
) -> BacktestResult:
    """Run ``baseline`` and ``candidate`` over the same chunks of input and compare them.

    ``label``, when given, names a 0/1 column of the input (not of the schema) whose rate
    is reported per decision and against which every model score's AUC, Gini and KS are
    computed. ``baseline_ref``/``candidate_ref`` (``NAME@NUMBER``) and ``input_name`` are
    recorded in the result for the report. With ``masking``, example keys that are
    sensitive input fields are shown as their digests.
    """
    run_b = BatchExecutor(dataclasses.replace(baseline, shadows=()))
    run_c = BatchExecutor(dataclasses.replace(candidate, shadows=()))
    acc = _Accumulator(baseline, candidate, label, masking)
    why = Attribution(baseline, candidate)
    source = input_name or "input"
    for chunk in frame_chunks:
        out_b, out_c = run_b.run(chunk, source), run_c.run(chunk, source)
        acc.add(chunk, out_b, out_c)
        why.add(chunk, out_b, out_c, source)
    changes, unexplained, rejected = why.explained()
    decisions = _decision_order(baseline, candidate, {d for cell in acc.cells for d in cell})
    labels = np.concatenate(acc.labels) if acc.labels else np.empty(0, dtype=np.int8)
    return BacktestResult(
        baseline=_info(baseline, "baseline", baseline_ref),
        candidate=_info(candidate, "candidate", candidate_ref),
        input_name=input_name,
        label=label,
        rows=acc.rows,
        decisions=decisions,
        flips=tuple(
            dataclasses.replace(c, explained_by=why.cell(c.baseline, c.candidate))
            for c in acc.flip_cells(decisions)
        ),
        rules=acc.rule_table(),
        scores=_score_shifts(acc),
        performance=_performance(acc, labels) if label is not None else (),
        outcomes=_outcome_rates(acc, decisions) if label is not None else (),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        kaskad_version=__version__,
        changes=changes,
        flips_unexplained=unexplained,
        flips_rejected=rejected,
    )
