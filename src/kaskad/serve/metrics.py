"""Prometheus metrics of one app, in its own registry (never the process-global one)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from kaskad.serve.errors import FieldProblem


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
            "Rejected records by the field at fault",
            ["pipeline", "field"],
            registry=r,
        )
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

        self.shadow_skipped = Counter(
            "kaskad_shadow_skipped",
            "Shadow runs skipped (queue full, log full or failed); the champion is unaffected",
            ["pipeline", "reason"],
            registry=r,
        )

    def request(self, pipeline: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(pipeline, endpoint, str(status)).inc()
        self.latency.labels(pipeline, endpoint).observe(seconds)

    def rejected(self, pipeline: str, problems: Iterable[FieldProblem]) -> None:
        for field in sorted({p.field or "(record)" for p in problems}):
            self.rejections.labels(pipeline, field).inc()

    def decided(self, pipeline: str, decision: str | None, rules: dict[str, str | None]) -> None:
        self.decisions.labels(pipeline, decision or "(none)").inc()
        for rule, outcome in rules.items():
            if outcome == "hit":
                self.rule_hits.labels(pipeline, rule).inc()
            elif outcome == "unknown":
                self.rule_unknowns.labels(pipeline, rule).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
