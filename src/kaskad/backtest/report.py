"""Backtest reports: a JSON summary and a self-contained HTML page for risk analysts.

The page needs nothing but a browser: no external assets, no scripts, CSS inline and
plots drawn here as inline SVG. Everything that comes from user data (pipeline names,
rule ids and descriptions, decisions, reasons, keys, paths) is HTML-escaped.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from kaskad.backtest.run import (
    REJECTED,
    BacktestResult,
    FlipCell,
    PlanInfo,
    RuleRate,
    ScoreHistogram,
    ScoreShift,
)
from kaskad.errors import InputError

__all__ = ["FORMAT", "read_summary", "render_html", "summary", "write_report", "write_summary"]

FORMAT = "kaskad.backtest/1"
BASE_COLOR = "#3b6ea8"
CAND_COLOR = "#e07b00"
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
    _write_atomic(path, text + "\n")


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
    _write_atomic(path, render_html(result))


def _write_atomic(path: Path, text: str) -> None:
    """Write beside the target, then move into place: never a half-written file. (Not
    ``mkstemp``: its files are private to the owner, and reports are meant to be shared.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---- formatting -------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def _pp(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:+.2f} pp" if value else "0"


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _short(value: float) -> str:
    return f"{value:.3g}"


def _who(info: PlanInfo) -> str:
    return info.ref or f"{info.name} (working copy)"


# ---- SVG --------------------------------------------------------------------------------


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{_e(text)}</text>'


def _legend(x: float, y: float, filled: bool = False) -> list[str]:
    """Baseline and candidate swatches; ``filled`` for bars, else a line for the candidate."""
    base = "" if filled else ' opacity="0.55"'
    cand = (
        f'fill="{CAND_COLOR}"' if filled else f'fill="none" stroke="{CAND_COLOR}" stroke-width="2"'
    )
    return [
        f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{BASE_COLOR}"{base}/>',
        _text(x + 16, y, "baseline"),
        f'<rect x="{x + 90}" y="{y - 9}" width="12" height="10" {cand}/>',
        _text(x + 106, y, "candidate"),
    ]


def _bar_chart(categories: Sequence[str], base: Sequence[float], cand: Sequence[float]) -> str:
    """Horizontal bars, baseline and candidate side by side, for shares in [0, 1]."""
    label_w, plot_w, row_h = 150, 360, 34
    height = 30 + row_h * len(categories)
    top = max([*base, *cand, 1e-9])
    body = _legend(label_w, 14, filled=True)
    for i, name in enumerate(categories):
        y = 26 + i * row_h
        body.append(_text(label_w - 8, y + 16, name, "end"))
        for j, (value, color) in enumerate(((base[i], BASE_COLOR), (cand[i], CAND_COLOR))):
            w = plot_w * value / top
            yy = y + 3 + j * 13
            body.append(
                f'<rect x="{label_w}" y="{yy}" width="{w:.1f}" height="12" fill="{color}"/>'
            )
            body.append(_text(label_w + w + 4, yy + 10, _pct(value, 1), cls="small"))
    return _svg(label_w + plot_w + 70, height, body, "decision rates, baseline and candidate")


def _overlay(
    base: Sequence[float], cand: Sequence[float], ticks: Sequence[tuple[int, str]], title: str
) -> str:
    """Shares of rows per bin: baseline as filled bars, candidate as a step line on top.
    ``ticks`` label bin boundaries (index 0 … len(base)) on the x axis."""
    width, height, left, bottom, top = 500, 210, 48, 30, 24
    plot_w, plot_h = width - left - 28, height - bottom - top
    if not base:
        return _svg(width, 40, [_text(10, 24, "no scores")], title)
    peak = max([*base, *cand, 1e-9])
    bw = plot_w / len(base)

    def y(share: float) -> float:
        return top + plot_h * (1 - share / peak)

    body = _legend(left + 8, 14)
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'class="axis"/>'
    )
    for i, share in enumerate(base):
        body.append(
            f'<rect x="{left + i * bw:.1f}" y="{y(share):.1f}" width="{bw - 1:.1f}" '
            f'height="{top + plot_h - y(share):.1f}" fill="{BASE_COLOR}" opacity="0.55"/>'
        )
    points = [f"{left:.1f},{top + plot_h:.1f}"]
    for i, share in enumerate(cand):
        points += [
            f"{left + i * bw:.1f},{y(share):.1f}",
            f"{left + (i + 1) * bw:.1f},{y(share):.1f}",
        ]
    points.append(f"{left + plot_w:.1f},{top + plot_h:.1f}")
    body.append(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{CAND_COLOR}" '
        'stroke-width="2"/>'
    )
    for k, label in ticks:
        body.append(_text(left + k * bw, top + plot_h + 16, label, "middle", "small"))
    body.append(_text(left - 6, top + 4, _pct(peak, 1), "end", "small"))
    body.append(_text(left - 6, top + plot_h, "0", "end", "small"))
    return _svg(width, height, body, title)


def _histogram_plot(hist: ScoreHistogram, title: str) -> str:
    """The score's distribution over equal-width bins."""
    totals = max(sum(hist.baseline), 1), max(sum(hist.candidate), 1)
    base = [n / totals[0] for n in hist.baseline]
    cand = [n / totals[1] for n in hist.candidate]
    step = max(1, len(base) // 5)
    ticks = [(k, _short(hist.edges[k])) for k in range(0, len(hist.edges), step)]
    return _overlay(base, cand, ticks, title)


def _deciles_plot(shift: ScoreShift) -> str:
    """The shares PSI compares: a tenth of the baseline in each bin, the candidate's share."""
    base = [b.baseline_share for b in shift.bins]
    cand = [b.candidate_share for b in shift.bins]
    ticks = [(i + 1, _short(b.upper)) for i, b in enumerate(shift.bins) if b.upper is not None]
    return _overlay(
        base, cand, ticks[::2] if len(ticks) > 6 else ticks, f"PSI bins of {shift.output}"
    )


# ---- sections ---------------------------------------------------------------------------


def _headline(r: BacktestResult) -> str:
    share = _pct(r.flip_share)
    rejected = r.decision_counts("baseline").get(REJECTED, 0)
    facts = [
        ("rows replayed", _n(r.rows)),
        ("decisions that flip", _n(r.flipped)),
        ("share that flips", share),
        ("rejected at the door (baseline)", _n(rejected)),
    ]
    cards = "".join(
        f'<div class="card"><div class="big">{_e(v)}</div><div>{_e(k)}</div></div>'
        for k, v in facts
    )
    sentence = (
        f"{_n(r.flipped)} of {_n(r.rows)} decisions ({share}) would change from "
        f"<b>{_e(_who(r.baseline))}</b> to <b>{_e(_who(r.candidate))}</b>."
    )
    return f'<p class="lead">{sentence}</p><div class="cards">{cards}</div>'


def _matrix(r: BacktestResult) -> str:
    base, cand = r.decision_counts("baseline"), r.decision_counts("candidate")
    head = "".join(f"<th>{_e(d)}</th>" for d in r.decisions)
    rows = []
    for b in r.decisions:
        cells = []
        for c in r.decisions:
            n = r.cell(b, c)
            klass = "diag" if b == c else ("flip" if n else "zero")
            mark = '<span class="eq">=</span> ' if b == c else ""
            cells.append(f'<td class="num {klass}">{mark}{_n(n)}</td>')
        rows.append(
            f'<tr><th class="rowhead">{_e(b)}</th>{"".join(cells)}'
            f'<td class="num total">{_n(base[b])}</td></tr>'
        )
    totals = "".join(f'<td class="num total">{_n(cand[c])}</td>' for c in r.decisions)
    return (
        '<table class="matrix"><thead><tr><th class="corner">baseline ↓ / candidate →</th>'
        f"{head}<th>total</th></tr></thead><tbody>{''.join(rows)}"
        f'<tr><th class="rowhead">total</th>{totals}<td class="num total">{_n(r.rows)}</td></tr>'
        "</tbody></table>"
        '<p class="note">Shaded cells (=) on the diagonal keep their decision; highlighted cells '
        "off the diagonal are decisions that flip.</p>"
    )


def _flip_detail(cell: FlipCell, rows: int) -> str:
    items = [
        f"rule <code>{_e(c.column)}</code>: {_e(c.baseline)} → {_e(c.candidate)} "
        f"in {_n(c.rows)} rows"
        for c in cell.rule_changes
    ]
    items += [
        f"reasons <code>{_e(c.baseline or '(none)')}</code> → "
        f"<code>{_e(c.candidate or '(none)')}</code> in {_n(c.rows)} rows"
        for c in cell.reason_changes[:5]
    ]
    if REJECTED in (cell.baseline, cell.candidate):
        items.append("the input passes one release's schema check and fails the other's")
    elif not cell.rule_changes:
        items.append(
            "no rule outcome changed: the flip comes from features, scores or the decision"
        )
    if cell.examples:
        items.append("for example " + ", ".join(f"<code>{_e(k)}</code>" for k in cell.examples))
    lis = "".join(f"<li>{i}</li>" for i in items)
    return (
        f"<h3>{_e(cell.baseline)} → {_e(cell.candidate)}: {_n(cell.rows)} rows "
        f"({_pct(cell.rows / rows if rows else None)})</h3><ul>{lis}</ul>"
    )


def _decision_rates(r: BacktestResult) -> str:
    base, cand = r.decision_counts("baseline"), r.decision_counts("candidate")
    shown = [d for d in r.decisions if base[d] or cand[d]]
    rate_b = [base[d] / r.rows if r.rows else 0.0 for d in shown]
    rate_c = [cand[d] / r.rows if r.rows else 0.0 for d in shown]
    rows = "".join(
        f"<tr><td>{_e(d)}</td><td class='num'>{_n(base[d])}</td><td class='num'>{_pct(b)}</td>"
        f"<td class='num'>{_n(cand[d])}</td><td class='num'>{_pct(c)}</td>"
        f"<td class='num{' changed' if c != b else ''}'>{_pp(c - b)}</td></tr>"
        for d, b, c in zip(shown, rate_b, rate_c, strict=True)
    )
    table = (
        "<table><thead><tr><th>decision</th><th>baseline rows</th><th>baseline rate</th>"
        "<th>candidate rows</th><th>candidate rate</th><th>change</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return f'<div class="split">{table}{_bar_chart(shown, rate_b, rate_c)}</div>'


def _rule_row(rule: RuleRate) -> str:
    b, c = rule.baseline, rule.candidate
    hit_changed = bool(rule.hit_rate_change) or bool(rule.rows_changed)
    unknown_changed = bool(rule.unknown_rate_change)
    badge = "" if rule.presence == "both" else f' <span class="badge">{_e(rule.presence)}</span>'
    if rule.definition_changed:
        badge += ' <span class="badge warn">condition changed</span>'
    cells = [
        f"<td><code>{_e(rule.ruleset)}</code></td>",
        f"<td><code>{_e(rule.rule)}</code>{badge}"
        f"<div class='desc'>{_e(rule.description)}</div></td>",
        f"<td class='num'>{_pct(b.hit_rate if b else None)}</td>",
        f"<td class='num'>{_pct(c.hit_rate if c else None)}</td>",
        f"<td class='num{' changed' if hit_changed else ''}'>{_pp(rule.hit_rate_change)}</td>",
        f"<td class='num'>{_pct(b.unknown_rate if b else None)}</td>",
        f"<td class='num'>{_pct(c.unknown_rate if c else None)}</td>",
        f"<td class='num{' changed' if unknown_changed else ''}'>"
        f"{_pp(rule.unknown_rate_change)}</td>",
        f"<td class='num{' changed' if rule.rows_changed else ''}'>"
        f"{'—' if rule.rows_changed is None else _n(rule.rows_changed)}</td>",
    ]
    row = f"<tr>{''.join(cells)}</tr>"
    if rule.definition_changed or rule.presence != "both":
        row += (
            '<tr class="when"><td></td><td colspan="8">'
            f"baseline: <code>{_e(rule.baseline_when or '(absent)')}</code><br>"
            f"candidate: <code>{_e(rule.candidate_when or '(absent)')}</code></td></tr>"
        )
    return row


def _rules(r: BacktestResult) -> str:
    if not r.rules:
        return "<p>Neither release has rules.</p>"
    return (
        "<table class='rules'><thead><tr><th>rule set</th><th>rule</th>"
        "<th>hit rate baseline</th><th>hit rate candidate</th><th>hit change</th>"
        "<th>unknown baseline</th><th>unknown candidate</th><th>unknown change</th>"
        "<th>rows whose outcome changed</th></tr></thead>"
        f"<tbody>{''.join(_rule_row(rule) for rule in r.rules)}</tbody></table>"
        '<p class="note">Rates are over the rows each release decided (rows rejected at the '
        "door have no rule outcomes). Highlighted cells changed.</p>"
    )


def _score(s: ScoreShift, rows: int) -> str:
    verdict = s.stability or "none"
    reading = STABILITY_TEXT.get(verdict, "not computed: no scores")
    models = (
        s.model_baseline
        if s.model_baseline == s.model_candidate
        else (f"{s.model_baseline} → {s.model_candidate}")
    )
    changed = (
        f"{_n(s.rows_changed)} rows ({_pct(s.rows_changed / rows if rows else None)}) got a "
        f"different score; the largest change is {_num(s.max_abs_change, 4)}."
    )
    bins = "".join(
        f"<tr><td class='num'>{'−∞' if b.lower is None else _short(b.lower)}</td>"
        f"<td class='num'>{'+∞' if b.upper is None else _short(b.upper)}</td>"
        f"<td class='num'>{_pct(b.baseline_share)}</td><td class='num'>"
        f"{_pct(b.candidate_share)}</td><td class='num'>{_num(b.contribution, 4)}</td></tr>"
        for b in s.bins
    )
    stats = "".join(
        f"<tr><td>{name}</td><td class='num'>{_n(x.rows)}</td><td class='num'>{_n(x.missing)}</td>"
        f"<td class='num'>{_num(x.mean, 4)}</td><td class='num'>{_num(x.p05, 4)}</td>"
        f"<td class='num'>{_num(x.p50, 4)}</td><td class='num'>{_num(x.p95, 4)}</td></tr>"
        for name, x in (("baseline", s.baseline), ("candidate", s.candidate))
    )
    return (
        f"<h3><code>{_e(s.output)}</code> <span class='desc'>model {_e(models)}</span></h3>"
        f"<p>PSI <b>{_num(s.psi, 4)}</b> <span class='badge {_e(verdict)}'>{_e(reading)}</span>"
        f"</p><p>{changed}</p><div class='split'><figure>"
        f"{_histogram_plot(s.histogram, f'distribution of {s.output}')}"
        "<figcaption>share of rows per equal-width score bin</figcaption></figure><figure>"
        f"{_deciles_plot(s)}<figcaption>share of rows per bin cut at the baseline's deciles: "
        "what PSI compares</figcaption></figure></div>"
        "<table><thead><tr><th></th><th>rows</th><th>missing</th><th>mean</th><th>p5</th>"
        f"<th>median</th><th>p95</th></tr></thead><tbody>{stats}</tbody></table>"
        "<details><summary>PSI bins (baseline deciles)</summary><table><thead><tr>"
        "<th>above</th><th>up to</th><th>baseline share</th><th>candidate share</th>"
        f"<th>PSI contribution</th></tr></thead><tbody>{bins}</tbody></table></details>"
    )


def _performance(r: BacktestResult) -> str:
    if r.label is None:
        return (
            "<p>No label was given (<code>--label COLUMN</code>), so no AUC, Gini, KS or "
            "outcome rates.</p>"
        )
    perf = {(p.output, p.release): p for p in r.performance}
    outputs = list(dict.fromkeys(p.output for p in r.performance))
    rows = []
    for output in outputs:
        b, c = perf.get((output, "baseline")), perf.get((output, "candidate"))
        cells = [f"<td><code>{_e(output)}</code></td>"]
        for attr in ("auc", "gini", "ks"):
            vb, vc = (getattr(x, attr) if x else None for x in (b, c))
            cells += [f"<td class='num'>{_num(vb)}</td>", f"<td class='num'>{_num(vc)}</td>"]
        scored = b or c
        if scored is not None:
            cells.append(
                f"<td class='num'>{_n(scored.rows)}</td><td class='num'>{_n(scored.positives)}</td>"
            )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    metrics = (
        "<table><thead><tr><th rowspan='2'>score</th><th colspan='2'>AUC</th>"
        "<th colspan='2'>Gini</th><th colspan='2'>KS</th><th rowspan='2'>rows</th>"
        "<th rowspan='2'>positives</th></tr><tr>"
        + "<th>baseline</th><th>candidate</th>" * 3
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return metrics + _outcome_rates(r, r.label)


def _outcome_rates(r: BacktestResult, label: str) -> str:
    by = {(o.release, o.decision): o for o in r.outcomes}
    rows = []
    for d in r.decisions:
        pair = (by.get(("baseline", d)), by.get(("candidate", d)))
        if pair == (None, None):
            continue
        cells = "".join(
            f"<td class='num'>{_n(x.rows) if x else '—'}</td>"
            f"<td class='num'>{_pct(x.rate if x else None)}</td>"
            for x in pair
        )
        rows.append(f"<tr><td>{_e(d)}</td>{cells}</tr>")
    return (
        f"<h3>Rate of <code>{_e(label)}</code> = 1 per decision</h3><table><thead><tr>"
        "<th>decision</th><th>baseline rows</th><th>baseline rate</th><th>candidate rows</th>"
        f"<th>candidate rate</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _about(r: BacktestResult) -> str:
    plans = "".join(
        f"<tr><td>{role}</td><td><code>{_e(p.name)}</code></td><td>{_e(p.ref or 'working copy')}"
        f"</td><td>{_e(p.version)}</td><td><code>{_e(p.plan_hash[:12])}</code></td>"
        f"<td><code>{_e(p.source)}</code></td></tr>"
        for role, p in (("baseline", r.baseline), ("candidate", r.candidate))
    )
    return (
        "<table><thead><tr><th></th><th>pipeline</th><th>release</th><th>version</th>"
        f"<th>plan</th><th>source</th></tr></thead><tbody>{plans}</tbody></table>"
        f"<p class='note'>Input <code>{_e(r.input_name or '(in memory)')}</code>; label "
        f"<code>{_e(r.label or '(none)')}</code>; made {_e(r.created_at)} by kaskad "
        f"{_e(r.kaskad_version)}.</p><ul class='note'>"
        "<li><b>Flip</b>: a row whose decision differs between the releases; "
        "<i>rejected</i> means the input failed the schema check.</li>"
        "<li><b>PSI</b> (population stability index): Σ (c − b) · ln(c / b) over ten bins cut "
        "at the baseline's deciles, b and c the baseline and candidate shares; an empty bin "
        "counts as 0.01%. Below 0.1 stable, 0.1–0.25 moderate, above 0.25 significant.</li>"
        "<li><b>AUC</b>: the probability that a row with label 1 scores higher than a row with "
        "label 0 (ties count half). <b>Gini</b> = 2 · AUC − 1. <b>KS</b>: the largest gap "
        "between the score distributions of label 1 and label 0 rows.</li></ul>"
    )


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:#1d2733;margin:0;background:#f4f6f8}
main{max-width:1120px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;
border-bottom:2px solid #dfe5eb;padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}
.sub{color:#5a6775;margin:0 0 16px}.lead{font-size:18px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #dfe5eb;border-radius:6px;
padding:10px 16px;min-width:150px;background:#fafbfc}.big{font-size:26px;font-weight:600}
table{border-collapse:collapse;margin:8px 0;font-size:14px}
th,td{border:1px solid #dfe5eb;padding:5px 9px;vertical-align:top}
th{background:#eef2f6;font-weight:600;text-align:left}td.num{text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}
.matrix td.diag{background:#e6e9ed;color:#39434d}.matrix td.flip{background:#ffd98a;
font-weight:700}.matrix td.zero{color:#9aa5b1}.matrix td.total{background:#f7f9fb}
.eq{color:#7a8591;font-weight:400}.corner{font-weight:400;color:#5a6775}
td.changed{background:#ffd98a;font-weight:700}.desc{color:#5a6775;font-size:13px}
tr.when td{background:#fbfbf3;font-size:13px}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;
background:#e6e9ed}.badge.warn,.badge.moderate{background:#ffd98a}
.badge.stable{background:#cdebd3}.badge.significant{background:#f7b4ae}
.note{color:#5a6775;font-size:13px}.split{display:flex;gap:24px;align-items:flex-start;
flex-wrap:wrap}svg text{font-size:12px;fill:#1d2733}svg text.small{font-size:11px;
fill:#5a6775}svg .axis{stroke:#9aa5b1}details{margin:6px 0 12px}
figure{margin:0}figcaption{color:#5a6775;font-size:12px;margin-left:48px}
"""


def render_html(result: BacktestResult) -> str:
    """The whole report as one HTML document."""
    r = result
    title = f"Backtest {_who(r.baseline)} → {_who(r.candidate)}"
    flips = [c for c in r.flips if c.baseline != c.candidate]
    detail = "".join(_flip_detail(c, r.rows) for c in flips) or "<p>No decision flips.</p>"
    scores = "".join(_score(s, r.rows) for s in r.scores) or (
        "<p>No model score is produced by both releases.</p>"
    )
    sections = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_n(r.rows)} rows of <code>{_e(r.input_name or "(in memory)")}</code>'
        f", {_e(r.created_at)}</p>",
        _headline(r),
        "<h2>Flip matrix</h2>",
        _matrix(r),
        "<h3>What changed in the rows that flip</h3>" if flips else "",
        detail,
        "<h2>Decision rates</h2>",
        _decision_rates(r),
        "<h2>Rules</h2>",
        _rules(r),
        "<h2>Score shift</h2>",
        scores,
        "<h2>Performance against the label</h2>",
        _performance(r),
        "<h2>About this report</h2>",
        _about(r),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
        + "".join(sections)
        + "</main></body></html>\n"
    )
