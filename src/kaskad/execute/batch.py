"""The vectorized executor: a plan over Polars frames, chunk by chunk."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from kaskad.compile.expr import typed as t
from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.compile.expr.to_polars import PolarsCompiler, compute_hoisted, hoisted_aggregates
from kaskad.compile.plan import (
    Branch,
    FeatureNode,
    ModelNode,
    Node,
    Plan,
    RuleSetNode,
    ShadowPlan,
    TableNode,
)
from kaskad.errors import ExecutionError
from kaskad.execute.convert import array_to_series, series_to_array
from kaskad.execute.failures import FAILED, failure_text, fallback_fields
from kaskad.execute.inputs import prepare_frame, validation_errors, validation_failed
from kaskad.execute.loaded import Loaded
from kaskad.execute.semantics import (
    STRING_LIST,
    ShadowFields,
    branch_index_expr,
    branch_table,
    clock_now,
    decision_time_filled,
    ruleset_exprs,
    summary_exprs,
)
from kaskad.execute.tables import TableExprs
from kaskad.models import ModelCache

_MODEL_DTYPES = {"number": pl.Float64, "text": pl.String}


class _Exprs:
    """Hoisted aggregates share one numbering per executor; ``prefix`` keeps a shadow's
    columns apart from the champion's."""

    def __init__(self, prefix: str = "__agg") -> None:
        self.prefix = prefix
        self.hoisted: dict[t.TAgg, str] = {}
        self.compiler = PolarsCompiler(self.hoisted)

    def register(self, exprs: list[t.TExpr]) -> dict[t.TAgg, str]:
        mine: dict[t.TAgg, str] = {}
        for e in exprs:
            for agg in hoisted_aggregates(e):
                name = self.hoisted.setdefault(agg, f"{self.prefix}{len(self.hoisted)}")
                mine[agg] = name
        return mine


class _NodeRunner:
    def __init__(self, node: Node, exprs: _Exprs, loaded: Loaded) -> None:
        self.node = node
        self.exprs = exprs
        c = exprs.compiler
        self.aggs = exprs.register(node.expressions())
        self.columns: list[pl.Expr] = []
        if isinstance(node, FeatureNode) and node.expr is not None:
            self.columns = [c.compile(node.expr).cast(to_polars_dtype(node.dtype)).alias(node.name)]
        elif isinstance(node, RuleSetNode):
            self.columns = ruleset_exprs(node, [c.compile(r.expr) for r in node.rules])
        elif isinstance(node, TableNode):
            self.table = TableExprs(
                node,
                [c.compile(r.when) if r.when is not None else None for r in node.rules],
                [[c.compile(e) for e in r.then] for r in node.rules],
                [c.compile(e) for e in node.default or ()],
            )
        elif isinstance(node, FeatureNode):
            self.args = [c.compile(a) for a in node.args]
            self.func = loaded.feature(node)
        else:
            assert isinstance(node, ModelNode)
            self.adapter = loaded.model(node)
            self.args = [
                c.compile(e).cast(_MODEL_DTYPES[self.adapter.kind_of(i)])
                for i, (_, e) in enumerate(node.inputs)
            ]

    def run(self, frame: pl.DataFrame) -> pl.DataFrame:
        node = self.node
        if self.aggs:
            frame = compute_hoisted(frame, self.aggs, self.exprs.compiler)
        if isinstance(node, RuleSetNode):
            frame = frame.with_columns(self.columns)
            return frame.with_columns(summary_exprs(node))
        if isinstance(node, TableNode):
            return self.table.apply(frame)
        if self.columns:
            return frame.with_columns(self.columns)
        if isinstance(node, FeatureNode):
            return frame.with_columns(self._python_feature(frame, node))
        assert isinstance(node, ModelNode)
        return frame.with_columns(self._model(frame, node))

    def _python_feature(self, frame: pl.DataFrame, node: FeatureNode) -> pl.Series:
        values = frame.select([a.alias(f"__arg{i}") for i, a in enumerate(self.args)])
        arrays = [
            series_to_array(values.to_series(i), node.args[i].dtype) for i in range(len(self.args))
        ]
        try:
            result = self.func(*arrays)
            return array_to_series(node.name, result, node.dtype, frame.height)
        except Exception as exc:
            raise ExecutionError(f"feature {node.name}", f"{type(exc).__name__}: {exc}") from exc

    def _model(self, frame: pl.DataFrame, node: ModelNode) -> list[pl.Series]:
        batch: np.ndarray[Any, Any] | pl.DataFrame
        if self.adapter.takes_frame:  # named columns; numbers missing as NaN, text as None
            batch = frame.select(
                [
                    a.fill_null(float("nan")).alias(name)
                    if self.adapter.kind_of(i) == "number"
                    else a.alias(name)
                    for i, (a, (name, _)) in enumerate(zip(self.args, node.inputs, strict=True))
                ]
            )
        else:
            batch = np.ascontiguousarray(
                frame.select([a.alias(f"__in{i}") for i, a in enumerate(self.args)])
                .to_numpy()
                .astype(np.float64, copy=False)
            )
        try:
            result = (
                self.adapter.predict_batch(batch)
                if frame.height
                else {source: np.empty(0) for _, source in node.outputs_map}
            )
        except Exception as exc:
            raise ExecutionError(f"model {node.name}", f"{type(exc).__name__}: {exc}") from exc
        return [
            pl.Series(
                name, np.asarray(result[source], dtype=np.float64), dtype=pl.Float64
            ).fill_nan(None)
            for name, source in node.outputs_map
        ]


class _Decision:
    def __init__(self, branches: tuple[Branch, ...], exprs: _Exprs) -> None:
        conds = [b.when for b in branches if b.when is not None]
        self.aggs = exprs.register(conds)
        self.exprs = exprs
        conditions = [
            exprs.compiler.compile(b.when) if b.when is not None else None for b in branches
        ]
        self.index = branch_index_expr(conditions).alias("__branch")
        self.table = branch_table(branches, "__branch")

    def run(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.aggs:
            frame = compute_hoisted(frame, self.aggs, self.exprs.compiler)
        frame = frame.drop([c for c in ("decision", "reasons") if c in frame.columns])
        frame = frame.with_columns(self.index)
        return frame.join(self.table, on="__branch", how="left", maintain_order="left")


class _ShadowRunner:
    def __init__(self, shadow: ShadowPlan, index: int, loaded: Loaded, champion: Plan) -> None:
        self.fields = ShadowFields(shadow)
        self.columns = self.fields.fields
        self.sub = BatchExecutor(shadow.plan, loaded.models) if shadow.plan is not None else None
        exprs = _Exprs(f"__shadow{index}_agg")
        self.nodes = [_NodeRunner(n, exprs, loaded) for n in shadow.nodes]
        self.decision = _Decision(shadow.decision, exprs)
        self.needs, self.after = _champion_steps_read(shadow, champion)

    def run(self, frame: pl.DataFrame, inputs: pl.DataFrame) -> pl.DataFrame:
        return self.attempt(frame, inputs)[0]

    def attempt(self, frame: pl.DataFrame, inputs: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
        """The challenger's fields for each row, and whether it ran (False: it raised,
        and every row carries the error)."""
        try:
            if self.sub is not None:
                result = self.sub.run(inputs)
            else:
                result = frame
                for runner in self.nodes:
                    result = runner.run(result)
                result = self.decision.run(result)
            return self.fields.ran_frame(result), True
        except Exception as exc:  # a challenger never fails the champion
            return self.fields.failed_frame(exc, frame.height), False


def _champion_steps_read(shadow: ShadowPlan, champion: Plan) -> tuple[set[str], int]:
    """The columns a challenger reads from the champion's frame, and how many of the
    champion's steps must have run before it can start (0 for a whole-pipeline
    challenger, which reads only the input)."""
    if shadow.plan is not None:
        return set(), 0
    own = {name for node in shadow.nodes for name, _ in node.outputs()}
    exprs = [e for node in shadow.nodes for e in node.expressions()]
    exprs += [b.when for b in shadow.decision if b.when is not None]
    needs = {c for e in exprs for c in t.columns_used(e)} | {n for n, _ in shadow.reported}
    needs -= own
    after = 0
    for i, node in enumerate(champion.nodes, 1):
        if needs & {name for name, _ in node.outputs()}:
            after = i
    return needs, after


class _Overlap:
    """Challengers started in a thread as soon as the champion's steps they read have run,
    so that they run beside the champion's remaining steps (a model library releases the
    interpreter while it computes). Their fields are the same as when run after the
    champion: rows are independent, and when a later champion step fails some rows, the
    challenger's values for those rows are dropped, or, had it raised, it runs again on
    the decided rows alone, as it would have."""

    def __init__(self, shadows: list[_ShadowRunner], pool: ThreadPoolExecutor) -> None:
        self.shadows = shadows
        self.pool = pool
        self.inputs: pl.DataFrame | None = None
        self.started: dict[int, tuple[pl.DataFrame, Future[tuple[pl.DataFrame, bool]]]] = {}

    def step(self, done: int, work: pl.DataFrame) -> None:
        """The champion's first ``done`` steps have run and produced ``work`` (at 0: the
        valid records, the only inputs a whole-pipeline challenger reads)."""
        if done == 0:
            self.inputs = work.drop("__row", "errors")
        assert self.inputs is not None
        for i, shadow in enumerate(self.shadows):
            if i in self.started or shadow.after != done or not shadow.needs <= set(work.columns):
                continue
            self.started[i] = (work, self.pool.submit(shadow.attempt, work, self.inputs))

    def frames(self, work: pl.DataFrame, inputs: pl.DataFrame) -> list[pl.DataFrame]:
        """Each challenger's fields for the rows of ``work`` (the decided rows, whose
        inputs are ``inputs``)."""
        out = []
        for i, shadow in enumerate(self.shadows):
            if i not in self.started:
                out.append(shadow.run(work, inputs))
                continue
            frame, future = self.started[i]
            fields, ran = future.result()
            if frame.height != work.height:
                if ran:
                    keep = frame.get_column("__row").is_in(work.get_column("__row").implode())
                    fields = fields.filter(keep)
                else:
                    fields = shadow.run(work, inputs)
            out.append(fields)
        return out


# computes the challengers' fields later: one dict per input row, None for a rejected row
ShadowRows = Callable[[], list[dict[str, Any] | None]]


class BatchExecutor:
    """Runs a plan on a frame of records; the output has one row per input row.

    Models come from ``models`` (the process's shared model cache by default). With
    ``overlap`` (the default), `run` starts each challenger in a thread as soon as the
    champion's steps it reads have run; without, challengers run after the champion. The
    results are the same."""

    def __init__(
        self, plan: Plan, models: ModelCache | None = None, *, overlap: bool = True
    ) -> None:
        self.plan = plan
        self.overlap = overlap
        loaded = Loaded(plan, models)
        exprs = _Exprs()
        self._nodes = [_NodeRunner(n, exprs, loaded) for n in plan.nodes]
        self._decision = _Decision(plan.decision, exprs)
        self._shadows = [_ShadowRunner(s, i, loaded, plan) for i, s in enumerate(plan.shadows)]
        self._pool: tuple[int, ThreadPoolExecutor] | None = None  # with its process id
        self._pool_lock = threading.Lock()
        self._failed = validation_failed(plan.schema)
        self._errors = validation_errors(plan.schema)
        self.output_schema = {name: to_polars_dtype(d) for name, d in plan.output_fields()}

    def run(self, frame: pl.DataFrame, source: str = "input") -> pl.DataFrame:
        """Decide every row of ``frame``; invalid rows come back with status 'rejected'."""
        overlap = None
        if self._shadows and self.overlap:
            overlap = _Overlap(self._shadows, self._challenger_pool())
        work, inputs, rejected = self._champion(frame, source, overlap)
        if overlap is not None:
            shadow_frames = overlap.frames(work, inputs)
        else:
            shadow_frames = [s.run(work, inputs) for s in self._shadows]
        if shadow_frames:
            work = pl.concat([work, *shadow_frames], how="horizontal")
        return self._assemble(work, rejected)

    def _challenger_pool(self) -> ThreadPoolExecutor:
        """The threads challengers run in: made on first use, and again in a forked
        process (which has none of its parent's threads). Room for two calls at once."""
        with self._pool_lock:
            if self._pool is None or self._pool[0] != os.getpid():
                workers = 2 * len(self._shadows)
                self._pool = (os.getpid(), ThreadPoolExecutor(workers, "kaskad-challenger"))
            return self._pool[1]

    def run_deferred(
        self, frame: pl.DataFrame, source: str = "input"
    ) -> tuple[pl.DataFrame, ShadowRows | None]:
        """Like `run` without the challengers' columns, plus a function that computes
        them later (None without challengers): one dict of ``shadow.NAME.*`` fields per
        row of ``frame``, None for a rejected row. Same values as `run`."""
        work, inputs, rejected = self._champion(frame, source)
        out = self._assemble(work, rejected)
        columns = [c for s in self._shadows for c, _ in s.columns]
        out = out.drop(columns)
        if not self._shadows:
            return out, None
        total = frame.height

        def later() -> list[dict[str, Any] | None]:
            shadow = pl.concat([s.run(work, inputs) for s in self._shadows], how="horizontal")
            typed = shadow.select(
                [pl.col(c).cast(self.output_schema[c]) for c in columns]
            ).to_dicts()
            rows: list[dict[str, Any] | None] = [None] * total
            for row, fields in zip(work.get_column("__row").to_list(), typed, strict=True):
                rows[row] = fields
            return rows

        return out, later

    def _champion(
        self, frame: pl.DataFrame, source: str, overlap: _Overlap | None = None
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """The decided valid rows (with ``__row``), their inputs, and the rows not decided:
        rejected, and failed (a step raised for them). ``overlap`` is told of each step
        done, to start the challengers that can."""
        inputs = prepare_frame(self.plan.schema, frame, source)
        if self.plan.clock:
            inputs = decision_time_filled(inputs, clock_now())
        checked = inputs.with_row_index("__row").with_columns(self._failed.alias("__failed"))
        valid = (
            checked.filter(~pl.col("__failed"))
            .drop("__failed")
            .with_columns(pl.lit([], dtype=STRING_LIST).alias("errors"))
        )
        rejected = (
            checked.filter(pl.col("__failed"))
            .drop("__failed")
            .with_columns(self._errors.alias("errors"))
        )
        work = valid
        failed: list[pl.DataFrame] = []
        if overlap is not None:
            overlap.step(0, work)
        for done, runner in enumerate(self._nodes, 1):
            work = self._guarded(runner, work, failed)
            if overlap is not None:
                overlap.step(done, work)
        work = self._decision.run(work)
        work = work.with_columns(pl.lit("decided").alias("status"))
        rejected = rejected.with_columns(pl.lit("rejected").alias("status"))
        if failed:  # the challengers see the decided rows' inputs only
            valid = valid.filter(pl.col("__row").is_in(work.get_column("__row").implode()))
            parts = [rejected, *failed]
            rejected = pl.concat([p.select(self._out_columns(p, "__row")) for p in parts])
        return work, valid.drop("__row", "errors"), rejected

    def _guarded(
        self, runner: _NodeRunner, work: pl.DataFrame, failed: list[pl.DataFrame]
    ) -> pl.DataFrame:
        """``runner`` over ``work``; when it raises, over each row alone: the rows it fails
        for go to ``failed`` (status 'failed', the error, the fallback), the rest go on."""
        try:
            return runner.run(work)
        except Exception:
            pass
        done: list[pl.DataFrame] = []
        node = runner.node
        decision, reasons = fallback_fields(self.plan, node)
        for i in range(work.height):
            row = work.slice(i, 1)
            try:
                done.append(runner.run(row))
            except Exception as exc:
                failed.append(
                    row.with_columns(
                        pl.lit(FAILED).alias("status"),
                        pl.lit([failure_text(node, exc)], dtype=STRING_LIST).alias("errors"),
                        pl.lit(decision, dtype=pl.String).alias("decision"),
                        pl.lit(reasons, dtype=STRING_LIST).alias("reasons"),
                    )
                )
        if done:
            return pl.concat(done, how="vertical_relaxed")
        empty = work.clear()
        return empty.with_columns(
            [pl.lit(None, dtype=to_polars_dtype(d)).alias(n) for n, d in node.outputs()]
        )

    def _assemble(self, work: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
        decided = work.select(self._out_columns(work, "__row"))
        rejected_out = rejected.select(self._out_columns(rejected, "__row"))
        out = pl.concat([decided, rejected_out], how="vertical")
        if rejected.height:
            out = out.sort("__row")
        return out.drop("__row")

    def _out_columns(self, frame: pl.DataFrame, *first: str) -> list[pl.Expr]:
        present = set(frame.columns)
        return [pl.col(c) for c in first] + [
            (pl.col(name).cast(dtype) if name in present else pl.lit(None, dtype=dtype)).alias(name)
            for name, dtype in self.output_schema.items()
        ]
