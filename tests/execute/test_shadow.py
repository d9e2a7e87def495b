"""Shadow challengers see the same input, never change the decision, never fail it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from tests.conftest import frame_of

FILES = {
    "schema.yaml": """\
        schema: s
        fields:
          id: {type: string, required: true, key: true}
          amount: float
        """,
    "rules.yaml": """\
        ruleset: limits
        description: champion limits
        rules:
          - {id: large, description: Large amount, when: amount > 1000}
        """,
    "strict.yaml": """\
        ruleset: strict_limits
        description: challenger limits
        rules:
          - {id: large, description: Large amount (lower threshold), when: amount > 100}
        """,
    "failing.py": """\
        import numpy as np
        from kaskad import feature

        @feature(returns="float")
        def boom(amount):
            if np.nanmax(amount) > 5000:
                raise ValueError("challenger feature exploded")
            return amount
        """,
    "challenger.yaml": """\
        pipeline: challenger
        input: schema.yaml
        steps:
          - features: failing.py
        decision:
          - {when: boom > 10, outcome: review}
          - otherwise: approve
        """,
    "pipeline.yaml": """\
        pipeline: champion
        input: schema.yaml
        steps:
          - rules: rules.yaml
        decision:
          - {when: limits.any_hit, outcome: review, reason: large}
          - otherwise: approve
        shadow:
          - {name: strict, rules: strict.yaml, replaces: limits}
          - {name: fragile, pipeline: challenger.yaml}
        """,
}

RECORDS = [
    {"id": "a", "amount": 50.0},
    {"id": "b", "amount": 500.0},
    {"id": "c", "amount": 9000.0},
    {"id": "d"},
]


def build(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path / "pipeline.yaml"


def test_rules_shadow_is_kept_apart_from_the_decision(tmp_path: Path) -> None:
    plan = compile_pipeline(build(tmp_path))
    rows = BatchExecutor(plan).run(frame_of(RECORDS, plan.schema)).to_dicts()
    assert [r["decision"] for r in rows] == ["approve", "approve", "review", "approve"]
    assert [r["shadow.strict.decision"] for r in rows] == ["approve", "review", "review", "approve"]
    assert [r["shadow.strict.limits.large"] for r in rows] == ["pass", "hit", "hit", "unknown"]
    assert all(r["shadow.strict.error"] is None for r in rows)


def test_failing_challenger_leaves_champion_unchanged_and_records_error(tmp_path: Path) -> None:
    path = build(tmp_path)
    plan = compile_pipeline(path)
    alone = tmp_path / "alone.yaml"
    alone.write_text(path.read_text().split("shadow:")[0])
    baseline = BatchExecutor(compile_pipeline(alone)).run(frame_of(RECORDS, plan.schema))
    batch = BatchExecutor(plan).run(frame_of(RECORDS, plan.schema)).to_dicts()
    assert [r["decision"] for r in batch] == baseline.get_column("decision").to_list()
    record = RecordExecutor(plan)
    outputs = [record.decide(r).output for r in RECORDS]
    assert [o["decision"] for o in outputs] == baseline.get_column("decision").to_list()
    errors = [o["shadow.fragile.error"] for o in outputs]
    # the challenger pipeline fails for the record it fails for, in batch too
    assert [r["shadow.fragile.error"] for r in batch] == errors
    assert [r["shadow.fragile.decision"] for r in batch] == [
        o["shadow.fragile.decision"] for o in outputs
    ]
    assert errors[2] is not None and "challenger feature exploded" in errors[2]
    assert errors[0] is None and outputs[0]["shadow.fragile.decision"] == "review"


def test_deferred_challengers_give_the_same_rows_as_inline(tmp_path: Path) -> None:
    plan = compile_pipeline(build(tmp_path))
    records = [*RECORDS, {"amount": 10.0}]  # no id: rejected
    frame = frame_of(records, plan.schema)
    executor = BatchExecutor(plan)
    inline = executor.run(frame).to_dicts()
    champion, later = executor.run_deferred(frame)
    assert later is not None
    assert not [c for c in champion.columns if c.startswith("shadow.")]
    shadow_rows = later()
    assert shadow_rows[-1] is None  # the rejected record has no challenger run
    assert inline[-1]["status"] == "rejected"
    for full, head, shadow in zip(inline, champion.to_dicts(), shadow_rows, strict=True):
        champion_only = {k: v for k, v in full.items() if not k.startswith("shadow.")}
        assert head == champion_only
        if shadow is not None:
            assert {**head, **shadow} == full
