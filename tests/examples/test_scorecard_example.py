"""The scorecard example: a WoE scorecard with reason codes, batch and per record agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.execute.convert import json_value
from kaskad.io.files import read_input

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scorecard"


def test_scorecard_example_batch_and_record_agree(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLE / "build.py"), "--rows", "2000", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    plan = compile_pipeline(EXAMPLE / "pipeline.yaml")
    source = tmp_path / "data" / "applicants.jsonl"
    frame = read_input(source, plan.schema)
    executor = BatchExecutor(plan)
    whole = executor.run(frame).to_dicts()
    chunks = [executor.run(frame.slice(i, 7)).to_dicts() for i in range(0, 70, 7)]
    assert [r for c in chunks for r in c] == whole[:70]
    record = RecordExecutor(plan)
    lines = source.read_text().splitlines()
    for line, row in zip(lines, whole, strict=True):
        assert json_value(record.decide(json.loads(line)).output) == json_value(row)
    result = pl.DataFrame(whole)
    assert set(result["decision"]) == {"approve", "manual_review", "reject"}
    rejected = result.filter(pl.col("decision") == "reject")
    assert all(len(r) > 0 for r in rejected["application.reasons"])
    best = "R05_late_payments"
    worst_delinquency = [
        r
        for r in whole
        if r["application.delinquencies"] == min(x["application.delinquencies"] for x in whole)
    ]
    assert all(r["application.reasons"][0] == best for r in worst_delinquency[:5])
