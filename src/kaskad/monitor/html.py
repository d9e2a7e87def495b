"""The monitoring report as one offline HTML page, in the backtest report's style (its
stylesheet, inline SVG, no scripts or external assets), autoescaped."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from kaskad.backtest import formats
from kaskad.backtest.report import write_atomic

WIDTH, HEIGHT = 640.0, 160.0
PAD = 28.0


def line_chart(points: list[tuple[str, list[float | None]]]) -> dict[str, Any]:
    """Polylines of shares (0..1) over the window's time buckets, one per named series."""
    n = max((len(v) for _, v in points), default=0)
    step = (WIDTH - 2 * PAD) / max(n - 1, 1)
    lines = []
    for name, values in points:
        coords = [
            f"{PAD + i * step:.1f},{HEIGHT - PAD - v * (HEIGHT - 2 * PAD):.1f}"
            for i, v in enumerate(values)
            if v is not None
        ]
        lines.append({"name": name, "points": " ".join(coords)})
    return {"width": WIDTH, "height": HEIGHT, "pad": PAD, "lines": lines}


def _charts(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    buckets = report["series"]["buckets"]
    if not buckets:
        return []
    types = sorted({t for b in buckets for t in b["content_types"]})
    fields = sorted({f for b in buckets for f in b["missing"]})
    return [
        ("Rejected share", line_chart([("rejected", [b["rejected_share"] for b in buckets])])),
        (
            "Content-type mix",
            line_chart([(t, [b["content_types"].get(t, 0.0) for b in buckets]) for t in types]),
        ),
        (
            "Missing share of each input field",
            line_chart([(f, [b["missing"].get(f) for b in buckets]) for f in fields]),
        ),
    ]


def render_html(report: dict[str, Any]) -> str:
    title = f"Monitoring {report['window']['pipeline']}"
    return (
        _environment()
        .get_template("monitor.html.j2")
        .render(r=report, title=title, charts=_charts(report))
    )


def write_html(path: Path, report: dict[str, Any]) -> None:
    write_atomic(path, render_html(report))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("kaskad.monitor", "templates"),
                jinja2.PackageLoader("kaskad.backtest", "templates"),  # report.css
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(thousands=formats.thousands, pct=formats.pct, num=formats.num)
    return env
