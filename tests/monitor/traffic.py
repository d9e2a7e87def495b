"""Synthetic traffic for the AML test pipeline (tests/execute/golden/aml_unknowns): JSON
operations, and the same operations as XML with ``amount_rub`` renamed ``amount`` (still
accepted: the field is simply missing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ["cash_in", "cash_out", "transfer"]


def operations(n: int, seed: int, start: int = 0, shift: float = 0.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    kinds = rng.choice(len(KINDS), n, p=[0.3, 0.2, 0.5])
    amounts = np.exp(rng.normal(11.0 + shift, 1.5, n))
    return [
        {
            "id": f"op-{start + i}",
            "day": "2025-03-01",
            "kind": KINDS[int(kinds[i])],
            "amount_rub": round(float(amounts[i]), 2),
            "transactions": [],
        }
        for i in range(n)
    ]


def renamed_xml(op: dict[str, Any]) -> bytes:
    """The operation as an XML body whose ``amount_rub`` element is called ``amount``."""
    return (
        f"<operation><id>{op['id']}</id><day>{op['day']}</day><kind>{op['kind']}</kind>"
        f"<amount>{op['amount_rub']}</amount><transactions/></operation>"
    ).encode()


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
