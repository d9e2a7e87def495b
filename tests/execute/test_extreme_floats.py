"""Extreme but valid floats in the input (``income`` of 1e-300, 5e-324, 1e300) reach
features and models on both executors without an exception escaping: the record is
decided, or fails alone with the model's error in its ``errors``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from tests.conftest import frame_of


@pytest.mark.parametrize("income", [1e-300, 5e-324, -1e-300, 1e300, 1.7e308])
def test_extreme_income_is_decided_or_fails_alone(example_dir: Path, income: float) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    lines = (example_dir / "data" / "applications.jsonl").read_text().splitlines()
    normal = json.loads(lines[0])
    extreme = json.loads(lines[0])
    extreme["applicant"]["income"] = income
    extreme["application_id"] = "extreme"
    one = RecordExecutor(plan).decide(extreme).output
    batch = BatchExecutor(plan).run(frame_of([extreme, normal], plan.schema)).to_dicts()
    assert batch[1]["status"] == "decided"  # its neighbour in the batch is not affected
    for out in (one, batch[0]):
        assert out["status"] in ("decided", "failed"), out
        if out["status"] == "failed":
            assert any("credit_pd" in e for e in out["errors"]), out["errors"]
        share = out["payment_to_income"]
        assert share is None or share > 0 or math.isnan(share) or income < 0
    assert one["status"] == batch[0]["status"]
    if income < 1:
        assert one["decision"] == batch[0]["decision"] == ("approve" if income < 0 else "reject")
