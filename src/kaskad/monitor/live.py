"""Drift computed live in the server, for ``/metrics``.

:class:`LiveDrift` holds a release's reference bins and counts the records the server
decides into them, window after window of :data:`WINDOW` records. Each time a window
fills, every numeric and categorical series of it is tested against the reference
(:func:`kaskad.monitor.drift.compare`, the false-alarm budget shared between the series)
and the result kept until the next window fills: the server exports it as
``kaskad_drift_psi``, ``kaskad_drift_p_value`` and ``kaskad_drift_alarm`` gauges, one per
series (bounded by the reference: at most the fields, features and scores of the plan).

Counting a record costs a dictionary lookup and a bisection per series, on the decide
thread; nothing is stored per record.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kaskad.monitor import drift
from kaskad.monitor.profile import value_of

WINDOW = 2000


@dataclass(frozen=True)
class LiveResult:
    series: str
    psi: float
    p_value: float
    alarm: bool


class _Series:
    __slots__ = ("counts", "edges", "index", "key", "kind", "reference")

    def __init__(self, key: str, spec: Mapping[str, Any]) -> None:
        self.key = key
        self.kind: str = spec["kind"]
        self.edges: list[float] = list(spec.get("edges", []))
        self.index = {v: i for i, v in enumerate(spec.get("values", []))}
        self.reference: list[int] = list(spec["counts"])
        self.counts = [0] * len(self.reference)

    def add(self, value: Any) -> None:
        if value is None:
            return
        if self.kind == "numeric":
            if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
                self.counts[bisect_left(self.edges, float(value))] += 1
        else:
            label = str(value).lower() if isinstance(value, bool) else str(value)
            self.counts[self.index.get(label, len(self.counts) - 1)] += 1


class LiveDrift:
    """Window-by-window drift of one release's traffic against its reference."""

    def __init__(self, reference: Mapping[str, Any], window: int = WINDOW, alpha: float = 0.01):
        specs = reference.get("series", {})
        self._series = [
            _Series(key, spec)
            for key, spec in specs.items()
            if spec["kind"] in ("numeric", "category") and sum(spec.get("counts", [])) > 0
        ]
        self._window = window
        self._alpha = drift.family_alpha(alpha, len(self._series))
        self._seen = 0
        self._lock = threading.Lock()
        self.results: list[LiveResult] = []

    @property
    def series(self) -> list[str]:
        return [s.key for s in self._series]

    def observe(self, record: Any, output: Mapping[str, Any]) -> None:
        row = {"input": record, "output": output}
        with self._lock:
            for s in self._series:
                s.add(value_of(row, s.key))
            self._seen += 1
            if self._seen >= self._window:
                self._close_window()

    def _close_window(self) -> None:
        results = []
        for s in self._series:
            test = drift.compare(s.reference, s.counts, self._alpha)
            if test is not None:
                results.append(LiveResult(s.key, test.psi, test.p_value, test.alarm))
            s.counts = [0] * len(s.counts)
        self._seen = 0
        self.results = results
