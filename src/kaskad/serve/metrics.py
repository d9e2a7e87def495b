"""Prometheus metrics of one app, in its own registry (never the process-global one).

- ``kaskad_requests_total{pipeline,endpoint,status}`` and
  ``kaskad_request_duration_seconds{pipeline,endpoint}``: every request;
- ``kaskad_rejections_total{pipeline,reason,field}``: refused records by reason
  (``schema``, ``body_too_large``, ``unsupported_media_type``, ``unparsable``) and the
  field at fault;
- ``kaskad_step_duration_seconds{pipeline,step}``: the time of each feature, rule-set
  and model step of every decision;
- ``kaskad_score{pipeline,output}``: the distribution of every model output (0..1 buckets);
- ``kaskad_decisions_total``, ``kaskad_rule_hits_total``, ``kaskad_rule_unknowns_total``
  and ``kaskad_shadow_skipped_total``;
- ``kaskad_journal_backlog_bytes``: in journal mode, what waits to be shipped to the store.

Labelled children are looked up once and kept: ``labels()`` costs more than ``observe``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from kaskad.compile.naming import HIT, UNKNOWN
from kaskad.errors import FieldProblem


class Metrics:
    """Counters and the latency histogram of one server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "kaskad_requests",
            "Requests by pipeline, endpoint and HTTP status",
            ["pipeline", "endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "kaskad_request_duration_seconds",
            "Request latency",
            ["pipeline", "endpoint"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.rejections = Counter(
            "kaskad_rejections",
            "Refused records by reason and the field at fault",
            ["pipeline", "reason", "field"],
            registry=r,
        )
        self.steps = Histogram(
            "kaskad_step_duration_seconds",
            "Time of each pipeline step (features, rule sets, models) per decision",
            ["pipeline", "step"],
            registry=r,
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
        )
        self.scores = Histogram(
            "kaskad_score",
            "Model outputs (scores, probabilities) of decided records",
            ["pipeline", "output"],
            registry=r,
            buckets=tuple(round(0.05 * i, 2) for i in range(1, 21)),
        )
        self.journal_backlog = Gauge(
            "kaskad_journal_backlog_bytes",
            "Decision-journal bytes not yet shipped to the store (journal mode)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self.decisions = Counter(
            "kaskad_decisions", "Decisions by outcome", ["pipeline", "decision"], registry=r
        )
        self.rule_hits = Counter("kaskad_rule_hits", "Rule hits", ["pipeline", "rule"], registry=r)
        self.rule_unknowns = Counter(
            "kaskad_rule_unknowns",
            "Rules that could not be evaluated (data missing)",
            ["pipeline", "rule"],
            registry=r,
        )
        self.failures = Counter(
            "kaskad_step_failures",
            "Records a step failed for (status 'failed'; decided by the fallback if any)",
            ["pipeline", "step", "fallback"],
            registry=r,
        )
        self.shadow_skipped = Counter(
            "kaskad_shadow_skipped",
            "Shadow runs skipped (queue full, log full or failed); the champion is unaffected",
            ["pipeline", "reason"],
            registry=r,
        )

    def request(self, pipeline: str, endpoint: str, status: int, seconds: float) -> None:
        self._child(self.requests, pipeline, endpoint, str(status)).inc()
        self._child(self.latency, pipeline, endpoint).observe(seconds)

    def rejected(
        self, pipeline: str, problems: Iterable[FieldProblem], reason: str = "schema"
    ) -> None:
        fields = sorted({p.path or "(record)" for p in problems}) or ["(record)"]
        for field in fields:
            self.rejections.labels(pipeline, reason, field).inc()

    def failed(self, pipeline: str, step: str, fallback: bool) -> None:
        """A record ``step`` failed for; ``fallback``: the pipeline decided it anyway."""
        self._child(self.failures, pipeline, step, "yes" if fallback else "no").inc()

    def decided(
        self,
        pipeline: str,
        decision: str | None,
        rules: Mapping[str, str | None],
        timings_ms: Mapping[str, float] = {},
        scores: Mapping[str, Any] = {},
    ) -> None:
        self._child(self.decisions, pipeline, decision or "(none)").inc()
        for rule, outcome in rules.items():
            if outcome == HIT:
                self._child(self.rule_hits, pipeline, rule).inc()
            elif outcome == UNKNOWN:
                self._child(self.rule_unknowns, pipeline, rule).inc()
        for step, ms in timings_ms.items():
            self._child(self.steps, pipeline, step).observe(ms / 1000)
        for output, value in scores.items():
            if isinstance(value, int | float) and value == value:  # not None, not NaN
                self._child(self.scores, pipeline, output).observe(value)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        """The text exposition; with several workers (``PROMETHEUS_MULTIPROC_DIR`` set by
        ``kaskad serve --workers``), every worker's values, summed."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)
