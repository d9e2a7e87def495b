"""Backtest reports: a JSON summary and a self-contained HTML page for risk analysts.

The page needs nothing but a browser: no external assets, no scripts, CSS inline and
plots as inline SVG (geometry from :mod:`kaskad.backtest.charts`). It is rendered from the
Jinja2 template ``templates/report.html.j2`` with autoescape on, so everything that comes
from user data (pipeline names, rule ids and descriptions, decisions, reasons, keys,
paths) is HTML-escaped.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from kaskad.backtest import charts, formats
from kaskad.backtest.result import (
    REJECTED,
    BacktestResult,
    OutcomeRate,
    ScorePerformance,
    ratio,
)
from kaskad.errors import InputError

__all__ = [
    "FORMAT",
    "read_summary",
    "render_html",
    "summary",
    "write_atomic",
    "write_report",
    "write_summary",
]

FORMAT = "kaskad.backtest/1"
STABILITY_TEXT = {
    "stable": "stable: no meaningful shift (PSI below 0.1)",
    "moderate": "moderate shift: worth investigating (PSI 0.1 to 0.25)",
    "significant": "significant shift: the score distribution has changed (PSI above 0.25)",
}

# ---- JSON -------------------------------------------------------------------------------


def summary(result: BacktestResult) -> dict[str, Any]:
    """Every number of the backtest as JSON-ready data (no NaN: missing values are null)."""
    return {"format": FORMAT, **result.to_dict()}


def write_summary(path: Path, result: BacktestResult) -> None:
    text = json.dumps(summary(result), indent=2, ensure_ascii=False, allow_nan=False)
    write_atomic(path, text + "\n")


def read_summary(path: Path) -> BacktestResult:
    """A result back from a summary written by :func:`write_summary`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the backtest summary: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not a kaskad backtest summary (format {FORMAT})")
    return BacktestResult.from_dict(data)


def write_report(path: Path, result: BacktestResult) -> None:
    write_atomic(path, render_html(result))


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write a report beside the target, then move it into place: never a half-written
    file. (Not ``mkstemp``: its files are private to the owner, and reports are meant to
    be shared.) Text is written as UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---- HTML -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionRate:
    """A decision's rows and share of all rows, per release (0 when nothing was replayed)."""

    decision: str
    baseline_rows: int
    baseline_rate: float
    candidate_rows: int
    candidate_rate: float


def render_html(result: BacktestResult) -> str:
    """The whole report as one HTML document."""
    r = result
    base, cand = r.decision_counts("baseline"), r.decision_counts("candidate")
    rates = [
        DecisionRate(
            d,
            base[d],
            base[d] / r.rows if r.rows else 0.0,
            cand[d],
            cand[d] / r.rows if r.rows else 0.0,
        )
        for d in r.decisions
        if base[d] or cand[d]
    ]
    rates_chart = charts.bar_chart(
        [d.decision for d in rates],
        [d.baseline_rate for d in rates],
        [d.candidate_rate for d in rates],
    )
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            r=r,
            title=f"Backtest {formats.who(r.baseline)} → {formats.who(r.candidate)}",
            flips=[c for c in r.flips if c.baseline != c.candidate],
            rates=rates,
            rates_chart=rates_chart,
            performance=_performance(r),
            outcomes=_outcomes(r),
        )
    )


def _performance(
    r: BacktestResult,
) -> list[tuple[str, ScorePerformance | None, ScorePerformance | None]]:
    """(score output, baseline, candidate) in the order the outputs first appear."""
    perf = {(p.output, p.release): p for p in r.performance}
    outputs = dict.fromkeys(p.output for p in r.performance)
    return [(o, perf.get((o, "baseline")), perf.get((o, "candidate"))) for o in outputs]


def _outcomes(
    r: BacktestResult,
) -> list[tuple[str, tuple[OutcomeRate | None, OutcomeRate | None]]]:
    """(decision, (baseline, candidate)) for each decision either release gave a rate."""
    by = {(o.release, o.decision): o for o in r.outcomes}
    pairs = [(d, (by.get(("baseline", d)), by.get(("candidate", d)))) for d in r.decisions]
    return [(d, pair) for d, pair in pairs if pair != (None, None)]


@cache
def _environment() -> jinja2.Environment:
    """The report's templates (shipped beside this module), autoescaped, strict about
    undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kaskad.backtest", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        thousands=formats.thousands,
        pct=formats.pct,
        pp=formats.pp,
        num=formats.num,
        short=formats.short,
        who=formats.who,
        coord=lambda value: f"{value:.1f}",
    )
    env.globals.update(
        REJECTED=REJECTED,
        STABILITY_TEXT=STABILITY_TEXT,
        ratio=ratio,
        histogram_chart=charts.histogram_chart,
        deciles_chart=charts.deciles_chart,
    )
    return env
