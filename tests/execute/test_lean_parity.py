"""The lean record path on a claims pipeline (not credit): missing values everywhere, a
rule-set challenger and a whole-pipeline challenger that shares the champion's features.

The batch and record executors agree; the challenger pipeline taking the champion's
shared steps gives what it gives when it recomputes them; the trace is the same whether
read at once or later."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.execute.record import shared_steps
from tests.conftest import frame_of

PLAN = compile_pipeline(Path(__file__).parent / "lean" / "pipeline.yaml")
RECORD = RecordExecutor(PLAN)
BATCH = BatchExecutor(PLAN)


def _recomputing() -> RecordExecutor:
    executor = RecordExecutor(PLAN)
    for shadow in executor._shadows:
        shadow.shared = 0  # the challenger recomputes every step
    return executor


RECOMPUTING = _recomputing()


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


money = st.one_of(st.floats(0, 200_000), st.integers(0, 90_000))
parts = st.fixed_dictionaries(
    {"name": st.sampled_from(["door", "glass", "x"])},
    optional={
        "cost": maybe(money),
        "kind": maybe(st.sampled_from(["glass", "body", "engine"])),
        "fitted": maybe(st.datetimes(dt.datetime(2000, 1, 1)).map(lambda d: d.isoformat())),
    },
)
claims = st.fixed_dictionaries(
    {
        "claim_id": st.text("CLM0123456789", min_size=1, max_size=8),
        "incident": st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)).map(str),
        "holder": st.fixed_dictionaries(
            {"age": st.integers(16, 99)},
            optional={
                "since": maybe(st.dates().map(str)),
                "segment": maybe(st.sampled_from(["retail", "fleet"])),
                "score": maybe(st.floats(-5, 5)),
            },
        ),
    },
    optional={
        "region": maybe(st.sampled_from(["north", "south", "east-west"])),
        "amount": maybe(money),
        "ratio": maybe(st.floats(-1e6, 1e6)),
        "vehicles": maybe(st.integers(1, 9)),
        "night": maybe(st.booleans()),
        "policy_code": maybe(st.sampled_from(["P123", "P999", "Q1"])),
        "notes": maybe(st.lists(maybe(st.text(max_size=3)), max_size=3)),
        "scores": maybe(st.lists(maybe(st.floats(-1, 1)), max_size=3)),
        "parts": maybe(st.lists(parts, max_size=4)),
    },
)


def test_the_challenger_pipeline_shares_the_features() -> None:
    [_, whole] = PLAN.shadows
    assert whole.plan is not None
    assert shared_steps(PLAN, whole.plan) == 6  # the six features; its rules differ


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(claims, min_size=1, max_size=12))
def test_batch_record_and_shared_shadows_agree(records: list[dict[str, Any]]) -> None:
    batch = BATCH.run(frame_of(records, PLAN.schema)).to_dicts()
    for row, record in zip(batch, records, strict=True):
        one = RECORD.decide(record)
        output = one.output
        assert repr(output) == repr(RECOMPUTING.decide(record).output)
        diff = {k: (row[k], output[k]) for k in output if repr(row[k]) != repr(output[k])}
        assert not diff, f"batch vs record differ for {record}: {diff}"
        later = RECORD.decide(record, shadows=False)
        if later.values is not None:  # shadows run later, from the champion's values
            shadow_fields = RECORD.run_shadows(record, later.values)
            assert repr({**later.output, **shadow_fields}) == repr(
                {k: v for k, v in output.items() if k in later.output or k in shadow_fields}
            )
        assert [s.id for s in one.steps] == list(one.timings)
        assert [s.id for s in one.steps] == [n.id for n in PLAN.nodes][: len(one.steps)]


def test_a_record_missing_everything_optional() -> None:
    record = {"claim_id": "C1", "incident": "2025-01-01", "holder": {"age": 30}}
    out = RECORD.decide(record).output
    assert out["status"] == "decided"
    assert out["decision"] == "refer"  # large is unknown: amount is missing
    assert out["shadow.whole_v2.decision"] == out["shadow.lower_limit.decision"] == "refer"
    assert out["parts_cost"] is None and out["glass_parts"] is None
