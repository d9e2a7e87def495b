"""The report's plots as geometry: shapes in SVG user units, drawn by the template's
``svg`` macro (so every label is escaped there, like the rest of the page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from kaskad.backtest.formats import pct, short
from kaskad.backtest.result import ScoreHistogram, ScoreShift

__all__ = [
    "BASE_COLOR",
    "CAND_COLOR",
    "Chart",
    "Line",
    "Polyline",
    "Rect",
    "Text",
    "bar_chart",
    "deciles_chart",
    "histogram_chart",
]

BASE_COLOR = "#3b6ea8"
CAND_COLOR = "#e07b00"


@dataclass(frozen=True)
class Rect:
    kind: ClassVar[str] = "rect"
    x: float
    y: float
    width: float
    height: float
    fill: str  # a colour, or "none" for an outline
    opacity: float | None = None
    stroke: str | None = None  # drawn 2 units wide


@dataclass(frozen=True)
class Text:
    kind: ClassVar[str] = "text"
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor: start, middle or end
    cls: str = ""  # CSS class ("small" for tick labels)


@dataclass(frozen=True)
class Line:
    kind: ClassVar[str] = "line"
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Polyline:
    kind: ClassVar[str] = "polyline"
    points: tuple[tuple[float, float], ...]
    stroke: str  # drawn 2 units wide, not filled


Shape = Rect | Text | Line | Polyline


@dataclass(frozen=True)
class Chart:
    """One inline SVG picture; ``title`` is its accessible name."""

    width: int
    height: int
    title: str
    shapes: tuple[Shape, ...]


def _legend(x: float, y: float, filled: bool = False) -> list[Shape]:
    """Baseline and candidate swatches; ``filled`` for bars, else a line for the candidate."""
    base = Rect(x, y - 9, 12, 10, BASE_COLOR, opacity=None if filled else 0.55)
    cand = (
        Rect(x + 90, y - 9, 12, 10, CAND_COLOR)
        if filled
        else Rect(x + 90, y - 9, 12, 10, "none", stroke=CAND_COLOR)
    )
    return [base, Text(x + 16, y, "baseline"), cand, Text(x + 106, y, "candidate")]


def bar_chart(categories: Sequence[str], base: Sequence[float], cand: Sequence[float]) -> Chart:
    """Horizontal bars, baseline and candidate side by side, for shares in [0, 1]."""
    label_w, plot_w, row_h = 150, 360, 34
    height = 30 + row_h * len(categories)
    top = max([*base, *cand, 1e-9])
    shapes = _legend(label_w, 14, filled=True)
    for i, name in enumerate(categories):
        y = 26 + i * row_h
        shapes.append(Text(label_w - 8, y + 16, name, "end"))
        for j, (value, color) in enumerate(((base[i], BASE_COLOR), (cand[i], CAND_COLOR))):
            w = plot_w * value / top
            yy = y + 3 + j * 13
            shapes.append(Rect(label_w, yy, w, 12, color))
            shapes.append(Text(label_w + w + 4, yy + 10, pct(value, 1), cls="small"))
    title = "decision rates, baseline and candidate"
    return Chart(label_w + plot_w + 70, height, title, tuple(shapes))


def _overlay(
    base: Sequence[float], cand: Sequence[float], ticks: Sequence[tuple[int, str]], title: str
) -> Chart:
    """Shares of rows per bin: baseline as filled bars, candidate as a step line on top.
    ``ticks`` label bin boundaries (index 0 … len(base)) on the x axis."""
    width, height, left, bottom, top = 500, 210, 48, 30, 24
    plot_w, plot_h = width - left - 28, height - bottom - top
    if not base:
        return Chart(width, 40, title, (Text(10, 24, "no scores"),))
    peak = max([*base, *cand, 1e-9])
    bw = plot_w / len(base)
    floor = top + plot_h

    def y(share: float) -> float:
        return top + plot_h * (1 - share / peak)

    shapes = _legend(left + 8, 14)
    shapes.append(Line(left, floor, left + plot_w, floor))
    for i, share in enumerate(base):
        shapes.append(Rect(left + i * bw, y(share), bw - 1, floor - y(share), BASE_COLOR, 0.55))
    points = [(float(left), float(floor))]
    for i, share in enumerate(cand):
        points += [(left + i * bw, y(share)), (left + (i + 1) * bw, y(share))]
    points.append((float(left + plot_w), float(floor)))
    shapes.append(Polyline(tuple(points), CAND_COLOR))
    for k, label in ticks:
        shapes.append(Text(left + k * bw, floor + 16, label, "middle", "small"))
    shapes.append(Text(left - 6, top + 4, pct(peak, 1), "end", "small"))
    shapes.append(Text(left - 6, floor, "0", "end", "small"))
    return Chart(width, height, title, tuple(shapes))


def histogram_chart(hist: ScoreHistogram, title: str) -> Chart:
    """The score's distribution over equal-width bins."""
    totals = max(sum(hist.baseline), 1), max(sum(hist.candidate), 1)
    base = [n / totals[0] for n in hist.baseline]
    cand = [n / totals[1] for n in hist.candidate]
    step = max(1, len(base) // 5)
    ticks = [(k, short(hist.edges[k])) for k in range(0, len(hist.edges), step)]
    return _overlay(base, cand, ticks, title)


def deciles_chart(shift: ScoreShift) -> Chart:
    """The shares PSI compares: a tenth of the baseline in each bin, the candidate's share."""
    base = [b.baseline_share for b in shift.bins]
    cand = [b.candidate_share for b in shift.bins]
    ticks = [(i + 1, short(b.upper)) for i, b in enumerate(shift.bins) if b.upper is not None]
    shown = ticks[::2] if len(ticks) > 6 else ticks
    return _overlay(base, cand, shown, f"PSI bins of {shift.output}")
