"""The result of a backtest, as plain data that reads back from its JSON summary."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from kaskad.backtest.metrics import PsiBin
from kaskad.errors import InputError, KaskadError

REJECTED = "rejected"


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class BacktestError(KaskadError):
    """A backtest cannot be run as asked (K700)."""

    code = "K700"


class LabelError(InputError):
    """The label column is missing from the input or holds values other than 0 and 1 (K701)."""

    code = "K701"


# ---- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInfo:
    """Which plan ran as the baseline or the candidate."""

    role: str  # baseline or candidate
    name: str
    version: str
    plan_hash: str
    source: str
    ref: str | None = None  # NAME@NUMBER when loaded from the registry


@dataclass(frozen=True)
class RuleChange:
    """Rows of a flip whose rule went from one outcome to another (e.g. pass → hit)."""

    column: str
    baseline: str
    candidate: str
    rows: int


@dataclass(frozen=True)
class ReasonChange:
    """Rows of a flip whose reasons went from ``baseline`` to ``candidate`` (joined by ', ')."""

    baseline: str
    candidate: str
    rows: int


@dataclass(frozen=True)
class CellChange:
    """Rows of a flip explained by one change: its key (``decision branch 2``, ``rule
    aml.cash_1m``, ``model credit_pd``), ``""`` for no change, ``rejected`` where one
    release rejected the record at the door."""

    change: str
    rows: int


@dataclass(frozen=True)
class FlipCell:
    """One cell of the flip matrix; off the diagonal, what changed in its rows."""

    baseline: str
    candidate: str
    rows: int
    rule_changes: tuple[RuleChange, ...] = ()
    reason_changes: tuple[ReasonChange, ...] = ()
    examples: tuple[str, ...] = ()  # key fields of the first rows
    explained_by: tuple[CellChange, ...] = ()  # off the diagonal: the changes behind it


@dataclass(frozen=True)
class OutcomeCounts:
    """How one rule came out on the rows one release decided (rejected rows excluded)."""

    rows: int
    hit: int
    passed: int
    unknown: int
    hit_rate: float | None
    unknown_rate: float | None


@dataclass(frozen=True)
class RuleRate:
    """A rule side by side; ``presence`` is ``both``, ``baseline only`` or ``candidate only``."""

    column: str
    ruleset: str
    rule: str
    description: str
    presence: str
    baseline: OutcomeCounts | None
    candidate: OutcomeCounts | None
    hit_rate_change: float | None
    unknown_rate_change: float | None
    rows_changed: int | None  # rows decided by both whose outcome differs
    definition_changed: bool
    baseline_when: str | None
    candidate_when: str | None


@dataclass(frozen=True)
class ScoreHistogram:
    """Equal-width bins over both releases' scores, for plots: ``len(edges) == bins + 1``."""

    edges: tuple[float, ...]
    baseline: tuple[int, ...]
    candidate: tuple[int, ...]


@dataclass(frozen=True)
class ScoreSummary:
    rows: int
    missing: int
    mean: float | None
    p05: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class ScoreShift:
    """A score output both releases produce: PSI and the data to plot it."""

    output: str
    model_baseline: str
    model_candidate: str
    psi: float | None
    stability: str | None
    bins: tuple[PsiBin, ...]
    histogram: ScoreHistogram
    baseline: ScoreSummary
    candidate: ScoreSummary
    rows_changed: int  # rows whose score differs between the releases
    max_abs_change: float | None


@dataclass(frozen=True)
class ScorePerformance:
    """How well one release's score separates the label (rows with score and label)."""

    output: str
    release: str
    rows: int
    positives: int
    auc: float | None
    gini: float | None
    ks: float | None


@dataclass(frozen=True)
class OutcomeRate:
    """The label's rate among the rows one release gave one decision."""

    release: str
    decision: str
    rows: int
    positives: int
    rate: float | None


@dataclass(frozen=True)
class ExplainedChange:
    """A change between the two releases that can flip a decision (a rule, a decision
    branch, a model, a feature, …: see :func:`kaskad.registry.diff.diff_plans`), and how
    many flipped records it explains."""

    kind: str
    name: str
    status: str  # added, removed, changed
    before: str | None
    after: str | None
    flips: int


@dataclass(frozen=True)
class BacktestResult:
    baseline: PlanInfo
    candidate: PlanInfo
    input_name: str | None
    label: str | None
    rows: int
    decisions: tuple[str, ...]  # matrix order; ``rejected`` last
    flips: tuple[FlipCell, ...]  # every non-empty cell, diagonal included
    rules: tuple[RuleRate, ...]
    scores: tuple[ScoreShift, ...]
    performance: tuple[ScorePerformance, ...]
    outcomes: tuple[OutcomeRate, ...]
    created_at: str
    kaskad_version: str
    # every change between the plans, with the flips each explains; the flips none
    # explains, and those where one release rejected the record at the door
    changes: tuple[ExplainedChange, ...] = ()
    flips_unexplained: int = 0
    flips_rejected: int = 0

    @property
    def flipped(self) -> int:
        return sum(c.rows for c in self.flips if c.baseline != c.candidate)

    @property
    def flip_share(self) -> float | None:
        return ratio(self.flipped, self.rows)

    def cell(self, baseline: str, candidate: str) -> int:
        return next(
            (c.rows for c in self.flips if (c.baseline, c.candidate) == (baseline, candidate)), 0
        )

    def decision_counts(self, release: str) -> dict[str, int]:
        """Rows per decision for ``baseline`` or ``candidate`` (matrix margins)."""
        counts = dict.fromkeys(self.decisions, 0)
        for c in self.flips:
            counts[c.baseline if release == "baseline" else c.candidate] += c.rows
        return counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields, plus derived headline, matrix and decision rates."""
        data = dataclasses.asdict(self)
        base, cand = self.decision_counts("baseline"), self.decision_counts("candidate")
        data["headline"] = {
            "rows": self.rows,
            "flipped": self.flipped,
            "flip_share": self.flip_share,
        }
        data["flip_matrix"] = {b: {c: self.cell(b, c) for c in self.decisions} for b in base}
        data["decision_rates"] = [
            {
                "decision": d,
                "baseline_rows": base[d],
                "candidate_rows": cand[d],
                "baseline_rate": ratio(base[d], self.rows),
                "candidate_rate": ratio(cand[d], self.rows),
            }
            for d in self.decisions
        ]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BacktestResult:
        """The inverse of :meth:`to_dict` (derived entries are ignored)."""
        result = _build(cls, data)
        assert isinstance(result, BacktestResult)
        return result


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _build(tp: Any, value: Any) -> Any:
    """A value of type ``tp`` from its JSON form (dataclasses, tuples, optionals)."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        return tp(
            **{
                f.name: _build(hints[f.name], value[f.name])
                for f in dataclasses.fields(tp)
                if f.name in value or not _has_default(f)  # older summaries lack new fields
            }
        )
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _build(inner, value)
    if origin is tuple:
        return tuple(_build(args[0], v) for v in value)
    if tp is float:
        return float(value)
    return value


# ---- metrics ----------------------------------------------------------------------------
