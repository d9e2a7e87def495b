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
- ``kaskad_decide_batch_size``: how many concurrent ``/decide`` requests each
  micro-batch decided together (``ServeConfig.batch_wait_ms``);
- ``kaskad_journal_backlog_bytes``: in journal mode, what waits to be shipped to the store;
- the monitoring series (docs/monitoring.md; alert rules in deploy/prometheus/):
  ``kaskad_inputs_total{pipeline,content_type,shape}`` every request or batch item by
  media kind (``json``, ``xml``, ``other``) and body-shape fingerprint (12 hex digits; the
  first :data:`MAX_SHAPES` shapes of a pipeline, later ones as ``other``),
  ``kaskad_field_missing_total{pipeline,field}`` accepted records missing a top-level
  input field, ``kaskad_step_failures_total{pipeline,step,fallback}``,
  ``kaskad_shadow_compared_total`` and ``kaskad_shadow_flips_total{pipeline,shadow}``
  (a challenger deciding otherwise than the champion), and the live drift gauges
  ``kaskad_drift_psi``, ``kaskad_drift_p_value``, ``kaskad_drift_alarm{pipeline,series}``;
- ``kaskad_model_compiled_level{pipeline,model}``: the LLVM level (0, 2) of the compiled
  trees scoring each model, -1 while none do (before the first 100,000 rows, or where
  they cannot be used: the warning in the log says why), set when scraped.
  Counters of a served pipeline's fields, rules and media kinds start at 0 (:meth:`prepare`)
  so that rate rules see a series before its first event.

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

MAX_SHAPES = 20
MEDIA_KINDS = ("json", "xml", "other")


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
        self.batch_size = Histogram(
            "kaskad_decide_batch_size",
            "Concurrent /decide requests decided together (micro-batching)",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
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

        self.inputs = Counter(
            "kaskad_inputs",
            "Requests (and batch items), accepted or not, by media kind and body shape",
            ["pipeline", "content_type", "shape"],
            registry=r,
        )
        self.field_missing = Counter(
            "kaskad_field_missing",
            "Accepted records in which a top-level input field is missing",
            ["pipeline", "field"],
            registry=r,
        )
        self.shadow_compared = Counter(
            "kaskad_shadow_compared",
            "Challenger runs compared with the champion's decision",
            ["pipeline", "shadow"],
            registry=r,
        )
        self.shadow_flips = Counter(
            "kaskad_shadow_flips",
            "Challenger runs whose decision differs from the champion's",
            ["pipeline", "shadow"],
            registry=r,
        )
        drift_labels = ["pipeline", "series"]
        self.drift_psi = Gauge(
            "kaskad_drift_psi",
            "PSI of the last complete live window against the release's reference",
            drift_labels,
            registry=r,
            multiprocess_mode="max",
        )
        self.drift_p_value = Gauge(
            "kaskad_drift_p_value",
            "p-value of the chi-square drift test of the last complete live window",
            drift_labels,
            registry=r,
            multiprocess_mode="min",
        )
        self.drift_alarm = Gauge(
            "kaskad_drift_alarm",
            "1 when the last live window drifted (threshold calibrated to its size)",
            drift_labels,
            registry=r,
            multiprocess_mode="max",
        )
        self.compiled_level = Gauge(
            "kaskad_model_compiled_level",
            "LLVM level of the compiled trees scoring a model (0 or 2; -1: not compiled)",
            ["pipeline", "model"],
            registry=r,
            multiprocess_mode="min",
        )
        self._shapes: dict[str, set[str]] = {}

    def prepare(self, pipeline: str, fields: Iterable[str], rules: Iterable[str]) -> None:
        """Create a served pipeline's series at 0: its fields, rules and media kinds."""
        for field in fields:
            self._child(self.field_missing, pipeline, field)
        for rule in rules:
            self._child(self.rule_unknowns, pipeline, rule)
            self._child(self.rule_hits, pipeline, rule)
        for kind in MEDIA_KINDS:
            self.inputs.labels(pipeline, kind, "none")

    def input_seen(self, pipeline: str, content_type: str | None, fingerprint: str | None) -> None:
        """One request (or batch item) at the door, accepted or not."""
        shape = fingerprint[:12] if fingerprint else "none"
        known = self._shapes.setdefault(pipeline, set())
        if shape not in known:
            if len(known) >= MAX_SHAPES:
                shape = "other"
            else:
                known.add(shape)
        self._child(self.inputs, pipeline, media_kind(content_type), shape).inc()

    def missing(self, pipeline: str, fields: Iterable[str]) -> None:
        for field in fields:
            self._child(self.field_missing, pipeline, field).inc()

    def shadow_outcome(self, pipeline: str, shadow: str, flipped: bool) -> None:
        self._child(self.shadow_compared, pipeline, shadow).inc()
        if flipped:
            self._child(self.shadow_flips, pipeline, shadow).inc()

    def drift(self, pipeline: str, results: Iterable[Any]) -> None:
        """Set the drift gauges from :class:`kaskad.monitor.live.LiveResult` values."""
        for result in results:
            self._child(self.drift_psi, pipeline, result.series).set(result.psi)
            self._child(self.drift_p_value, pipeline, result.series).set(result.p_value)
            self._child(self.drift_alarm, pipeline, result.series).set(float(result.alarm))

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


def media_kind(content_type: str | None) -> str:
    """``json``, ``xml`` or ``other``: a bounded label for a Content-Type header."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.endswith("json"):
        return "json"
    if media.endswith("xml"):
        return "xml"
    return "other"
