"""One monitoring window of the decision log, compared with its baseline.

:func:`monitor_window` reads the rows of a pipeline in a window (between two times, or
the last N records) and computes what :mod:`kaskad.monitor` promises: the input-format
sentinel (content types and body shapes of accepted *and* rejected traffic, new shapes,
fields that became always missing, rejections by reason), missing rates, rule hit and
unknown rates, the decision and reason mix, the step-failure rate, drift of every
feature and score, and champion versus challenger. Each statistical comparison is a
sample-size-calibrated test (:mod:`kaskad.monitor.drift`); the window's false-alarm
budget ``alpha`` is shared between all of them.

The baseline is the reference frozen for the window's release when there is one (for
the series), and the window just before this one (same length, or the N records before)
for the format mix and whatever the reference does not hold.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kaskad.errors import InputError
from kaskad.monitor import drift
from kaskad.monitor.profile import Row, count, decided, freeze, media_type, tally, value_of
from kaskad.monitor.reference import reference_for
from kaskad.store.monitoring import WindowRows, check_pipeline_known, read_window

FORMAT = "kaskad.monitor/1"
BUCKETS = 12  # points of the time series in the report


@dataclass(frozen=True)
class WindowSpec:
    """Which rows: a pipeline, and either ``last`` records or ``since``/``until`` (the
    last hour when nothing is given); optionally one release (``NAME@N``)."""

    pipeline: str
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    last: int | None = None
    release: str | None = None

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        until = self.until or dt.datetime.now(dt.UTC)
        since = self.since or until - dt.timedelta(hours=1)
        if since >= until:
            raise InputError(f"the window starts ({since}) after it ends ({until})")
        return since, until


@dataclass(frozen=True)
class Thresholds:
    """When ``kaskad monitor --check`` fails; documented in docs/monitoring.md."""

    alpha: float = drift.DEFAULT_ALPHA  # false-alarm rate of the window's tests together
    new_share: float = 0.02  # a content type or shape the baseline lacks, at least this share
    min_new: int = 10  # ... and at least this many records
    failure_rate: float = 0.01  # decided records with a failed step
    flip_rate: float = 0.2  # a challenger deciding otherwise than the champion
    min_records: int = 30  # fewer decided records: no statistical test


def read_rows(location: str, spec: WindowSpec) -> tuple[WindowRows, WindowRows]:
    """The window's rows and the previous window's."""
    if spec.last is not None:
        if spec.last < 1:
            raise InputError("--last must be at least 1")
        now = read_window(location, spec.pipeline, last=spec.last, release=spec.release)
        before = read_window(
            location, spec.pipeline, last=spec.last, skip=spec.last, release=spec.release
        )
        return now, before
    since, until = spec.bounds()
    now = read_window(location, spec.pipeline, since=since, until=until, release=spec.release)
    before = read_window(
        location, spec.pipeline, since=since - (until - since), until=since, release=spec.release
    )
    return now, before


def monitor_window(
    location: str, spec: WindowSpec, thresholds: Thresholds = Thresholds()
) -> dict[str, Any]:
    """The monitoring report of one window as JSON-ready data; ``alarms`` lists every
    threshold crossed (empty: all is well)."""
    now, before = read_rows(location, spec)
    if not now.rows and not before.rows:
        check_pipeline_known(location, spec.pipeline)
    return evaluate(now, before, location, spec, thresholds)


def evaluate(
    now: WindowRows,
    before: WindowRows,
    location: str | None,
    spec: WindowSpec,
    thresholds: Thresholds,
) -> dict[str, Any]:
    rows, previous = now.rows, before.rows
    releases = tally(rows, "release")
    main_release = next(iter(releases), None)
    reference = reference_for(location, main_release) if location else None
    if reference is not None:
        baseline_series = reference["series"]
        baseline = {"kind": "reference", "source": reference["source"]}
    else:
        baseline_series = freeze(previous)
        baseline = {"kind": "previous window", "records": len(previous)}
    window_series = count(rows, baseline_series) if baseline_series else freeze(rows)
    chosen = decided(rows)
    alarms: list[dict[str, Any]] = []
    tests = _planned_tests(window_series, baseline_series, len(chosen), thresholds)
    alpha = drift.family_alpha(thresholds.alpha, tests)
    report: dict[str, Any] = {
        "format": FORMAT,
        "window": _window_facts(rows, spec, releases),
        "baseline": baseline,
        "alpha": thresholds.alpha,
        "alpha_per_test": alpha,
    }
    report["format_sentinel"] = _format(rows, previous, reference, thresholds, alpha, alarms)
    report["fields"] = _fields(
        window_series, baseline_series, len(chosen), thresholds, alpha, alarms
    )
    report["rules"] = _rules(window_series, baseline_series, len(chosen), thresholds, alpha, alarms)
    report["decisions"] = {
        key: _mix(window_series.get(key), baseline_series.get(key))
        for key in ("decision", "reasons")
    }
    failures = sum(1 for r in chosen if (r.get("output") or {}).get("errors"))
    rate = failures / len(chosen) if chosen else 0.0
    report["failures"] = {"count": failures, "rate": rate}
    if chosen and rate > thresholds.failure_rate:
        alarms.append(_alarm("failure_rate", "steps", f"{rate:.1%} of decisions had a failed step"))
    report["shadows"] = _shadows(chosen, now.shadows, thresholds, alarms)
    report["series"] = _time_series(rows)
    report["alarms"] = alarms
    return report


def _alarm(check: str, subject: str, message: str) -> dict[str, Any]:
    return {"check": check, "subject": subject, "message": message}


def _window_facts(
    rows: Sequence[Row], spec: WindowSpec, releases: dict[str, int]
) -> dict[str, Any]:
    times = [r["at"] for r in rows]
    return {
        "pipeline": spec.pipeline,
        "from": min(times).isoformat() if times else None,
        "to": max(times).isoformat() if times else None,
        "records": len(rows),
        "decided": sum(1 for r in rows if r["status"] == "decided"),
        "rejected": sum(1 for r in rows if r["status"] == "rejected"),
        "releases": releases,
    }


def _planned_tests(
    window: Mapping[str, Any], baseline: Mapping[str, Any], n: int, thresholds: Thresholds
) -> int:
    if n < thresholds.min_records:
        return 1
    tests = 2  # rejection rate, decision mix
    for key, spec in window.items():
        if key not in baseline:
            continue
        tests += 1  # missing rate
        if spec["kind"] != "presence":
            tests += 1  # drift
        if key.startswith("rule:"):
            tests += 1  # unknown rate
    return tests


def _reason(row: Row) -> str:
    output = row.get("output") or {}
    code = output.get("code")
    if code == "S413":
        return "body_too_large"
    if code == "S415":
        return "unsupported_media_type"
    errors = row.get("errors") or []
    return "unparsable" if all(e.get("field") is None for e in errors) else "schema"


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def _format(
    rows: Sequence[Row],
    previous: Sequence[Row],
    reference: Mapping[str, Any] | None,
    thresholds: Thresholds,
    alpha: float,
    alarms: list[dict[str, Any]],
) -> dict[str, Any]:
    types = _count(media_type(r.get("content_type")) for r in rows)
    shapes = _count(str(r.get("fingerprint"))[:12] for r in rows)
    if previous:
        base_types = _count(media_type(r.get("content_type")) for r in previous)
        base_shapes = _count(str(r.get("fingerprint"))[:12] for r in previous)
    else:
        base_types = dict((reference or {}).get("content_types") or {})
        base_shapes = {k[:12]: v for k, v in ((reference or {}).get("shapes") or {}).items()}
    total = len(rows)
    out: dict[str, Any] = {
        "content_types": types,
        "shapes": shapes,
        "baseline_content_types": base_types,
        "new_content_types": [],
        "new_shapes": [],
    }
    if base_types:  # nothing to call new without a baseline
        for kind, items, base in (
            ("content type", types, base_types),
            ("shape", shapes, base_shapes),
        ):
            for key, n in items.items():
                share = n / total
                if key in base:
                    continue
                entry = {"value": key, "count": n, "share": share}
                out["new_content_types" if kind == "content type" else "new_shapes"].append(entry)
                if n >= thresholds.min_new and share >= thresholds.new_share:
                    alarms.append(
                        _alarm("format", key, f"new {kind} {key}: {n} records ({share:.1%})")
                    )
    rejected = [r for r in rows if r["status"] == "rejected"]
    out["rejections"] = _count(_reason(r) for r in rejected)
    out["rejection_rate"] = len(rejected) / total if total else 0.0
    if previous and total >= thresholds.min_records:
        before = sum(1 for r in previous if r["status"] == "rejected")
        out["baseline_rejection_rate"] = before / len(previous)
        test = drift.compare(
            [len(previous) - before, before], [total - len(rejected), len(rejected)], alpha
        )
        if test is not None:
            out["rejection_test"] = test.to_dict()
            if test.alarm and out["rejection_rate"] > out["baseline_rejection_rate"]:
                alarms.append(
                    _alarm(
                        "rejection_rate",
                        "rejections",
                        f"rejection rate {out['baseline_rejection_rate']:.1%} → "
                        f"{out['rejection_rate']:.1%}",
                    )
                )
    return out


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _missing_rate(spec: Mapping[str, Any]) -> float | None:
    return spec["missing"] / spec["n"] if spec.get("n") else None


def _fields(
    window: Mapping[str, Any],
    baseline: Mapping[str, Any],
    n: int,
    thresholds: Thresholds,
    alpha: float,
    alarms: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    out = []
    for key, spec in window.items():
        if key.startswith("rule:") or key in ("decision", "reasons"):
            continue
        base = baseline.get(key)
        entry: dict[str, Any] = {
            "series": key,
            "kind": spec["kind"],
            "missing_rate": _missing_rate(spec),
            "baseline_missing_rate": _missing_rate(base) if base else None,
        }
        if base and n >= thresholds.min_records and base.get("n"):
            missing = drift.compare(
                [base["n"] - base["missing"], base["missing"]],
                [spec["n"] - spec["missing"], spec["missing"]],
                alpha,
            )
            if missing is not None:
                entry["missing_test"] = missing.to_dict()
                rate, before = entry["missing_rate"], entry["baseline_missing_rate"]
                if missing.alarm and rate > before:
                    alarms.append(_alarm("missing_rate", key, f"missing {before:.1%} → {rate:.1%}"))
                if rate == 1.0 and before < 1.0:
                    entry["always_missing"] = True
            if spec["kind"] != "presence":
                test = drift.compare(base["counts"], spec["counts"], alpha)
                if test is not None:
                    entry["drift_test"] = test.to_dict()
                    if test.alarm:
                        alarms.append(
                            _alarm(
                                "drift",
                                key,
                                f"PSI {test.psi:.4f} (calibrated threshold "
                                f"{test.psi_threshold:.4f}), p = {test.p_value:.2g}",
                            )
                        )
        out.append(entry)
    return out


def _rules(
    window: Mapping[str, Any],
    baseline: Mapping[str, Any],
    n: int,
    thresholds: Thresholds,
    alpha: float,
    alarms: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    out = []
    for key, spec in window.items():
        if not key.startswith("rule:"):
            continue
        hit, _, unknown, *_ = spec["counts"]
        total = sum(spec["counts"]) or 1
        entry: dict[str, Any] = {
            "rule": key.partition(":")[2],
            "hit_rate": hit / total,
            "unknown_rate": unknown / total,
        }
        base = baseline.get(key)
        if base and n >= thresholds.min_records and sum(base["counts"]):
            b_unknown = base["counts"][2]
            b_total = sum(base["counts"])
            entry["baseline_hit_rate"] = base["counts"][0] / b_total
            entry["baseline_unknown_rate"] = b_unknown / b_total
            test = drift.compare(
                [b_total - b_unknown, b_unknown], [total - unknown, unknown], alpha
            )
            if test is not None:
                entry["unknown_test"] = test.to_dict()
                if test.alarm and entry["unknown_rate"] > entry["baseline_unknown_rate"]:
                    alarms.append(
                        _alarm(
                            "unknown_rate",
                            key,
                            f"unknown {entry['baseline_unknown_rate']:.1%} → "
                            f"{entry['unknown_rate']:.1%}",
                        )
                    )
        out.append(entry)
    return out


def _mix(spec: Mapping[str, Any] | None, base: Mapping[str, Any] | None) -> dict[str, Any]:
    if not spec:
        return {}
    names = [*spec.get("values", []), "(other)"]
    mix = dict(zip(names, spec.get("counts", []), strict=True))
    out: dict[str, Any] = {"counts": {k: v for k, v in mix.items() if v}}
    if base:
        out["baseline_counts"] = dict(zip(names, base.get("counts", []), strict=True))
    return out


def _shadows(
    chosen: Sequence[Row],
    shadows: Mapping[str, Mapping[str, Mapping[str, Any]]],
    thresholds: Thresholds,
    alarms: list[dict[str, Any]],
) -> dict[str, Any]:
    pairs: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for row in chosen:
        for name, output in shadows.get(row["decision_id"], {}).items():
            pairs.setdefault(name, []).append((row["output"], output))
    out: dict[str, Any] = {}
    for name, items in sorted(pairs.items()):
        flips = sum(1 for champ, chall in items if champ.get("decision") != chall.get("decision"))
        scores: dict[str, Any] = {}
        for field in sorted({k for _, chall in items for k in chall}):
            xs = [(c.get(field), s.get(field)) for c, s in items]
            xy = [
                (float(a), float(b))
                for a, b in xs
                if isinstance(a, int | float)
                and isinstance(b, int | float)
                and not isinstance(a, bool)
                and not isinstance(b, bool)
            ]
            if len(xy) < 2:
                continue
            a, b = np.array(xy).T
            corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None
            scores[field] = {
                "pairs": len(xy),
                "correlation": corr if corr is None or math.isfinite(corr) else None,
                "mean_difference": float(np.mean(b - a)),
            }
        rate = flips / len(items)
        out[name] = {"decisions": len(items), "flip_rate": rate, "scores": scores}
        if len(items) >= thresholds.min_records and rate > thresholds.flip_rate:
            alarms.append(_alarm("challenger", name, f"decides otherwise {rate:.1%} of the time"))
    return out


def _time_series(rows: Sequence[Row]) -> dict[str, Any]:
    """The window cut into :data:`BUCKETS` equal spans of time: records, rejected share,
    content-type shares and the missing share of each input field per span."""
    if not rows:
        return {"buckets": []}
    start, end = rows[0]["at"], rows[-1]["at"]
    span = max((end - start).total_seconds(), 1e-6) / BUCKETS
    groups: list[list[Row]] = [[] for _ in range(BUCKETS)]
    for r in rows:
        groups[min(int((r["at"] - start).total_seconds() / span), BUCKETS - 1)].append(r)
    fields = sorted(
        {
            f"input:{k}"
            for r in rows[:200]
            if isinstance(r.get("input"), Mapping)
            for k in r["input"]
        }
    )
    buckets = []
    for i, group in enumerate(groups):
        ok = decided(group)
        buckets.append(
            {
                "start": (start + dt.timedelta(seconds=span * i)).isoformat(),
                "records": len(group),
                "rejected_share": (len(group) - len(ok)) / len(group) if group else None,
                "content_types": _shares(_count(media_type(r.get("content_type")) for r in group)),
                "missing": {
                    f: sum(1 for r in ok if value_of(r, f) is None) / len(ok) if ok else None
                    for f in fields
                },
            }
        )
    return {"buckets": buckets}
