"""Synthetic client operations for the AML example.

    python examples/aml/generate.py [--rows N] [--seed S] [--out FILE]

Writes ``data/operations.jsonl`` (default: 5,000 operations, seed 11): one operation per
line with the client's earlier transactions. Values are missing here and there (amounts,
countries, merchant codes, the client's start date, whole transaction lists), and times
come without an offset (Moscow time, the pipeline's zone), in UTC (``Z``) or with
``+03:00``. The same seed gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KINDS = ["cash_in", "cash_out", "transfer_in", "transfer_out", "card_payment", "real_estate"]
KIND_WEIGHTS = [18, 18, 22, 22, 18, 2]
COUNTRIES = ["RU"] * 30 + ["KZ", "BY", "AM", "TR", "AE", "CN", "IR", "KP", "MM", "SY"]
MCCS = [5411, 5812, 4829, 5944, 6011, 6051, 7995, 7801, 9406, 5999, 6211, 5971]
MSK = dt.timezone(dt.timedelta(hours=3))
START = dt.datetime(2026, 3, 1, tzinfo=MSK)


def _maybe(rng: random.Random, value: Any, missing: float = 0.04) -> Any:
    return None if rng.random() < missing else value


def _amount(rng: random.Random, kind: str) -> float:
    if kind == "real_estate":
        return float(rng.choice([2_500_000, 2_999_999.99, 3_000_000, 4_750_000, 8_100_000]))
    roll = rng.random()
    if roll < 0.08:  # round sums
        return float(rng.randint(1, 15) * 100_000)
    if roll < 0.14:  # just under the threshold
        return round(rng.uniform(900_000, 999_999.99), 2)
    if roll < 0.2:
        return round(rng.uniform(600_000, 3_000_000), 2)
    return round(rng.lognormvariate(10.5, 1.3), 2)


def _time(rng: random.Random, moment: dt.datetime) -> str:
    """The moment as input text: Moscow time without an offset, UTC, or +03:00."""
    roll = rng.random()
    if roll < 0.7:
        return moment.replace(tzinfo=None).isoformat(sep=" ")
    if roll < 0.85:
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def _transactions(rng: random.Random, at: dt.datetime) -> list[dict[str, Any]] | None:
    if rng.random() < 0.05:
        return None
    busy = rng.random() < 0.1  # a client paying many individuals in a few hours
    out = []
    if rng.random() < 0.04:  # a client splitting cash under the threshold
        for _ in range(rng.randint(1, 3)):
            moment = at - dt.timedelta(seconds=rng.randint(600, 30 * 3600))
            out.append(
                {
                    "ts": _time(rng, moment),
                    "kind": rng.choice(["cash_in", "cash_out"]),
                    "amount_rub": round(rng.uniform(900_000, 999_999.99), 2),
                    "counterparty_id": None,
                    "counterparty_type": None,
                }
            )
    for _ in range(rng.randint(0, 30 if busy else 8)):
        kind = rng.choices(KINDS[:5], KIND_WEIGHTS[:5])[0]
        window = 6 * 3600 if busy else 3 * 86_400
        moment = at - dt.timedelta(seconds=rng.randint(60, window))
        person = rng.random() < (0.9 if busy else 0.5)
        out.append(
            {
                "ts": _maybe(rng, _time(rng, moment), 0.02),
                "kind": kind,
                "amount_rub": _maybe(rng, _amount(rng, kind), 0.03),
                "counterparty_id": f"cp{rng.randint(1, 40 if busy else 400)}",
                "counterparty_type": "individual" if person else "legal_entity",
            }
        )
    return out


def generate_operations(rows: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        at = START + dt.timedelta(seconds=rng.randint(0, 30 * 86_400))
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        days = rng.randint(0, 29) if rng.random() < 0.1 else rng.randint(0, 2_000)
        since = (at - dt.timedelta(days=days)).date().isoformat()
        operation = {
            "ts": _maybe(rng, _time(rng, at), 0.02),
            "kind": _maybe(rng, kind, 0.02),
            "amount_rub": _maybe(rng, _amount(rng, kind)),
            "country": _maybe(rng, rng.choice(COUNTRIES)),
            "mcc": _maybe(rng, rng.choice(MCCS)) if kind == "card_payment" else None,
            "counterparty_id": f"cp{rng.randint(1, 400)}",
            "counterparty_type": rng.choice(["individual", "legal_entity"]),
        }
        out.append(
            {
                "operation_id": f"op{i:06d}",
                "client_id": f"cl{rng.randint(1, rows // 3 + 1):06d}",
                "client_type": _maybe(
                    rng, rng.choice(["individual", "sole_proprietor", "legal_entity"])
                ),
                "client_since": _maybe(rng, since, 0.05),
                "operation": operation,
                "transactions": _transactions(rng, at),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write synthetic operations for the AML example.")
    parser.add_argument("--rows", type=int, default=5_000, help="operations (default 5000)")
    parser.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    parser.add_argument("--out", type=Path, default=HERE / "data" / "operations.jsonl")
    args = parser.parse_args(argv)
    ops = generate_operations(args.rows, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for op in ops:
            f.write(json.dumps(op, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {args.out} ({len(ops)} operations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
