"""A table step in the plan: JSON round trip, a hash that does not depend on the folder,
the trace of one decision, per-rule counts in run summaries and backtests."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.backtest.run import backtest
from kaskad.batch.summary import SummaryBuilder
from kaskad.compile.serial import plan_from_json, plan_to_json
from kaskad.execute.explain import explain

FIXTURE = Path(__file__).parents[2] / "examples" / "tables"
RECORDS = [
    {"claim_id": "a", "age": 30, "amount": 200000.0, "kind": "auto", "region": "north",
     "prior_claims": 0, "flagged": True},
    {"claim_id": "b", "age": 20, "amount": 20000.0, "kind": "auto", "prior_claims": 2},
    {"claim_id": "c", "amount": 20000.0, "kind": "auto", "region": "x", "flagged": False},
    {"claim_id": "d", "age": 40, "amount": 500.0, "kind": "home"},
]  # fmt: skip
SCHEMA = {
    "claim_id": pl.String, "age": pl.Int64, "amount": pl.Float64, "kind": pl.String,
    "region": pl.String, "prior_claims": pl.Int64, "flagged": pl.Boolean,
}  # fmt: skip


def test_plan_round_trips_and_hash_ignores_the_folder(tmp_path: Path) -> None:
    plan = compile_pipeline(FIXTURE / "pipeline.yaml")
    assert plan_from_json(plan_to_json(plan)) == plan
    copy = tmp_path / "elsewhere"
    shutil.copytree(FIXTURE, copy)
    assert compile_pipeline(copy / "pipeline.yaml").hash == plan.hash
    (copy / "tables" / "bonus.csv").write_text(
        (copy / "tables" / "bonus.csv").read_text().replace(",5,", ",6,")
    )
    assert compile_pipeline(copy / "pipeline.yaml").hash != plan.hash  # the CSV is content


def test_trace_shows_matched_and_unknown_rules() -> None:
    plan = compile_pipeline(FIXTURE / "pipeline.yaml")
    decision = RecordExecutor(plan).decide(RECORDS[2])
    steps = {s["id"]: s for s in explain(plan, decision)["trace"]["steps"]}
    triage = steps["triage"]
    assert triage["kind"] == "table"
    assert triage["component"]["name"] == "triage"
    assert triage["table"]["hit_policy"] == "FIRST"
    assert [(r["id"], r["matched"]) for r in triage["table"]["rules"]] == [
        ("large", False),
        ("r2", None),  # age is missing: unknown
        ("r3", False),
    ]
    assert triage["outputs"]["triage.action"] is None
    assert triage["outputs"]["triage.unknown"] == ["r2"]


def test_run_summary_counts_each_table_rule() -> None:
    plan = compile_pipeline(FIXTURE / "pipeline.yaml")
    result = BatchExecutor(plan).run(pl.DataFrame(RECORDS, schema=SCHEMA))
    builder = SummaryBuilder(plan, "input", "output")
    builder.add(result)
    rules = builder.finish().rules
    assert rules["triage.large"] == {"hit": 1, "pass": 3, "unknown": 0}
    assert rules["triage.r2"] == {"hit": 1, "pass": 2, "unknown": 1}
    assert rules["bonus.r1"] == {"hit": 1, "pass": 3, "unknown": 0}
    assert rules["tags.r3"] == {"hit": 2, "pass": 2, "unknown": 0}
    assert rules["tags.r1"] == {"hit": 1, "pass": 1, "unknown": 2}


def test_backtest_compares_table_rules(tmp_path: Path) -> None:
    baseline = compile_pipeline(FIXTURE / "pipeline.yaml")
    copy = tmp_path / "candidate"
    shutil.copytree(FIXTURE, copy)
    triage = copy / "tables" / "triage.yaml"
    triage.write_text(triage.read_text().replace('">= 100000"', '">= 10000"'))
    candidate = compile_pipeline(copy / "pipeline.yaml")
    result = backtest(baseline, candidate, [pl.DataFrame(RECORDS, schema=SCHEMA)])
    rates = {r.column: r for r in result.rules}
    large = rates["triage.large"]
    assert large.ruleset == "triage" and large.definition_changed
    assert large.baseline is not None and large.baseline.hit == 1
    assert large.candidate is not None and large.candidate.hit == 3
    assert large.rows_changed == 2


def test_a_refused_record_fails_alone_and_gets_the_step_fallback(tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "band.yaml").write_text(
        "table: band\ninputs:\n  - {id: age, expr: age}\noutputs:\n  - {id: band, type: string}\n"
        "rules:\n  - when: ['< 30']\n    then: [\"'young'\"]\n"
        "  - when: ['[25..60]']\n    then: [\"'middle'\"]\n"
    )
    (tmp_path / "pipeline.yaml").write_text(
        f"pipeline: p\ninput: {FIXTURE / 'schema.yaml'}\nsteps:\n"
        "  - table: tables/band.yaml\n    on_error: {outcome: manual_review, reason: ambiguous}\n"
        "decision:\n  - when: band.band = 'young'\n    outcome: young\n  - otherwise: other\n"
    )
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    records = [{"claim_id": str(age), "age": age} for age in (20, 27, 40)]
    batch = BatchExecutor(plan).run(pl.DataFrame(records)).to_dicts()
    single = [RecordExecutor(plan).decide(r).output for r in records]
    assert batch == single
    assert [r["status"] for r in batch] == ["decided", "failed", "decided"]
    assert [r["decision"] for r in batch] == ["young", "manual_review", "other"]
    assert batch[1]["errors"] == [
        "table band: TableHitError: K227 rules r1, r2 all match, and the hit policy UNIQUE "
        "allows one"
    ]
    assert batch[1]["reasons"] == ["ambiguous"]
