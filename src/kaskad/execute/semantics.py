"""What both executors agree on: rule outcomes, the rule-set summary, the first-match
decision and a shadow's fields.

Each meaning is written twice, once per executor, side by side: the per-record form
(Python values, used by :mod:`kaskad.execute.record`) and the vectorized form (Polars
expressions, used by :mod:`kaskad.execute.batch`). ``tests/execute/test_parity.py``
checks that they agree. Field names come from :mod:`kaskad.compile.naming`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from kaskad.compile.expr.functions import Env, Fn
from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.compile.naming import (
    ANY_HIT,
    DECISION_TIME,
    HIT,
    HIT_COUNT,
    HITS,
    PASS,
    SHADOW_DECISION,
    SHADOW_ERROR,
    SHADOW_REASONS,
    UNKNOWN,
    UNKNOWN_COUNT,
    shadow_prefix,
)
from kaskad.compile.plan import Branch, RuleSetNode, ShadowPlan

STRING_LIST = pl.List(pl.String)


def clock_now() -> dt.datetime:
    """The clock's reading for ``decision_time``: UTC, without a zone, to the microsecond."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def fill_decision_time(env: Env, now: dt.datetime) -> dt.datetime:
    """The record's ``decision_time`` or, when it has none, ``now`` (set in ``env``)."""
    value = env.get(DECISION_TIME)
    if not isinstance(value, dt.datetime):
        value = env[DECISION_TIME] = now
    return value


def decision_time_filled(frame: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """``frame`` with ``decision_time`` filled with ``now`` where a row has none."""
    fill = pl.lit(now, dtype=pl.Datetime("us"))
    return frame.with_columns(pl.col(DECISION_TIME).fill_null(fill))


def error_text(exc: BaseException) -> str:
    """How a failed challenger's ``error`` field describes the exception."""
    return f"{type(exc).__name__}: {exc}"


# ---- rule outcome: hit when true, pass when false, the rule's on_missing when NULL -----


def outcome(value: bool | None, on_missing: str) -> str:
    return HIT if value is True else PASS if value is False else on_missing


def outcome_expr(cond: pl.Expr, on_missing: str) -> pl.Expr:
    return (
        pl.when(cond).then(pl.lit(HIT)).when(~cond).then(pl.lit(PASS)).otherwise(pl.lit(on_missing))
    )


# ---- a rule set: each rule's outcome, then the summary ---------------------------------
# any_hit: some rule hit; hit_count: how many; hits: their ids in rule order;
# unknown_count: how many rules are unknown.

RuleSetStep = Callable[[Env], dict[str, Any]]


def ruleset_step(node: RuleSetNode, conditions: list[Fn]) -> RuleSetStep:
    """The rule set's fields for one record (``conditions``: one per rule, in order)."""
    rules = [
        (r.id, node.column(r.id), cond, r.on_missing)
        for r, cond in zip(node.rules, conditions, strict=True)
    ]
    any_col, count_col = node.column(ANY_HIT), node.column(HIT_COUNT)
    hits_col, unknown_col = node.column(HITS), node.column(UNKNOWN_COUNT)

    def run(env: Env) -> dict[str, Any]:
        out: dict[str, Any] = {}
        hits: list[str] = []
        unknown = 0
        for rule_id, column, cond, on_missing in rules:
            result = outcome(cond(env, None), on_missing)
            out[column] = result
            if result == HIT:
                hits.append(rule_id)
            elif result == UNKNOWN:
                unknown += 1
        out[any_col] = bool(hits)
        out[count_col] = len(hits)
        out[hits_col] = hits
        out[unknown_col] = unknown
        return out

    return run


def ruleset_exprs(node: RuleSetNode, conditions: list[pl.Expr]) -> list[pl.Expr]:
    """Each rule's outcome column (``conditions``: one per rule, in order)."""
    return [
        outcome_expr(cond, r.on_missing).alias(node.column(r.id))
        for r, cond in zip(node.rules, conditions, strict=True)
    ]


def summary_exprs(node: RuleSetNode) -> list[pl.Expr]:
    """The summary columns, from the outcome columns of :func:`ruleset_exprs`."""
    cols = [(r.id, pl.col(node.column(r.id))) for r in node.rules]
    hit = pl.sum_horizontal([(c == HIT).cast(pl.Int64) for _, c in cols])
    return [
        hit.cast(pl.Int64).alias(node.column(HIT_COUNT)),
        (hit > 0).alias(node.column(ANY_HIT)),
        _hit_ids(cols).alias(node.column(HITS)),
        pl.sum_horizontal([(c == UNKNOWN).cast(pl.Int64) for _, c in cols])
        .cast(pl.Int64)
        .alias(node.column(UNKNOWN_COUNT)),
    ]


def _hit_ids(cols: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """The ids of the rules that hit, in rule order."""
    return ids_where([(rid, c == HIT) for rid, c in cols])


def ids_where(flags: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """The ids whose flag is true (NULL is not), in order, as a list of text.

    Up to :data:`_LISTED` flags, each row's flags make a number (flag ``i`` adds ``2**i``)
    that picks its list from every possible list, built once: about six times faster
    than joining the ids as text and splitting it, which is about ten times faster than
    ``concat_list(...).list.drop_nulls()``. Past that, the text way (rule ids are
    identifiers, so they hold no comma)."""
    if not flags:
        return pl.lit([], dtype=STRING_LIST)
    if len(flags) <= _LISTED:
        every = [
            [rid for i, (rid, _) in enumerate(flags) if m >> i & 1] for m in range(1 << len(flags))
        ]
        code = pl.sum_horizontal(
            [flag.fill_null(False).cast(pl.Int64) * (1 << i) for i, (_, flag) in enumerate(flags)]
        )
        return pl.lit(pl.Series(every, dtype=STRING_LIST)).gather(code)
    joined = pl.concat_str(
        [pl.when(flag).then(pl.lit(rid)) for rid, flag in flags],
        separator=",",
        ignore_nulls=True,
    )
    return (
        pl.when(joined == "")
        .then(pl.lit([], dtype=STRING_LIST))
        .otherwise(joined.str.split(","))
        .cast(STRING_LIST)
    )


_LISTED = 10  # flags up to which every possible list is built (1,024 lists)


# ---- decision: the first branch whose condition is true (NULL is not true) -------------

DecisionStep = Callable[[Env], tuple[str, list[str], int]]


def decision_step(branches: tuple[Branch, ...], conditions: list[Fn | None]) -> DecisionStep:
    """Outcome, reasons and branch index for one record (``None``: the 'otherwise')."""
    compiled = [
        (cond, b.outcome, list(b.reasons)) for b, cond in zip(branches, conditions, strict=True)
    ]

    def decide(env: Env) -> tuple[str, list[str], int]:
        for i, (cond, result, reasons) in enumerate(compiled):
            if cond is None or cond(env, None) is True:
                return result, list(reasons), i
        raise AssertionError("the compiler guarantees an 'otherwise' branch")

    return decide


def branch_index_expr(conditions: list[pl.Expr | None]) -> pl.Expr:
    """The index of the branch that decides each row (``None``: the 'otherwise')."""
    index: Any = None
    for i, cond in enumerate(conditions):
        if cond is None:
            index = pl.lit(i) if index is None else index.otherwise(pl.lit(i))
            break
        index = pl.when(cond).then(pl.lit(i)) if index is None else index.when(cond).then(pl.lit(i))
    result: pl.Expr = index.cast(pl.Int32)
    return result


def branch_table(branches: tuple[Branch, ...], index: str) -> pl.DataFrame:
    """Outcome and reasons by branch index, to join on :func:`branch_index_expr`."""
    return pl.DataFrame(
        {
            index: list(range(len(branches))),
            "decision": [b.outcome for b in branches],
            "reasons": [list(b.reasons) for b in branches],
        },
        schema={index: pl.Int32, "decision": pl.String, "reasons": STRING_LIST},
    )


# ---- a shadow's fields: its decision, reasons and outputs, or only its error -----------


class ShadowFields:
    """The ``shadow.NAME.*`` fields of one challenger, for a record and for a frame."""

    def __init__(self, shadow: ShadowPlan) -> None:
        self.prefix = shadow_prefix(shadow.name)
        self.fields = shadow.columns()
        self.columns = [c for c, _ in self.fields]
        self.reported = [n for n, _ in shadow.reported]
        self.error = self.prefix + SHADOW_ERROR

    def ran(
        self, decision: str | None, reasons: list[str] | None, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A challenger that ran on one record (``values``: its outputs by name)."""
        out: dict[str, Any] = dict.fromkeys(self.columns)
        out[self.prefix + SHADOW_DECISION] = decision
        out[self.prefix + SHADOW_REASONS] = reasons
        for name, value in values.items():
            out[self.prefix + name] = value
        return out

    def failed(self, exc: BaseException | str) -> dict[str, Any]:
        """A challenger that failed on one record: every field NULL but ``error`` (the
        exception, or the error a challenger pipeline's failed record carries)."""
        out: dict[str, Any] = dict.fromkeys(self.columns)
        out[self.error] = exc if isinstance(exc, str) else error_text(exc)
        return out

    def ran_frame(self, result: pl.DataFrame) -> pl.DataFrame:
        """A challenger that ran on a frame (``result``: its decision, reasons, outputs)."""
        names = [SHADOW_DECISION, SHADOW_REASONS, *self.reported]
        out = result.select([pl.col(n).alias(self.prefix + n) for n in names])
        if "status" not in result.columns:
            return out.with_columns(pl.lit(None, dtype=pl.String).alias(self.error))
        # a challenger pipeline whose step failed for a record: its error (kaskad.execute.failures)
        failed = pl.col("status") == "failed"
        error = pl.when(failed).then(pl.col("errors").list.first()).otherwise(None)
        return out.with_columns(result.select(error.cast(pl.String).alias(self.error)))

    def failed_frame(self, exc: BaseException, height: int) -> pl.DataFrame:
        """A challenger that failed on a frame: every field NULL but ``error``."""
        message = error_text(exc)
        return pl.DataFrame(
            {
                name: pl.Series(
                    name,
                    [message if name == self.error else None] * height,
                    dtype=to_polars_dtype(dtype),
                )
                for name, dtype in self.fields
            }
        )


__all__ = [
    "ShadowFields",
    "branch_index_expr",
    "branch_table",
    "clock_now",
    "decision_step",
    "decision_time_filled",
    "error_text",
    "fill_decision_time",
    "ids_where",
    "outcome",
    "outcome_expr",
    "ruleset_exprs",
    "ruleset_step",
    "summary_exprs",
]
