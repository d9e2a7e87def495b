"""What a decision table's hit policy means, for one record and for a frame.

Each rule reads true (matches), false, or NULL (a test needs a missing value); the table's
``on_missing`` turns NULL into a match (``hit``), a miss (``pass``) or keeps it unknown
(``unknown``). With unknown rules a table's outputs are NULL when the unknown rules could
change them: for FIRST and PRIORITY when an unknown rule comes before the first match (in
the policy's order), for every other policy when any rule is unknown. Otherwise:

- UNIQUE: the one matching rule's outputs; two or more matching rules fail the record;
- ANY: the matching rules' outputs, which must agree (else the record fails);
- FIRST: the first matching rule in rule order; PRIORITY: the first in priority order;
- RULE ORDER, OUTPUT ORDER, COLLECT: per output the list of the matching rules' values (in
  rule order; OUTPUT ORDER in priority order);
- COLLECT SUM/MIN/MAX: of the non-NULL values (NULL when there are none); COUNT: the number
  of matching rules (0 when none).

Single-hit tables give their ``default`` (else NULL) when no rule matches; list policies
give empty lists. ``NAME.matched`` lists the matching rules' ids in rule order and
``NAME.unknown`` the unknown rules'. Both forms live here side by side; the parity tests
check they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import polars as pl

from kaskad.compile.expr.functions import Env, Fn
from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.compile.naming import HIT, PASS, TABLE_MATCHED, TABLE_UNKNOWN, UNKNOWN
from kaskad.compile.plan import Node, TableNode
from kaskad.errors import TableHitError
from kaskad.execute.semantics import ids_where

__all__ = ["TableExprs", "rule_outcome_exprs", "rule_outcomes", "table_step"]

TableStep = Callable[[Env], dict[str, Any]]


def _conflict_unique(ids: list[str]) -> TableHitError:
    return TableHitError(
        "K227", f"rules {', '.join(ids)} all match, and the hit policy UNIQUE allows one"
    )


def _conflict_any(ids: list[str]) -> TableHitError:
    return TableHitError(
        "K228",
        f"rules {', '.join(ids)} match with different outputs, and the hit policy ANY "
        "needs them to agree",
    )


def _status(value: Any, on_missing: str) -> bool | None:
    if value is None:
        return None if on_missing == "unknown" else on_missing == "hit"
    return value is True


def _aggregate(agg: str, values: list[Any], matched: int) -> Any:
    if agg == "COUNT":
        return matched
    present = [v for v in values if v is not None]
    if not present:
        return None
    if agg == "SUM":
        total = present[0]
        for v in present[1:]:
            total = total + v
        return total
    return min(present) if agg == "MIN" else max(present)


def table_step(
    node: TableNode, conditions: list[Fn | None], outputs: list[list[Fn]], default: list[Fn]
) -> TableStep:
    """The table's fields for one record: ``conditions`` per rule (None: always matches),
    ``outputs`` per rule per output, ``default`` per output (empty: NULL)."""
    names = [node.column(o.id) for o in node.table_outputs]
    floats = [o.dtype.kind == "float" for o in node.table_outputs]
    ids = [r.id for r in node.rules]
    order = list(node.order)
    policy, agg, on_missing = node.hit_policy, node.aggregator, node.on_missing
    matched_col, unknown_col = node.column(TABLE_MATCHED), node.column(TABLE_UNKNOWN)

    def values(i: int, env: Env) -> list[Any]:
        out = [fn(env, None) for fn in outputs[i]]
        return [float(v) if f and v is not None else v for v, f in zip(out, floats, strict=True)]

    def run(env: Env) -> dict[str, Any]:
        status = [
            True if cond is None else _status(cond(env, None), on_missing) for cond in conditions
        ]
        matched = [i for i in order if status[i] is True]
        unknown = [i for i in order if status[i] is None]
        out: dict[str, Any] = {
            matched_col: [ids[i] for i in sorted(matched)],
            unknown_col: [ids[i] for i in sorted(unknown)],
        }
        if policy in ("FIRST", "PRIORITY"):
            first = next((i for i in order if status[i] is not False), None)
            undecided = first is not None and status[first] is None
        else:
            undecided = bool(unknown)
        if undecided:
            out.update(dict.fromkeys(names))
            return out
        if policy == "UNIQUE" and len(matched) > 1:
            raise _conflict_unique([ids[i] for i in sorted(matched)])
        if agg is None and policy in ("RULE ORDER", "OUTPUT ORDER", "COLLECT"):
            rows = [values(i, env) for i in matched]
            out.update({n: [row[k] for row in rows] for k, n in enumerate(names)})
        elif agg is not None:
            rows = [values(i, env) for i in matched]
            for k, n in enumerate(names):
                out[n] = _aggregate(agg, [row[k] for row in rows], len(matched))
        elif matched:
            chosen = values(matched[0], env)
            if policy == "ANY":
                for i in matched[1:]:
                    if values(i, env) != chosen:
                        raise _conflict_any([ids[i] for i in sorted(matched)])
            out.update(zip(names, chosen, strict=True))
        else:
            given = [fn(env, None) for fn in default] if default else [None] * len(names)
            out.update(
                (n, float(v) if f and v is not None else v)
                for n, v, f in zip(names, given, floats, strict=True)
            )
        return out

    return run


def rule_outcome_exprs(nodes: Iterable[Node]) -> list[pl.Expr]:
    """Per rule of every table in ``nodes``: its outcome in a result frame, ``hit``
    (matched), ``unknown`` or ``pass``, named ``TABLE.RULE_ID`` (as a rule set's rules are),
    for run summaries and backtests."""
    out: list[pl.Expr] = []
    for node in nodes:
        if not isinstance(node, TableNode):
            continue
        matched = pl.col(node.column(TABLE_MATCHED))
        unknown = pl.col(node.column(TABLE_UNKNOWN))
        for r in node.rules:
            out.append(
                pl.when(matched.list.contains(pl.lit(r.id)))
                .then(pl.lit(HIT))
                .when(unknown.list.contains(pl.lit(r.id)))
                .then(pl.lit(UNKNOWN))
                .when(matched.is_not_null())
                .then(pl.lit(PASS))
                .alias(node.column(r.id))
            )
    return out


def rule_outcomes(nodes: Iterable[Node], output: Mapping[str, Any]) -> dict[str, str | None]:
    """The per-record form of :func:`rule_outcome_exprs`, from one result's fields."""
    out: dict[str, str | None] = {}
    for node in nodes:
        if not isinstance(node, TableNode):
            continue
        matched = output.get(node.column(TABLE_MATCHED))
        unknown = output.get(node.column(TABLE_UNKNOWN)) or ()
        for r in node.rules:
            out[node.column(r.id)] = (
                HIT
                if matched is not None and r.id in matched
                else UNKNOWN
                if r.id in unknown
                else PASS
                if matched is not None
                else None
            )
    return out


class TableExprs:
    """The vectorised form: :meth:`apply` adds every field of the table to a frame, and
    raises for the rows UNIQUE or ANY refuse (the executor then fails those rows alone)."""

    def __init__(
        self,
        node: TableNode,
        conditions: list[pl.Expr | None],
        outputs: list[list[pl.Expr]],
        default: list[pl.Expr],
    ) -> None:
        self.node = node
        dtypes = [to_polars_dtype(o.dtype) for o in node.table_outputs]
        self.values = [[e.cast(d) for e, d in zip(row, dtypes, strict=True)] for row in outputs]
        self.default = (
            [e.cast(d) for e, d in zip(default, dtypes, strict=True)]
            if default
            else [pl.lit(None, dtype=d) for d in dtypes]
        )
        self.dtypes = dtypes
        # each rule's flags are computed once, as columns the later expressions read
        self.flags: list[pl.Expr] = []
        self.match: list[pl.Expr] = []
        self.unknown: list[pl.Expr] = []
        for i, cond in enumerate(conditions):
            m, u = f"__table_{node.name}_m{i}", f"__table_{node.name}_u{i}"
            if cond is None:
                self.match.append(pl.lit(True))
                self.unknown.append(pl.lit(False))
                continue
            if node.on_missing == "unknown":
                self.flags.append(cond.fill_null(False).alias(m))
                self.flags.append(cond.is_null().alias(u))
                self.unknown.append(pl.col(u))
            else:
                self.flags.append(cond.fill_null(node.on_missing == "hit").alias(m))
                self.unknown.append(pl.lit(False))
            self.match.append(pl.col(m))
        self.flag_names = [f.meta.output_name() for f in self.flags]
        self.picked = f"__table_{node.name}_picked"
        self.count = (
            pl.sum_horizontal([m.cast(pl.Int64) for m in self.match]).cast(pl.Int64)
            if self.match
            else pl.lit(0, dtype=pl.Int64)
        )

    def _ids(self, flags: list[pl.Expr]) -> pl.Expr:
        return ids_where([(r.id, f) for r, f in zip(self.node.rules, flags, strict=True)])

    def _undecided(self) -> pl.Expr:
        order = self.node.order
        if not order:
            return pl.lit(False)
        if self.node.hit_policy in ("FIRST", "PRIORITY"):
            chain: Any = pl
            for i in order:
                chain = chain.when(self.match[i]).then(pl.lit(False))
                chain = chain.when(self.unknown[i]).then(pl.lit(True))
            result: pl.Expr = chain.otherwise(pl.lit(False))
            return result
        return pl.any_horizontal(self.unknown)

    def _first(self, k: int) -> pl.Expr:
        chain: Any = pl
        for i in self.node.order:
            chain = chain.when(self.match[i]).then(self.values[i][k])
        if chain is pl:
            return self.default[k]
        result: pl.Expr = chain.otherwise(self.default[k])
        return result

    def _picked(self) -> pl.Expr:
        """The positions (in the policy's order) of the matching rules, as a list."""
        flags = [(str(pos), self.match[i]) for pos, i in enumerate(self.node.order)]
        return ids_where(flags).cast(pl.List(pl.Int64))  # text is faster than concat_list

    def _lists(self, k: int) -> pl.Expr:
        order = self.node.order
        dtype = pl.List(self.dtypes[k])
        if not order:
            return pl.lit([], dtype=dtype)
        every = pl.concat_list([self.values[i][k].cast(self.dtypes[k]) for i in order])
        return every.list.gather(pl.col(self.picked)).cast(dtype)

    def _aggregate(self, agg: str, k: int) -> pl.Expr:
        """SUM, MIN or MAX of the matching rules' non-NULL values (added in the policy's
        order, as the per-record form does), NULL when there are none; COUNT."""
        if agg == "COUNT":
            return self.count
        chosen = [pl.when(self.match[i]).then(self.values[i][k]) for i in self.node.order]
        if not chosen:
            return pl.lit(None, dtype=self.dtypes[k])
        reduce = {"SUM": pl.sum_horizontal, "MIN": pl.min_horizontal, "MAX": pl.max_horizontal}
        present = pl.any_horizontal([c.is_not_null() for c in chosen])
        return pl.when(present).then(reduce[agg](chosen)).cast(self.dtypes[k])

    def columns(self) -> list[pl.Expr]:
        node = self.node
        undecided = self._undecided()
        out = [
            self._ids(self.match).alias(node.column(TABLE_MATCHED)),
            self._ids(self.unknown).alias(node.column(TABLE_UNKNOWN)),
        ]
        for k, o in enumerate(node.table_outputs):
            if node.aggregator is not None:
                value = self._aggregate(node.aggregator, k)
                dtype = pl.Int64 if node.aggregator == "COUNT" else self.dtypes[k]
            elif node.gives_lists:
                value, dtype = self._lists(k), pl.List(self.dtypes[k])
            else:
                value, dtype = self._first(k), self.dtypes[k]
            out.append(
                pl.when(undecided)
                .then(pl.lit(None, dtype=dtype))
                .otherwise(value)
                .cast(dtype)
                .alias(node.column(o.id))
            )
        return out

    def refused(self) -> pl.Expr | None:
        """Rows the hit policy refuses (several matches for UNIQUE, disagreeing matches for
        ANY), or None when the policy refuses none."""
        policy = self.node.hit_policy
        decided = ~self._undecided()
        if policy == "UNIQUE":
            return decided & (self.count > 1)
        if policy != "ANY" or not self.node.rules:
            return None
        first = [self._first(k) for k in range(len(self.dtypes))]
        differs = [
            self.match[i]
            & pl.any_horizontal([v.ne_missing(f) for v, f in zip(row, first, strict=True)])
            for i, row in enumerate(self.values)
        ]
        return decided & (self.count > 0) & pl.any_horizontal(differs)

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the table's fields."""
        work = frame.with_columns(self.flags) if self.flags else frame
        lists = self.node.gives_lists and bool(self.node.order)
        if lists:
            work = work.with_columns(self._picked().alias(self.picked))
        refused = self.refused()
        if refused is None:
            work = work.with_columns(self.columns())
        else:
            work = work.with_columns([*self.columns(), refused.alias("__table_refused")])
            self.check(work, "__table_refused")
            work = work.drop("__table_refused")
        return work.drop([*self.flag_names, *([self.picked] if lists else [])])

    def check(self, frame: pl.DataFrame, refused: str) -> None:
        """Raise the record's error when the first refused row of ``frame`` (by the
        boolean column ``refused``) has one."""
        if refused not in frame.columns or not frame.get_column(refused).any():
            return
        row = frame.filter(pl.col(refused)).row(0, named=True)
        ids = list(row[self.node.column(TABLE_MATCHED)])
        if self.node.hit_policy == "UNIQUE":
            raise _conflict_unique(ids)
        raise _conflict_any(ids)
