"""Golden cases: each folder holds a pipeline, ``input.jsonl`` and the reviewed
``expected.jsonl``; both executors must reproduce it exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.execute.convert import json_value
from kaskad.io.files import read_input

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.iterdir() if (p / "pipeline.yaml").exists())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case(case: Path) -> None:
    plan = compile_pipeline(case / "pipeline.yaml")
    expected = [json.loads(line) for line in (case / "expected.jsonl").read_text().splitlines()]
    batch = BatchExecutor(plan).run(read_input(case / "input.jsonl", plan.schema))
    assert [json_value(row) for row in batch.to_dicts()] == expected
    record = RecordExecutor(plan)
    inputs = [json.loads(line) for line in (case / "input.jsonl").read_text().splitlines()]
    assert [json_value(record.decide(r).output) for r in inputs] == expected
