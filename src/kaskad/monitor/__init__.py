"""Monitoring from the decision log: a reference frozen per release, windows compared
with it (format sentinel, missing and unknown rates, decision mix, drift with thresholds
calibrated to the sample size, champion versus challenger), labels that arrive later,
and the checks behind ``kaskad monitor --check``.
"""

from __future__ import annotations

from kaskad.monitor.drift import DriftTest, compare, family_alpha
from kaskad.monitor.labels import label_report, load_labels
from kaskad.monitor.reference import freeze_golden, freeze_rows, reference_of
from kaskad.monitor.window import Thresholds, WindowSpec, monitor_window

__all__ = [
    "DriftTest",
    "Thresholds",
    "WindowSpec",
    "compare",
    "family_alpha",
    "freeze_golden",
    "freeze_rows",
    "label_report",
    "load_labels",
    "monitor_window",
    "reference_of",
]
