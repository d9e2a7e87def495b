"""The AML example: every criterion at its threshold, batch and per record, against golden
expected results; the generated data decided alike by both executors; the README's
commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.execute.convert import json_value
from kaskad.io.sources import file_source

ROOT = Path(__file__).resolve().parents[2]
AML = ROOT / "examples" / "aml"
GOLDEN = Path(__file__).parent / "aml"
PLAN = compile_pipeline(AML / "pipeline.yaml")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _batch(path: Path) -> list[dict[str, Any]]:
    frame = pl.concat(list(file_source(path, PLAN.schema)))
    return [json_value(r) for r in BatchExecutor(PLAN).run(frame).to_dicts()]


def _record(path: Path) -> list[dict[str, Any]]:
    run = RecordExecutor(PLAN)
    return [json_value(run.decide(r).output) for r in _lines(path)]


def test_boundaries_match_the_golden_results_in_batch_and_per_record() -> None:
    expected = _lines(GOLDEN / "boundaries_expected.jsonl")
    batch = _batch(GOLDEN / "boundaries.jsonl")
    record = _record(GOLDEN / "boundaries.jsonl")
    assert batch == record
    assert record == expected


# each threshold from both sides: the operation, its decision and the rules it hits
BOUNDARIES = {
    "cash_999999_99": ("clear", []),
    "cash_1000000_00": ("report", ["cash_1m", "round_amount"]),
    "estate_2999999_99": ("clear", []),
    "estate_3000000": ("report", ["real_estate_3m"]),
    "country_ir": ("report", ["high_risk_jurisdiction"]),
    "structuring_24h": ("alert", ["structuring"]),  # exactly 24 hours before: counted
    "structuring_24h_1s": ("clear", []),  # 24 hours and a second: not counted
    "cash_2359_59_msk": ("clear", []),  # 20:59:59 UTC is 23:59:59 in Moscow
    "cash_0000_00_msk": ("alert", ["night_cash"]),  # 21:00:00 UTC is Moscow midnight
    "cash_0559_59_msk": ("alert", ["night_cash"]),
    "cash_0600_00_msk": ("clear", []),
    "individuals_10": ("clear", []),
    "individuals_11": ("alert", ["many_individuals"]),
    "individuals_10_and_1_the_day_before": ("clear", []),  # not on the Moscow day
    "gambling_49999_99": ("clear", []),
    "gambling_50000": ("alert", ["gambling"]),
    "merchant_quasi_cash": ("alert", ["high_risk_merchant"]),
    "merchant_unlisted": ("clear", []),
    "client_29_days": ("alert", ["new_client_large_transfer"]),
    "client_30_days": ("clear", []),
    "round_300000": ("alert", ["round_amount"]),
    "round_300000_50": ("clear", []),
    "country_missing": ("alert", []),  # unknown: missing data is an alert, never clear
    "all_missing": ("alert", []),
}


@pytest.mark.parametrize("operation_id", sorted(BOUNDARIES))
def test_each_threshold(operation_id: str) -> None:
    record = next(
        r for r in _lines(GOLDEN / "boundaries.jsonl") if r["operation_id"] == operation_id
    )
    out = RecordExecutor(PLAN).decide(record).output
    hits = [k.split(".", 1)[1] for k, v in out.items() if v == "hit"]
    assert (out["decision"], hits) == BOUNDARIES[operation_id]


def test_generated_operations_are_decided_alike_by_both_executors(tmp_path: Path) -> None:
    data = tmp_path / "operations.jsonl"
    subprocess.run(
        [sys.executable, str(AML / "generate.py"), "--rows", "400", "--out", str(data)],
        check=True,
        capture_output=True,
    )
    again = tmp_path / "again.jsonl"
    subprocess.run(
        [sys.executable, str(AML / "generate.py"), "--rows", "400", "--out", str(again)],
        check=True,
        capture_output=True,
    )
    assert data.read_bytes() == again.read_bytes()  # a fixed seed: the same file
    batch, record = _batch(data), _record(data)
    assert batch == record
    decisions = {r["decision"] for r in record}
    assert decisions == {"report", "alert", "clear"}
    unknown = [r for r in record if r["mandatory_control.unknown_count"] > 0]
    assert unknown and all(r["decision"] != "clear" for r in unknown)


def test_the_readme_commands_are_the_ones_tested() -> None:
    readme = (AML / "README.md").read_text()
    commands = re.findall(r"^\$ (.+)$", readme, flags=re.M)
    assert "python examples/aml/generate.py" in commands
    assert any(c.startswith("kaskad run examples/aml/pipeline.yaml") for c in commands)
    assert any(c.startswith("kaskad release diff") for c in commands)
