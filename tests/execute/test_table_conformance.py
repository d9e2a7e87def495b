"""The decision-table conformance suite (tests/golden/tables): every hit policy, no match,
several matches, missing inputs and each on_missing choice, through both executors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.execute.convert import json_value
from kaskad.io.files import read_input
from tests.dmn.table_check import HIT_POLICIES

SUITE = Path(__file__).parents[1] / "golden" / "tables"
CASES = sorted(p for p in SUITE.iterdir() if (p / "table.yaml").exists())


def case_plan(case: Path, where: Path) -> Plan:
    """A pipeline around the case's table ``t`` (the suite's schema, one decision)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "pipeline.yaml").write_text(
        f"pipeline: conformance\ninput: {SUITE / 'schema.yaml'}\n"
        f"steps:\n  - table: {case / 'table.yaml'}\n"
        "decision:\n  - otherwise: done\n",
        encoding="utf-8",
    )
    return compile_pipeline(where / "pipeline.yaml")


def _matches(row: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if key == "error":
            assert row["errors"] and row["errors"][0].startswith("table t: TableHitError: " + value)
        else:
            assert row[key] == value, (key, row)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance_case(case: Path, tmp_path: Path) -> None:
    plan = case_plan(case, tmp_path)
    expected = [json.loads(line) for line in (case / "expected.jsonl").read_text().splitlines()]
    records = [json.loads(line) for line in (case / "input.jsonl").read_text().splitlines()]
    assert len(expected) == len(records)
    batch = BatchExecutor(plan).run(read_input(case / "input.jsonl", plan.schema))
    batch_rows = [json_value(row) for row in batch.to_dicts()]
    executor = RecordExecutor(plan)
    record_rows = [json_value(executor.decide(r).output) for r in records]
    assert batch_rows == record_rows
    for row, want in zip(batch_rows, expected, strict=True):
        _matches(row, want)


def test_every_hit_policy_has_a_case() -> None:
    policies = set()
    for case in CASES:
        text = (case / "table.yaml").read_text()
        policies.add(
            next(
                ln.split(":", 1)[1].strip()
                for ln in text.splitlines()
                if ln.startswith("hit_policy")
            )
        )
    assert policies >= HIT_POLICIES
