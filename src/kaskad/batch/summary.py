"""A batch run: source → executor → sink, chunk by chunk, and the summary of what it decided.

The summary is accumulated from the result frames as they pass: rows in, decided and
rejected (with the problems that rejected them, grouped by field), counts per decision,
and per rule the number of hits, passes and unknowns. It is printed by ``kaskad run`` and
kept in the store (:meth:`kaskad.store.Store.add_run`), so ``kaskad runs`` can list it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from kaskad.batch.overlap import decided_ahead, read_ahead_of
from kaskad.batch.rejects import RejectLimit, rejects_schema, split_rejected, with_unread
from kaskad.compile.naming import HIT, PASS, UNKNOWN
from kaskad.compile.plan import Plan
from kaskad.execute.batch import BatchExecutor
from kaskad.execute.failures import FAILED as FAILED_RECORD
from kaskad.execute.output_masking import OutputMasking
from kaskad.execute.tables import rule_outcome_exprs
from kaskad.io.sinks import Sink
from kaskad.io.sources import Source
from kaskad.spec.types import OUTCOME
from kaskad.store import Store
from kaskad.store.api import RunRecord

COMPLETED = "completed"
FAILED = "failed"
OUTCOMES = (HIT, PASS, UNKNOWN)
# "channel: 'fax' is not an allowed value" counts as "channel: not an allowed value",
# "line 17: amount: expected float, got text 'x'" as "amount: expected float"
_QUOTED_VALUE = r"^'.*' is (not an allowed value)$"
_PLACE = r"^(?:line|row) \d+(?: of [^:]*)?: "
_GOT = r"^(expected .*?), got .*$"


@dataclass(frozen=True)
class RunSummary:
    """What a batch run did. ``rejections`` maps a field to its problems and their counts
    (``{"channel": {"not an allowed value": 3}}``; a record may have several problems);
    ``rules`` maps each ``RULESET.RULE`` column to its counts of hit, pass and unknown over
    the decided records."""

    pipeline: str
    plan_hash: str
    input: str
    output: str
    status: str  # completed | failed
    rows_in: int
    decided: int
    rejected: int
    decisions: dict[str, int]
    rejections: dict[str, dict[str, int]]
    rules: dict[str, dict[str, int]]
    started_at: dt.datetime
    finished_at: dt.datetime
    duration_s: float
    release: str | None = None
    error: str | None = None
    failed: int = 0  # records a step failed for (status 'failed')
    failures: dict[str, int] = field(default_factory=dict)  # per failing step

    @property
    def failure_rate(self) -> float:
        return self.failed / self.rows_in if self.rows_in else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows_in / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "plan_hash": self.plan_hash,
            "release": self.release,
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.error,
            "rows_in": self.rows_in,
            "decided": self.decided,
            "rejected": self.rejected,
            "decisions": self.decisions,
            "rejections": self.rejections,
            "failed": self.failed,
            "failure_rate": self.failure_rate,
            "failures": self.failures,
            "rules": self.rules,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_s": self.duration_s,
            "rows_per_s": self.rows_per_s,
        }


@dataclass
class SummaryBuilder:
    """Accumulates a :class:`RunSummary` from result frames; the clock starts at creation."""

    plan: Plan
    input: str
    output: str
    release: str | None = None
    rows_in: int = 0
    decided: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    rejections: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    _clock: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.rule_columns = [name for name, dtype in self.plan.output_fields() if dtype == OUTCOME]
        # a decision table's rules are counted as a rule set's: hit (matched), pass, unknown
        tables = {e.meta.output_name(): e for e in rule_outcome_exprs(self.plan.nodes)}
        self.rule_columns += list(tables)
        self._rule_counts = {c: dict.fromkeys(OUTCOMES, 0) for c in self.rule_columns}
        self._rule_exprs = [
            (tables.get(c, pl.col(c)) == outcome).sum().alias(f"{c}\n{outcome}")
            for c in self.rule_columns
            for outcome in OUTCOMES
        ]

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._clock

    def add(self, result: pl.DataFrame) -> None:
        """Count one chunk of results (``BatchExecutor.run``'s output)."""
        self.rows_in += result.height
        decided = result.filter(pl.col("status") == "decided")
        self.decided += decided.height
        for decision, n in decided.group_by("decision").len().iter_rows():
            self.decisions[str(decision)] += n
        if self._rule_exprs:
            counts = decided.select(self._rule_exprs).row(0, named=True)
            for key, n in counts.items():
                column, outcome = key.split("\n")
                self._rule_counts[column][outcome] += n
        if decided.height < result.height:
            self._add_rejections(result.filter(pl.col("status") == "rejected"))
            self._add_failures(result.filter(pl.col("status") == FAILED_RECORD))

    @property
    def rejected(self) -> int:
        return self.rows_in - self.decided - self.failed

    def _add_failures(self, failed: pl.DataFrame) -> None:
        self.failed += failed.height
        steps = failed.select(pl.col("errors").list.first().str.splitn(": ", 2)).unnest("errors")
        for step, n in steps.group_by("field_0").len().iter_rows():
            self.failures[str(step)] += n

    def _add_rejections(self, rejected: pl.DataFrame) -> None:
        text = pl.col("errors").explode().drop_nulls().str.replace(_PLACE, "")
        parts = (
            rejected.select(text.str.splitn(": ", 2))
            .unnest("errors")
            .select(
                pl.col("field_0").alias("field"),
                pl.col("field_1")
                .fill_null("")
                .str.replace(_QUOTED_VALUE, "$1")
                .str.replace(_GOT, "$1")
                .alias("problem"),
            )
        )
        for name, problem, n in parts.group_by("field", "problem").len().iter_rows():
            self.rejections[(name, problem)] += n

    def finish(self, error: str | None = None) -> RunSummary:
        """The summary so far: completed, or failed with ``error``."""
        rejections: dict[str, dict[str, int]] = {}
        for (name, problem), n in sorted(self.rejections.items()):
            rejections.setdefault(name, {})[problem] = n
        return RunSummary(
            pipeline=self.plan.name,
            plan_hash=self.plan.hash,
            input=self.input,
            output=self.output,
            status=FAILED if error is not None else COMPLETED,
            rows_in=self.rows_in,
            decided=self.decided,
            rejected=self.rejected,
            decisions=dict(self.decisions.most_common()),
            rejections=rejections,
            rules={c: dict(v) for c, v in self._rule_counts.items()},
            started_at=self.started_at,
            finished_at=dt.datetime.now(dt.UTC),
            duration_s=self.elapsed_s,
            release=self.release,
            error=error,
            failed=self.failed,
            failures=dict(self.failures.most_common()),
        )


def run_batch(
    executor: BatchExecutor,
    source: Source,
    sink: Sink,
    summary: SummaryBuilder | None = None,
    on_chunk: Callable[[int], None] | None = None,
    read_ahead: bool = True,
    *,
    decide_ahead: bool = True,
    rejects: Sink | None = None,
    max_rejected: RejectLimit | None = None,
    masking: OutputMasking | None = None,
) -> RunSummary:
    """Decide every chunk of ``source`` into ``sink`` and commit it; on any failure abort
    the sink (nothing appears under the output's name) and re-raise. A record that cannot
    be read or is invalid is a ``rejected`` row (in ``rejects`` when given, else in the
    output) and the run goes on; past ``max_rejected`` the run fails
    (:class:`~kaskad.batch.rejects.TooManyRejectedError`) and writes nothing. ``summary``
    (made here when not given) holds the counts so far even when the run fails;
    ``on_chunk`` is called with each chunk's record count (for a progress bar). With
    ``read_ahead`` a thread reads the next chunk while this one is decided (one chunk
    more in memory); with ``decide_ahead`` the next chunk is decided in a second thread
    while this one is decided and written (up to two chunks more; the same results; see
    :mod:`kaskad.batch.overlap`). With ``masking``, the sensitive input fields the output
    echoes are written as digests, to the output and the rejects (open both sinks with
    ``masking.schema(executor.output_schema)``)."""
    builder = summary or SummaryBuilder(executor.plan, source.name, sink.name)
    chunks = read_ahead_of(source.read_chunks()) if read_ahead else source.read_chunks()
    decisions = decided_ahead(executor, chunks, source.name, 2 if decide_ahead else 1)
    schema = executor.output_schema
    written = masking.schema(schema) if masking is not None else schema
    try:
        with sink, rejects or contextlib.nullcontext():
            for chunk, decided in decisions:
                first = builder.rows_in
                result = with_unread(decided, chunk, schema, first)
                builder.add(result)
                if max_rejected is not None:
                    max_rejected.check(builder.rejected, builder.rows_in, final=False)
                if masking is not None:
                    result = masking.frame(result)
                if rejects is not None:
                    result, rejected = split_rejected(result, first, rejects_schema(written))
                    rejects.write(rejected)
                sink.write(result)
                if on_chunk is not None:
                    on_chunk(chunk.records)
            if max_rejected is not None:
                max_rejected.check(builder.rejected, builder.rows_in, final=True)
            sink.commit()
            if rejects is not None:
                rejects.commit()
    finally:
        decisions.close()  # the deciding threads, then the source's files or connection
        if isinstance(chunks, Generator):
            chunks.close()
    return builder.finish()


def record_run(store: Store, summary: RunSummary, actor: str) -> RunRecord:
    """Keep ``summary`` in ``store``'s run log."""
    return store.add_run(
        pipeline=summary.pipeline,
        plan_hash=summary.plan_hash,
        release=summary.release,
        input=summary.input,
        output=summary.output,
        status=summary.status,
        error=summary.error,
        rows_in=summary.rows_in,
        decided=summary.decided,
        rejected=summary.rejected,
        decisions=summary.decisions,
        rejections=summary.rejections,
        rules=summary.rules,
        started_at=summary.started_at,
        finished_at=summary.finished_at,
        duration_s=summary.duration_s,
        actor=actor,
    )
