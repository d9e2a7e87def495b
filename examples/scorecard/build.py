"""Build the scorecard example's data: synthetic applicants from a seed.

    python examples/scorecard/build.py [--rows N] [--seed S] [--out DIR]

Writes ``data/applicants.jsonl`` under DIR (default: this directory). The same seed gives
a byte-identical file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HOUSING = ["own", "rent", "family", "other"]


def applicants(rows: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    out: list[dict[str, object]] = []
    for i in range(rows):
        income = round(float(rng.lognormal(7.8, 0.6)), 2)
        out.append(
            {
                "applicant_id": f"C{i:07d}",
                "age": int(rng.integers(18, 80)),
                "income": None if rng.random() < 0.05 else income,
                "months_at_address": None if rng.random() < 0.08 else int(rng.integers(0, 240)),
                "housing": HOUSING[int(rng.choice(4, p=[0.45, 0.35, 0.15, 0.05]))],
                "delinquencies": int(rng.poisson(0.4)),
                "utilisation": None if rng.random() < 0.1 else round(float(rng.beta(2, 3)), 4),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the scorecard example's applicants.")
    parser.add_argument("--rows", type=int, default=5_000, help="applicants (default 5000)")
    parser.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args(argv)
    target: Path = args.out / "data" / "applicants.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as f:
        for row in applicants(args.rows, args.seed):
            f.write(json.dumps(row, sort_keys=True) + "\n")
    print(f"wrote {target} ({args.rows} applicants)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
