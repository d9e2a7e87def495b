"""Deterministic synthetic loan applications for the credit example.

``generate_applications(n, seed)`` returns JSON-ready records (dates as ISO strings).
``training_table(applications, seed)`` derives the model inputs from them and
simulates the labels ``is_fraud`` and ``defaulted`` from a known logistic relation
plus noise. The same seed always gives the same records and labels.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

CHANNELS = ("web", "mobile", "branch", "partner")
TERMS = (6, 12, 24, 36, 60)
EMPLOYMENT = ("employed", "self_employed", "unemployed", "retired")
REGIONS = (
    "RU-MOW",
    "RU-SPE",
    "RU-MOS",
    "RU-SVE",
    "RU-NVS",
    "RU-TA",
    "RU-KDA",
    "RU-NIZ",
    "RU-SAM",
    "RU-BA",
)
LOAN_STATUSES = ("closed", "active", "defaulted")
KINDS = ("cash_in", "cash_out", "transfer", "payment")
COUNTERPARTIES = ("individual", "legal_entity")

YEAR_START = date(2025, 1, 1).toordinal()
LARGE_CASH_RUB = 1_000_000.0
AML_MIN_SAME_DAY = 31


def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def generate_applications(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` loan applications dated in 2025; same ``seed``, same records."""
    rng = np.random.default_rng(seed)
    day = YEAR_START + rng.integers(0, 365, n)
    channel = rng.choice(len(CHANNELS), n, p=[0.38, 0.32, 0.2, 0.1])
    amount = np.clip(np.round(rng.lognormal(np.log(250_000), 0.9, n), -3), 10_000, 3_000_000)
    term = rng.choice(np.array(TERMS), n, p=[0.1, 0.25, 0.3, 0.2, 0.15])

    age = np.clip(np.rint(rng.normal(41, 13, n)), 18, 80).astype(np.int64)
    working = rng.choice(3, n, p=[0.76, 0.15, 0.09])
    retired = np.where(age >= 60, rng.random(n) < 0.7, rng.random(n) < 0.02)
    employment = np.where(retired, 3, working)
    income = rng.lognormal(np.log(70_000), 0.55, n)
    income = np.where(employment == 1, income * rng.lognormal(0.1, 0.4, n), income)
    income = np.where(employment == 3, rng.lognormal(np.log(24_000), 0.25, n), income)
    jobless_income = np.where(rng.random(n) < 0.85, 0.0, rng.lognormal(np.log(15_000), 0.5, n))
    income = np.where(employment == 2, jobless_income, income).round(-2)
    income_null = rng.random(n) < 0.03
    debt = np.round(rng.lognormal(np.log(18_000), 0.8, n), -2)
    debt = np.where(rng.random(n) < 0.15, 0.0, debt)
    debt_null = rng.random(n) < 0.2
    region = rng.choice(len(REGIONS), n, p=[0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
    new_device = rng.random(n) < 0.08
    device_age = np.where(
        new_device, rng.integers(0, 14, n), np.minimum(14 + rng.exponential(500, n), 3650)
    ).astype(np.int64)
    passport_series = rng.integers(100, 10_000, n)
    passport_number = rng.integers(0, 1_000_000, n)
    sparse = rng.random(n) < 0.003  # optional applicant fields left out entirely

    n_loans = np.minimum(rng.poisson(1.2, n), 6)
    loans = _previous_loans(rng, int(n_loans.sum()))

    large = rng.random(n) < 0.01
    op_kind = np.where(large, rng.integers(0, 2, n), rng.choice(4, n, p=[0.15, 0.2, 0.35, 0.3]))
    op_amount = np.where(
        large,
        np.round(rng.uniform(LARGE_CASH_RUB, 5_000_000, n), -3),
        np.clip(np.round(rng.lognormal(np.log(12_000), 1.1, n), 2), 100, 999_999.99),
    )
    op_counterparty = rng.choice(2, n, p=[0.6, 0.4])

    aml = rng.random(n) < 0.01
    n_tx = np.where(rng.random(n) < 0.05, 0, np.minimum(rng.poisson(6, n), 30))
    n_tx = np.where(aml, rng.integers(AML_MIN_SAME_DAY, 41, n), n_tx)
    transactions = _transactions(rng, n_tx, aml)

    records: list[dict[str, Any]] = []
    loan_at = tx_at = 0
    for i in range(n):
        today = int(day[i])
        applicant: dict[str, Any] = {
            "age": int(age[i]),
            "income": None if income_null[i] else float(income[i]),
            "debt": None if debt_null[i] else float(debt[i]),
            "employment": EMPLOYMENT[int(employment[i])],
            "region": REGIONS[int(region[i])],
            "device_age_days": None if channel[i] == 2 else int(device_age[i]),
            "passport_number": f"{passport_series[i]:04d} {passport_number[i]:06d}",
        }
        if sparse[i]:
            del applicant["debt"], applicant["device_age_days"]
        k = int(n_loans[i])
        previous = [
            {**loan, "opened": _iso(today - back)} for loan, back in loans[loan_at : loan_at + k]
        ]
        loan_at += k
        m = int(n_tx[i])
        history = [
            {"day": _iso(today - back), **tx} for back, tx in transactions[tx_at : tx_at + m]
        ]
        tx_at += m
        records.append(
            {
                "application_id": f"A{i + 1:07d}",
                "application_date": _iso(today),
                "channel": CHANNELS[int(channel[i])],
                "amount": float(amount[i]),
                "term_months": int(term[i]),
                "applicant": applicant,
                "previous_loans": previous,
                "operation": {
                    "kind": KINDS[int(op_kind[i])],
                    "amount_rub": float(op_amount[i]),
                    "day": _iso(today),
                    "counterparty_type": COUNTERPARTIES[int(op_counterparty[i])],
                },
                "transactions": history,
            }
        )
    return records


def _previous_loans(rng: np.random.Generator, total: int) -> list[tuple[dict[str, Any], int]]:
    """Loans (without the opening date) and how many days before the application."""
    amount = np.clip(np.round(rng.lognormal(np.log(150_000), 1.0, total), -3), 5_000, 5_000_000)
    status = rng.choice(3, total, p=[0.6, 0.33, 0.07])
    overdue = np.where(
        rng.random(total) < 0.8,
        0,
        np.where(rng.random(total) < 0.6, rng.integers(1, 31, total), rng.integers(31, 181, total)),
    )
    overdue = np.where(status == 2, rng.integers(90, 400, total), overdue)
    back = rng.integers(30, 3650, total)
    return [
        (
            {
                "amount": float(amount[j]),
                "status": LOAN_STATUSES[int(status[j])],
                "days_overdue_max": int(overdue[j]),
            },
            int(back[j]),
        )
        for j in range(total)
    ]


def _transactions(
    rng: np.random.Generator, counts: npt.NDArray[np.int64], aml: npt.NDArray[np.bool_]
) -> list[tuple[int, dict[str, Any]]]:
    """Account history, oldest first per application; AML ones all on the day itself."""
    total = int(counts.sum())
    owner_aml = np.repeat(aml, counts)
    back = np.where(owner_aml, 0, rng.integers(0, 31, total))
    amount = np.clip(np.round(rng.lognormal(np.log(5_000), 1.2, total), 2), 10, 900_000)
    amount = np.where(owner_aml, np.round(rng.uniform(5_000, 60_000, total), 2), amount)
    kind = np.where(owner_aml, 2, rng.choice(4, total, p=[0.1, 0.15, 0.35, 0.4]))
    counterparty = np.where(owner_aml, 0, rng.choice(2, total, p=[0.7, 0.3]))
    rows: list[tuple[int, dict[str, Any]]] = []
    start = 0
    for count in counts.tolist():
        order = start + np.argsort(-back[start : start + count], kind="stable")
        for j in order.tolist():
            rows.append(
                (
                    int(back[j]),
                    {
                        "amount_rub": float(amount[j]),
                        "kind": KINDS[int(kind[j])],
                        "counterparty_type": COUNTERPARTIES[int(counterparty[j])],
                    },
                )
            )
        start += count
    return rows


def write_applications(applications: list[dict[str, Any]], path: Path) -> None:
    """One compact JSON object per line, UTF-8, '\\n' line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for record in applications:
            fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")


def derive_features(applications: list[dict[str, Any]]) -> pl.DataFrame:
    """Model inputs per application, computed as the pipeline defines them."""
    rows = []
    for record in applications:
        applicant = record["applicant"]
        income = applicant.get("income")
        debt = applicant.get("debt")
        overdue = sum(1 for loan in record["previous_loans"] if loan["days_overdue_max"] > 30)
        rows.append(
            {
                "application_id": record["application_id"],
                "amount": record["amount"],
                "device_age_days": applicant.get("device_age_days"),
                "debt_to_income": (debt or 0.0) / income if income else None,
                "is_online": 1 if record["channel"] in ("web", "mobile") else 0,
                "income": income,
                "term_months": record["term_months"],
                "num_overdue": overdue,
            }
        )
    schema = {
        "application_id": pl.String,
        "amount": pl.Float64,
        "device_age_days": pl.Int64,
        "debt_to_income": pl.Float64,
        "is_online": pl.Int64,
        "income": pl.Float64,
        "term_months": pl.Int64,
        "num_overdue": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


def _values(frame: pl.DataFrame, name: str) -> npt.NDArray[np.float64]:
    """A column as float64, nulls as NaN."""
    return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def simulate_labels(features: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Add ``is_fraud`` and ``defaulted`` drawn from a known logistic relation."""
    rng = np.random.default_rng([seed, 1])
    n = features.height
    log_amount = np.log(_values(features, "amount") / 250_000)
    device_age = _values(features, "device_age_days")
    new_device = np.nan_to_num(device_age, nan=1e9) < 30
    dti = np.clip(np.nan_to_num(_values(features, "debt_to_income"), nan=0.0), 0, 3)
    online = _values(features, "is_online")
    fraud_logit = (
        -5.3 + 0.8 * log_amount + 2.4 * new_device + 0.9 * online + 0.6 * dti
    ) + rng.normal(0, 0.6, n)
    is_fraud = rng.random(n) < _sigmoid(fraud_logit)

    income = _values(features, "income")
    no_income = ~(income > 0)
    log_income = np.log(np.where(no_income, 70_000, income) / 70_000)
    overdue = _values(features, "num_overdue")
    term = _values(features, "term_months")
    default_logit = (
        -3.6
        - 1.2 * log_income
        + 1.5 * no_income
        + 0.02 * (term - 24)
        + 1.0 * overdue
        + 1.2 * dti
        + 2.0 * is_fraud
    ) + rng.normal(0, 0.5, n)
    defaulted = rng.random(n) < _sigmoid(default_logit)
    return features.with_columns(
        pl.Series("is_fraud", is_fraud.astype(np.int8)),
        pl.Series("defaulted", defaulted.astype(np.int8)),
    )


def training_table(applications: list[dict[str, Any]], seed: int) -> pl.DataFrame:
    """Derived inputs plus simulated labels (no ``fraud_score`` yet)."""
    return simulate_labels(derive_features(applications), seed)
