"""A number with thousands of digits is refused as out of range on every path (JSON, text,
CSV) instead of crashing (Python refuses ``int()`` of more than 4,300 digits)."""

from __future__ import annotations

from pathlib import Path

from kaskad import RecordExecutor, compile_pipeline
from kaskad.execute.contract import JsonNumber, loads
from kaskad.io.sources import open_source
from tests.compile.test_limits import write_pipeline

DIGITS = "7" * 5000


def test_json_number_with_5000_digits_is_kept_as_text() -> None:
    value = loads('{"x": ' + DIGITS + ', "y": -' + DIGITS + ', "z": 0000}'.replace("0000", "0"))
    assert isinstance(value["x"], JsonNumber) and value["x"] == DIGITS
    assert value["y"] == "-" + DIGITS and value["z"] == 0


def test_5000_digit_integer_is_rejected_with_a_field_problem(tmp_path: Path) -> None:
    plan = compile_pipeline(write_pipeline(tmp_path, {"f": "x + 1"}))
    executor = RecordExecutor(plan)
    for raw in (loads('{"id": "a", "x": ' + DIGITS + "}"), {"id": "a", "x": DIGITS}):
        decision = executor.decide(raw)
        assert decision.output["status"] == "rejected"
        assert [(p.path, p.problem) for p in decision.problems] == [("x", "out_of_range")]
    assert executor.decide({"id": "a", "x": 2**63 - 1}).output["status"] != "rejected"


def test_5000_digit_integer_in_csv_is_an_unread_record(tmp_path: Path) -> None:
    plan = compile_pipeline(write_pipeline(tmp_path, {"f": "x + 1"}))
    path = tmp_path / "big.csv"
    path.write_text(f"id,x\na,{DIGITS}\nb,5\n")
    chunks = list(open_source(path, plan.schema).read_chunks())
    unread = [u for chunk in chunks for u in chunk.unread]
    assert [(u.line, [(p.path, p.problem) for p in u.problems]) for u in unread] == [
        (2, [("x", "out_of_range")])
    ]
    assert sum(chunk.frame.height for chunk in chunks) == 1  # the readable record
