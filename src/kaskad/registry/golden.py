"""Golden cases: inputs with the outputs recorded when a release was made, replayed
through both executors before the release may serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kaskad.compile.plan import Plan
from kaskad.execute.batch import BatchExecutor
from kaskad.execute.convert import json_value
from kaskad.execute.record import RecordExecutor
from kaskad.io.files import frame_from_records, read_input
from kaskad.registry.errors import GoldenDiff, ReleaseError

Case = dict[str, Any]  # {"input": {...}, "output": {...}}


def sample_inputs(path: Path, plan: Plan, count: int) -> list[dict[str, Any]]:
    """The first ``count`` records of a sample file, as JSON-like dicts."""
    frame = read_input(path, plan.schema).head(count)
    return [json_value(row) for row in frame.to_dicts()]


def record_cases(plan: Plan, inputs: list[dict[str, Any]]) -> list[Case]:
    """Run the inputs through both executors; they must agree, or no release is made."""
    cases = [
        {"input": record, "output": json_value(out)}
        for record, out in zip(inputs, _record_outputs(plan, inputs), strict=True)
    ]
    diffs = _compare(plan, cases, _batch_outputs(plan, inputs), "batch")
    if diffs:
        first = diffs[0]
        raise ReleaseError(
            f"the batch and per-record executors disagree on golden case {first.case}, "
            f"field {first.field}: {first.expected!r} vs {first.got!r}; no release was made"
        )
    return cases


def replay(plan: Plan, cases: list[Case]) -> list[GoldenDiff]:
    """Every difference between recorded outputs and what both executors give now."""
    inputs = [c["input"] for c in cases]
    diffs = _compare(plan, cases, _record_outputs(plan, inputs), "record")
    diffs += _compare(plan, cases, _batch_outputs(plan, inputs), "batch")
    return diffs


def to_jsonl(cases: list[Case]) -> bytes:
    lines = [json.dumps(c, ensure_ascii=False, sort_keys=True) for c in cases]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def from_jsonl(data: bytes) -> list[Case]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def _record_outputs(plan: Plan, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    executor = RecordExecutor(plan)
    return [json_value(executor.decide(record).output) for record in inputs]


def _batch_outputs(plan: Plan, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not inputs:
        return []
    frame = frame_from_records(inputs, plan.schema)
    return [json_value(row) for row in BatchExecutor(plan).run(frame).to_dicts()]


def _case_name(plan: Plan, index: int, case: Case) -> str:
    keys = [str(case["input"].get(k)) for k in plan.schema.keys if case["input"].get(k)]
    return f"#{index + 1}" + (f" ({', '.join(keys)})" if keys else "")


def _compare(
    plan: Plan, cases: list[Case], outputs: list[dict[str, Any]], mode: str
) -> list[GoldenDiff]:
    diffs: list[GoldenDiff] = []
    for i, (case, got) in enumerate(zip(cases, outputs, strict=True)):
        expected = case["output"]
        for name in sorted(set(expected) | set(got)):
            if expected.get(name) != got.get(name):
                diffs.append(
                    GoldenDiff(
                        _case_name(plan, i, case), name, expected.get(name), got.get(name), mode
                    )
                )
    return diffs
