"""The credit example end to end: both executors agree on 10,000 applications."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.execute.convert import json_value
from kaskad.io.files import read_input
from tests.conftest import frame_of


@pytest.mark.slow
def test_batch_and_record_agree_on_10000_applications(example_dir: Path) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    source = example_dir / "data" / "applications.jsonl"
    frame = read_input(source, plan.schema).head(10_000)
    batch = BatchExecutor(plan).run(frame).to_dicts()
    record = RecordExecutor(plan)
    lines = source.read_text().splitlines()[:10_000]
    mismatches = []
    for line, row in zip(lines, batch, strict=True):
        one = record.decide(json.loads(line)).output
        if one != row:
            mismatches.append({k: (row[k], one[k]) for k in one if row[k] != one[k]})
    assert not mismatches, f"{len(mismatches)} differ, first: {mismatches[:3]}"
    decisions = {r["decision"] for r in batch}
    assert {"approve", "reject", "manual_review"} <= decisions
    scores = [r["fraud_score"] for r in batch]
    assert all(s is None or 0.0 <= s <= 1.0 for s in scores)
    assert any(r["shadow.credit_pd_v2.pd"] != r["pd"] for r in batch)
    assert all(r["shadow.credit_pd_v2.error"] is None for r in batch)


def test_missing_data_is_unknown_and_counted(example_dir: Path) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    record = json.loads((example_dir / "data" / "applications.jsonl").read_text().splitlines()[0])
    record["operation"]["amount_rub"] = None
    record["operation"]["kind"] = "cash_out"
    record["transactions"] = None
    out = RecordExecutor(plan).decide(record).output
    assert out["aml_mandatory_control.cash_1m"] == "unknown"
    assert out["aml_mandatory_control.many_p2p_operations"] == "unknown"
    assert out["aml_mandatory_control.unknown_count"] == 3
    batch = BatchExecutor(plan).run(frame_of([record], plan.schema))
    assert json_value(batch.to_dicts()[0]) == json_value(out)


def test_second_pipeline_reuses_the_same_rule_set(example_dir: Path) -> None:
    loan = compile_pipeline(example_dir / "pipeline.yaml")
    aml = compile_pipeline(example_dir / "aml_screening.yaml")
    rules = {
        c.sha256 for c in loan.components if c.kind == "rules" and c.name == "aml_mandatory_control"
    }
    assert rules == {c.sha256 for c in aml.components if c.kind == "rules"}
    assert loan.hash != aml.hash


@pytest.mark.slow
def test_training_is_reproducible_from_the_seed(example_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(example_dir / "build.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    for rel in (
        "models/fraud.txt",
        "models/credit_pd.joblib",
        "models/credit_pd_v2.onnx",
        "data/applications.jsonl",
    ):
        assert digest(tmp_path / rel) == digest(example_dir / rel), rel
