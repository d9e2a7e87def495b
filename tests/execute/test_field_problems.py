"""Input problems are values: validation gives FieldProblems, text only at the edges."""

from __future__ import annotations

from pathlib import Path

from kaskad.compile.compiler import compile_pipeline
from kaskad.errors import FieldProblem
from kaskad.execute.inputs import coerce_record
from kaskad.execute.record import RecordExecutor


def test_record_problems_are_values_rendered_as_the_messages(example_dir: Path) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    _, problems = coerce_record(plan.schema, {"channel": "fax", "amount": "a lot"})
    by_path = {p.path: p for p in problems}
    assert by_path["channel"] == FieldProblem(
        "channel", "not_allowed", "one of the schema's allowed values", "'fax'"
    )
    assert by_path["channel"].message == "channel: 'fax' is not an allowed value"
    assert by_path["amount"].problem == "wrong_type"
    assert by_path["amount"].message == "amount: expected float, got text 'a lot'"
    assert by_path["application_id"].message == "application_id: required field is missing"
    decision = RecordExecutor(plan).decide({"channel": "fax", "amount": "a lot"})
    assert decision.problems == tuple(problems)
    assert decision.output["errors"] == [p.message for p in problems]
    _, [whole] = coerce_record(plan.schema, [1])
    assert whole.path is None and whole.message.startswith("the input must be an object")
