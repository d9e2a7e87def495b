"""A served pipeline counts decision-table rules in its rule metrics (TABLE.RULE_ID)."""

from __future__ import annotations

from pathlib import Path

from kaskad import compile_pipeline
from kaskad.serve.pipelines import ServedPipeline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tables" / "pipeline.yaml"


def test_table_rules_are_observed_per_decision() -> None:
    served = ServedPipeline("claims", compile_pipeline(EXAMPLE), None)
    assert "triage.large" in served.rule_columns and "tags.r3" in served.rule_columns
    result = served.decide({"claim_id": "c", "amount": 20000.0, "kind": "auto"})
    assert result.rules["triage.large"] == "pass"
    assert result.rules["triage.r2"] == "unknown"  # age is missing
    assert result.rules["tags.r3"] == "hit"  # region is missing: the 'null' test matches
    assert result.body["triage.unknown"] == ["r2"]
