"""Batch and per-record executors agree on decision tables: random tables of every hit
policy and on_missing choice, over random records with missing values everywhere."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.execute.convert import json_value
from kaskad.spec.table import HIT_POLICIES

SCHEMA = Path(__file__).parents[1] / "golden" / "tables" / "schema.yaml"
TESTS = {
    "age": [
        "-",
        "< 30",
        ">= 18",
        "[18..65)",
        "(20..40]",
        "]30..50[",
        "25",
        "not(< 40)",
        "null",
        "? * 2 > 50",
        "10, 20, 30",
    ],
    "amount": ["-", "> 100.5", "<= 1000", "[0..500]", "not([100..200])", "? > age * 10"],
    "kind": ["-", "'auto'", "'auto','home'", "not('travel')", "null", "null, not('travel')"],
    "region": ["-", "'north'", "'north','south'", "not('east')", "'north', not('east', 'west')"],
    "vip": ["-", "true", "false", "null"],
}
INPUTS = list(TESTS)
OUTPUT_VALUES = ["1", "2", "3", "null", "age", "amount * 2"]

records = st.lists(
    st.fixed_dictionaries(
        {
            "age": st.none() | st.integers(-5, 90),
            "amount": st.none() | st.sampled_from([0.0, 100.5, 150.0, 999.0, 1000.0, 2e3]),
            "kind": st.none() | st.sampled_from(["auto", "home", "travel"]),
            "region": st.none() | st.sampled_from(["north", "south", "east", "west"]),
            "vip": st.none() | st.booleans(),
        }
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def tables(draw: st.DrawFn) -> dict[str, Any]:
    policy = draw(st.sampled_from(HIT_POLICIES))
    used = draw(st.lists(st.sampled_from(INPUTS), min_size=1, max_size=3, unique=True))
    ranked = policy in ("PRIORITY", "OUTPUT ORDER")
    pool = OUTPUT_VALUES[:3] if ranked else OUTPUT_VALUES
    rules = [
        {
            "when": [draw(st.sampled_from(TESTS[i])) for i in used],
            "then": [draw(st.sampled_from(pool))],
        }
        for _ in range(draw(st.integers(1, 5)))
    ]
    table: dict[str, Any] = {
        "table": "t",
        "hit_policy": policy,
        "on_missing": draw(st.sampled_from(["unknown", "pass", "hit"])),
        "inputs": [{"id": i, "expr": i} for i in used],
        "outputs": [{"id": "out", "type": "float", "values": [3, 2, 1] if ranked else []}],
        "rules": rules,
    }
    if policy in ("UNIQUE", "ANY", "PRIORITY", "FIRST") and draw(st.booleans()):
        table["default"] = {"out": 3 if ranked else 0}
    return table


@pytest.mark.slow
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), rows=records)
def test_batch_and_record_agree(table: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        (where / "t.yaml").write_text(json.dumps(table), encoding="utf-8")
        (where / "pipeline.yaml").write_text(
            f"pipeline: parity\ninput: {SCHEMA}\nsteps:\n  - table: t.yaml\n"
            "decision:\n  - when: t.matched IS NOT NULL\n    outcome: seen\n"
            "  - otherwise: none\n",
            encoding="utf-8",
        )
        plan = compile_pipeline(where / "pipeline.yaml")
    full = [{"id": str(i), **r} for i, r in enumerate(rows)]
    frame = pl.DataFrame(
        full,
        schema={
            "id": pl.String,
            "age": pl.Int64,
            "amount": pl.Float64,
            "kind": pl.String,
            "region": pl.String,
            "vip": pl.Boolean,
        },
    )
    batch = [json_value(r) for r in BatchExecutor(plan).run(frame).to_dicts()]
    executor = RecordExecutor(plan)
    single = [json_value(executor.decide(r).output) for r in full]
    assert batch == single
    # a record fails only for UNIQUE (several matches) or ANY (disagreeing matches)
    for row in batch:
        if row["status"] == "failed":
            assert table["hit_policy"] in ("UNIQUE", "ANY")
            assert "K227" in row["errors"][0] or "K228" in row["errors"][0]
