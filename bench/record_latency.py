"""Single-record latency: kaskad's RecordExecutor against hand-written Python.

    .venv/bin/python bench/record_latency.py [--records N] [--warmup N] [--repeat N]
        [--skip-models | --skip-no-models] [--profile TOP]

Decides ``--records`` distinct applications of the credit example one at a time, each
call timed on its own, after ``--warmup`` other applications have been decided. Records
are the dicts ``json.loads`` gives (dates as text). The baseline is plain Python on the
dict: the same features, rules and rule-set summaries, the same three single-row model
calls (LightGBM ``Booster.predict``, scikit-learn ``predict_proba``, an onnxruntime
session; the shadow model included), and both decisions (champion and shadow). Before
timing, the two are checked to give the same result on every record.

Three comparisons are printed: with the models as loaded (a process's first 100,000
records: each model's per-record kernel made at load), with the models' trees compiled to
machine code (a process past that: ``kaskad.models.kernels.native``), and with every model
call replaced by a constant score on both sides, which shows the executor's own cost. The
best-known column calls kaskad's per-record kernels directly from the baseline, the ones
in use in that row. The share of kaskad's time spent in model calls is measured
separately.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import itertools
import json
import math
import pstats
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from benchlib import (
    APPLICATIONS,
    MODELS,
    PIPELINE,
    STUB_SCORE,
    Models,
    compile_models,
    kernel_function,
    load_models,
    median,
    percentile,
    print_header,
    require_example,
    with_timed_models,
    without_models,
)

import kaskad
from kaskad.compile.plan import Plan

TARGET = 2.0  # kaskad's p50 at most this many times the baseline's
RECORD_TARGET_US = 100.0  # one record of the credit example with models, p50

Record = Mapping[str, Any]
Result = dict[str, Any]

# ---- the baseline: the credit pipeline written by hand in Python -------------------------

RATE = 0.18 / 12  # the 18% a year of features/credit.py, per month
NAN = math.nan


def _and(a: bool | None, b: bool | None) -> bool | None:
    """SQL AND: false wins, then unknown."""
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    """SQL OR: true wins, then unknown."""
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _outcome(cond: bool | None, on_missing: str = "unknown") -> str:
    return "hit" if cond is True else "pass" if cond is False else on_missing


def _gt(x: float | None, limit: float) -> bool | None:
    return None if x is None else x > limit


def _float(x: float | None) -> float:
    return NAN if x is None else float(x)


@dataclass(frozen=True)
class Scorers:
    """The three single-row model calls: model inputs in, score out."""

    fraud: Callable[[list[float]], float]
    credit_pd: Callable[[list[float]], float]
    credit_pd_v2: Callable[[list[float]], float]


def library_scorers(models: Models) -> Scorers:
    booster, estimator = models.fraud, models.credit_pd
    session, feed, output = models.credit_pd_v2, models.v2_input, [models.v2_output]

    def fraud(row: list[float]) -> float:
        return float(booster.predict(np.array([row], dtype=np.float64))[0])

    def credit_pd(row: list[float]) -> float:
        return float(estimator.predict_proba(np.array([row], dtype=np.float64))[0, 1])

    def credit_pd_v2(row: list[float]) -> float:
        return float(session.run(output, {feed: np.array([row], dtype=np.float32)})[0][0, 1])

    return Scorers(fraud, credit_pd, credit_pd_v2)


def kernel_scorers(models: Models, compiled: bool = False) -> Scorers:
    """The best-known implementation of the model work: kaskad's per-record kernels
    called directly, without any executor (the library where a model has none): the ones
    made at load, or with ``compiled`` the trees as machine code."""
    library = library_scorers(models)
    fraud = kernel_function(MODELS / "fraud.txt", "lightgbm", compiled)
    credit_pd = kernel_function(MODELS / "credit_pd.joblib", "sklearn", compiled)
    v2 = kernel_function(MODELS / "credit_pd_v2.onnx", "onnx", compiled)
    return Scorers(
        fraud or library.fraud, credit_pd or library.credit_pd, v2 or library.credit_pd_v2
    )


def constant_scorers() -> Scorers:
    def constant(row: list[float]) -> float:
        return STUB_SCORE

    return Scorers(constant, constant, constant)


def _decide(
    aml_any: bool,
    underage: str,
    antifraud_any: bool,
    fraud_score: float,
    pd: float,
    has_default: bool | None,
    payment_to_income: float | None,
) -> tuple[str, list[str]]:
    """The decision branches of pipeline.yaml; an unknown condition does not match."""
    if aml_any:
        return "manual_review", ["aml"]
    if underage == "hit":
        return "reject", ["applicant_data"]
    if fraud_score > 0.9:
        return "reject", ["fraud"]
    if antifraud_any or fraud_score > 0.6:
        return "manual_review", ["fraud_check"]
    if _or(pd > 0.2, has_default) is True:
        return "reject", ["credit_risk"]
    if _gt(payment_to_income, 0.5) is True:
        return "reject", ["affordability"]
    return "approve", []


def _summary(name: str, outcomes: dict[str, str], out: Result) -> None:
    hits = [rule for rule, o in outcomes.items() if o == "hit"]
    for rule, o in outcomes.items():
        out[f"{name}.{rule}"] = o
    out[f"{name}.any_hit"] = bool(hits)
    out[f"{name}.hit_count"] = len(hits)
    out[f"{name}.hits"] = hits
    out[f"{name}.unknown_count"] = sum(1 for o in outcomes.values() if o == "unknown")


def baseline(record: Record, scorers: Scorers) -> Result:
    """One application through the credit pipeline, written by hand."""
    applicant = record["applicant"]
    amount, term, channel = float(record["amount"]), record["term_months"], record["channel"]
    income, debt = applicant.get("income"), applicant.get("debt")
    age, device_age = applicant["age"], applicant.get("device_age_days")
    loans, operation = record.get("previous_loans"), record.get("operation") or {}
    transactions = record.get("transactions")

    # features
    monthly_payment = amount * RATE / (1 - (1 + RATE) ** -term)
    payment_to_income = monthly_payment / income if income is not None and income > 0 else None
    debt_to_income = (debt or 0.0) / income if income else None
    is_online = 1 if channel in ("web", "mobile") else 0
    num_overdue = has_default = None
    if loans is not None:
        num_overdue = sum(1 for loan in loans if (loan.get("days_overdue_max") or 0) > 30)
        has_default = any(loan["status"] == "defaulted" for loan in loans)
    op_day_text = operation.get("day")
    op_day = dt.date.fromisoformat(op_day_text) if op_day_text else None
    p2p = cash_out = structuring = None
    if transactions is not None:
        p2p = structuring = 0
        cash_out = 0.0
        for tx in transactions:
            kind, value, day = tx.get("kind"), tx.get("amount_rub"), tx.get("day")
            if (
                op_day is not None
                and day
                and tx.get("counterparty_type") == "individual"
                and dt.date.fromisoformat(day) == op_day
            ):
                p2p += 1
            if value is not None:
                if kind == "cash_out":
                    cash_out += value
                elif kind == "cash_in" and 900_000 <= value <= 999_999.99:
                    structuring += 1

    # rules
    out: Result = {"application_id": record["application_id"], "status": "decided", "errors": []}
    op_kind, op_amount = operation.get("kind"), operation.get("amount_rub")
    aml = {
        "cash_1m": _outcome(
            _and(
                None if op_kind is None else op_kind in ("cash_in", "cash_out"),
                None if op_amount is None else op_amount >= 1_000_000,
            )
        ),
        "many_p2p_operations": _outcome(_gt(p2p, 30)),
        "cash_structuring": _outcome(None if structuring is None else structuring >= 3),
    }
    antifraud = {
        "new_device_large_amount": _outcome(
            _and(None if device_age is None else device_age < 1, amount > 500_000)
        ),
        "underage_or_implausible_age": _outcome(age < 18 or age > 100),
        "income_missing_online": _outcome(is_online == 1 and income is None, "pass"),
    }

    # models: the fraud score feeds the credit models (cascade)
    fraud_score = scorers.fraud(
        [amount, _float(device_age), _float(debt_to_income), float(is_online)]
    )
    credit_row = [
        _float(income),
        float(term),
        _float(num_overdue),
        fraud_score,
        _float(debt_to_income),
    ]
    pd = scorers.credit_pd(credit_row)
    pd_v2 = scorers.credit_pd_v2(credit_row)

    aml_any = any(o == "hit" for o in aml.values())
    antifraud_any = any(o == "hit" for o in antifraud.values())
    underage = antifraud["underage_or_implausible_age"]
    out["decision"], out["reasons"] = _decide(
        aml_any, underage, antifraud_any, fraud_score, pd, has_default, payment_to_income
    )
    out.update(
        {
            "monthly_payment": monthly_payment,
            "payment_to_income": payment_to_income,
            "debt_to_income": debt_to_income,
            "is_online": is_online,
            "num_overdue": num_overdue,
            "has_default": has_default,
            "p2p_ops_on_operation_day": p2p,
            "cash_out_90d": cash_out,
        }
    )
    _summary("aml_mandatory_control", aml, out)
    _summary("antifraud", antifraud, out)
    out["fraud_score"], out["pd"] = fraud_score, pd
    shadow_decision, shadow_reasons = _decide(
        aml_any, underage, antifraud_any, fraud_score, pd_v2, has_default, payment_to_income
    )
    out["shadow.credit_pd_v2.decision"] = shadow_decision
    out["shadow.credit_pd_v2.reasons"] = shadow_reasons
    out["shadow.credit_pd_v2.pd"] = pd_v2
    out["shadow.credit_pd_v2.error"] = None
    return out


# ---- checking and timing -----------------------------------------------------------------

# credit.py computes (1 + r) ** -term with NumPy, whose power differs from the C library's
# pow (Python's **) by one unit in the last place for some terms (1.015 ** -24): these two
# are compared with a relative tolerance. Every other field must be identical.
LOOSE = ("monthly_payment", "payment_to_income")
RELATIVE_TOLERANCE = 1e-12


def check_same(ours: Result, theirs: Result) -> list[str]:
    if set(ours) != set(theirs):
        return [f"fields differ: {sorted(set(ours) ^ set(theirs))}"]
    problems = []
    for name, a in ours.items():
        b = theirs[name]
        if name in LOOSE and a is not None and b is not None:
            same = math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE)
        else:
            same = a == b and type(a) is type(b)
        if not same:
            problems.append(f"{name}: kaskad {a!r}, baseline {b!r}")
    return problems


def verify(executor: kaskad.RecordExecutor, scorers: Scorers, records: list[Record]) -> None:
    for record in records:
        problems = check_same(executor.decide(record).output, baseline(record, scorers))
        if problems:
            raise SystemExit(
                f"{record['application_id']}: kaskad and the baseline disagree:\n"
                "  " + "\n  ".join(problems)
            )


def latencies(decide: Callable[[Record], object], records: list[Record]) -> list[float]:
    """Microseconds per call, sorted."""
    out = []
    clock = time.perf_counter_ns
    for record in records:
        start = clock()
        decide(record)
        out.append((clock() - start) / 1000)
    out.sort()
    return out


@dataclass
class Comparison:
    label: str
    kaskad: list[list[float]]  # sorted latencies (µs), one list per repeat
    baseline: list[list[float]]
    best: list[list[float]] = field(default_factory=list)  # baseline + direct kernels

    def p(self, side: str, q: float) -> float:
        """Median over repeats of the q-th percentile."""
        runs = {"kaskad": self.kaskad, "baseline": self.baseline, "best": self.best}[side]
        return median([percentile(r, q) for r in runs]) if runs else math.nan

    @property
    def ratio(self) -> float:
        return self.p("kaskad", 50) / self.p("baseline", 50)


def compare(
    label: str,
    executor: kaskad.RecordExecutor,
    scorers: Scorers,
    records: list[Record],
    warmup: list[Record],
    repeat: int,
    best: Scorers | None = None,
) -> Comparison:
    print(f"{label}: checking kaskad against the baseline on all {len(records):,} records")
    verify(executor, scorers, records)
    if best is not None:
        verify(executor, best, records)
    for record in warmup:
        executor.decide(record)
        baseline(record, scorers)
    result = Comparison(label, [], [])
    sides: list[tuple[str, Callable[[Record], object], list[list[float]]]] = [
        ("kaskad", executor.decide, result.kaskad),
        ("baseline", lambda r: baseline(r, scorers), result.baseline),
    ]
    if best is not None:
        sides.append(("best", lambda r: baseline(r, best), result.best))
    for i in range(repeat):
        for name, decide, runs in sides if i % 2 == 0 else sides[::-1]:
            gc.collect()
            runs.append(latencies(decide, records))
            print(
                f"  run {i + 1}/{repeat} {name:>8}: p50 {percentile(runs[-1], 50):8.1f} µs"
                f"  p99 {percentile(runs[-1], 99):8.1f} µs"
            )
    return result


@dataclass
class ModelTime:
    """Where one side's time went over a pass: total, and per model (ns, calls)."""

    total_ns: int = 0
    models: dict[str, list[int]] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return sum(ns for ns, _ in self.models.values()) / self.total_ns

    def per_call(self, name: str) -> float:
        ns, calls = self.models[name]
        return ns / calls / 1000


def _timed(
    name: str, score: Callable[[list[float]], float], into: dict[str, list[int]]
) -> Callable[[list[float]], float]:
    slot = into.setdefault(name, [0, 0])

    def run(row: list[float]) -> float:
        start = time.perf_counter_ns()
        try:
            return score(row)
        finally:
            slot[0] += time.perf_counter_ns() - start
            slot[1] += 1

    return run


def _pass(
    decide: Callable[[Record], object], records: list[Record], reset: Callable[[], None]
) -> int:
    """Nanoseconds to decide ``records``, after a warm-up and a ``reset`` of the timers."""
    for record in records[:200]:
        decide(record)
    reset()
    start = time.perf_counter_ns()
    for record in records:
        decide(record)
    return time.perf_counter_ns() - start


def model_time(plan: Plan, models: Models, records: list[Record]) -> dict[str, ModelTime]:
    """Time inside the model calls, for each side: kaskad's model adapters (the library
    call and the adapter's checks) and the baseline's library calls."""
    timed_models, timers = with_timed_models()
    executor = kaskad.RecordExecutor(plan, timed_models)

    def reset_adapters() -> None:
        for timer in timers:
            timer.nanoseconds = timer.calls = 0

    ours = ModelTime(_pass(executor.decide, records, reset_adapters))
    ours.models = {MODEL_NAMES[t.path.name]: [t.nanoseconds, t.calls] for t in timers}

    theirs = ModelTime()
    library = library_scorers(models)
    scorers = Scorers(
        *(
            _timed(name, getattr(library, name), theirs.models)
            for name in ("fraud", "credit_pd", "credit_pd_v2")
        )
    )

    def reset_calls() -> None:
        for slot in theirs.models.values():
            slot[:] = [0, 0]

    theirs.total_ns = _pass(lambda r: baseline(r, scorers), records, reset_calls)
    return {"kaskad": ours, "baseline": theirs}


MODEL_NAMES = {
    "fraud.txt": "fraud",
    "credit_pd.joblib": "credit_pd",
    "credit_pd_v2.onnx": "credit_pd_v2",
}


def step_breakdown(executor: kaskad.RecordExecutor, records: list[Record]) -> dict[str, float]:
    """Mean µs per record by kind of step, from the decision traces; 'other' is input
    checks, the decision, shadows and building the result."""
    sums: dict[str, float] = {}
    for record in records:
        decision = executor.decide(record)
        spent = 0.0
        for step in decision.steps:
            sums[step.kind] = sums.get(step.kind, 0.0) + step.duration_ms * 1000
            spent += step.duration_ms * 1000
        sums["other"] = sums.get("other", 0.0) + decision.duration_ms * 1000 - spent
    return {k: v / len(records) for k, v in sums.items()}


def profile(executor: kaskad.RecordExecutor, records: list[Record], top: int) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [executor.decide(r) for r in records])
    print(
        f"cProfile of RecordExecutor.decide over {len(records):,} records "
        f"(top {top} by internal time):"
    )
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def report(results: list[Comparison]) -> None:
    print()
    print(
        f"{'':<26}{'kaskad p50':>11}{'p99':>9}{'baseline p50':>14}{'p99':>9}"
        f"{'best-known p50':>16}{'p99':>9}{'p50 ratio':>11}   (µs)"
    )
    for r in results:
        print(
            f"{r.label:<26}{r.p('kaskad', 50):>11.1f}{r.p('kaskad', 99):>9.1f}"
            f"{r.p('baseline', 50):>14.1f}{r.p('baseline', 99):>9.1f}"
            f"{r.p('best', 50):>16.1f}{r.p('best', 99):>9.1f}{r.ratio:>10.2f}×"
        )
    print(
        "best-known: the hand-written baseline with kaskad's compiled kernels called "
        "directly instead of the libraries"
    )
    for r in results:
        if r.label.startswith("with models"):
            print(
                f"target kaskad p50 <= {RECORD_TARGET_US:.0f} µs ({r.label}): "
                + ("met" if r.p("kaskad", 50) <= RECORD_TARGET_US else "NOT met")
            )
        verdict = "met" if r.ratio <= TARGET else "NOT met"
        print(f"target kaskad p50 <= {TARGET:.0f}× the baseline's ({r.label}): {verdict}")


def load_records(count: int, skip: int = 0) -> list[Record]:
    with APPLICATIONS.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in itertools.islice(fh, skip, skip + count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--records", type=int, default=2_000, help="distinct applications timed (default 2,000)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=500,
        help="other applications decided first, untimed (default 500)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed passes per side; medians of the percentiles are reported (default 3)",
    )
    parser.add_argument(
        "--skip-no-models", action="store_true", help="only the comparison with models"
    )
    parser.add_argument(
        "--skip-models",
        action="store_true",
        help="only the comparison with model calls excluded (the executor's "
        "own cost; target: at most 2× the baseline's p50)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="TOP",
        default=0,
        help="also print a cProfile of kaskad without models (TOP functions)",
    )
    args = parser.parse_args(argv)
    require_example()
    print_header("kaskad single-record latency (credit example)")

    plan = kaskad.compile_pipeline(PIPELINE)
    warmup = load_records(args.warmup)
    records = load_records(args.records, skip=args.warmup)
    print(
        f"{len(records):,} records timed after {len(warmup):,} warm-up records, "
        f"{args.repeat} passes per side\n"
    )

    if args.skip_models and args.skip_no_models:
        parser.error("--skip-models and --skip-no-models leave nothing to compare")
    models = load_models()
    results = []
    if not args.skip_models:
        # a process's first 100,000 records: the per-record kernels made at load
        results.append(
            compare(
                "with models, as loaded",
                kaskad.RecordExecutor(plan),
                library_scorers(models),
                records,
                warmup,
                args.repeat,
                best=kernel_scorers(models),
            )
        )
        # then the trees compiled to machine code, as after 100,000 records
        for line in compile_models(plan):
            print(f"  not compiled: {line}")
        results.append(
            compare(
                "with models, compiled",
                kaskad.RecordExecutor(plan),
                library_scorers(models),
                records,
                warmup,
                args.repeat,
                best=kernel_scorers(models, compiled=True),
            )
        )
    stubbed = without_models()
    if not args.skip_no_models:
        results.append(
            compare(
                "models excluded",
                kaskad.RecordExecutor(plan, stubbed),
                constant_scorers(),
                records,
                warmup,
                args.repeat,
            )
        )
    report(results)

    if not args.skip_models:
        times = model_time(plan, models, records)
        print("\ntime inside model calls (one pass, the trees compiled):")
        for side, spent in times.items():
            calls = ", ".join(f"{name} {spent.per_call(name):.1f}" for name in MODEL_NAMES.values())
            print(f"  {side:>8}: {spent.share:.0%} of its time; µs per call: {calls}")
    print("kaskad time by step kind, models excluded (mean µs per record, from traces):")
    for kind, micros in step_breakdown(kaskad.RecordExecutor(plan, stubbed), records).items():
        print(f"  {kind}: {micros:.1f}")
    if args.profile:
        print()
        profile(kaskad.RecordExecutor(plan, stubbed), records, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
