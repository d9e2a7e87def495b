"""How the report writes numbers and releases: the filters its template uses."""

from __future__ import annotations

from kaskad.backtest.result import PlanInfo

__all__ = ["num", "pct", "pp", "short", "thousands", "who"]


def thousands(value: int) -> str:
    """A row count with thousands separators."""
    return f"{value:,}"


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def pp(value: float | None) -> str:
    """A change of rate in percentage points."""
    if value is None:
        return "—"
    return f"{value * 100:+.2f} pp" if value else "0"


def num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def short(value: float) -> str:
    """Three significant digits (axis ticks, bin edges)."""
    return f"{value:.3g}"


def who(info: PlanInfo) -> str:
    """A release as people name it: ``NAME@NUMBER``, or the pipeline's working copy."""
    return info.ref or f"{info.name} (working copy)"
