"""Hostile expression text: deep nesting and long chains compile or are refused with a
code and location (never a RecursionError), and literal ranges are checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.compile.expr import ast
from kaskad.compile.expr.depth import KEPT_CHAIN, MAX_DEPTH
from kaskad.compile.expr.parser import ExprSyntaxError, parse
from kaskad.errors import SpecError
from tests.conftest import frame_of

SCHEMA = {"schema": "deep", "fields": {"id": {"type": "string", "key": True}, "x": "integer"}}


def write_pipeline(root: Path, exprs: dict[str, str]) -> Path:
    features = [{"name": name, "expr": text} for name, text in exprs.items()]
    (root / "schema.yaml").write_text(json.dumps(SCHEMA))
    (root / "features.yaml").write_text(
        json.dumps({"featureset": "f", "description": "deep", "features": features})
    )
    pipeline = {
        "pipeline": "deep",
        "input": "schema.yaml",
        "steps": [{"features": "features.yaml"}],
        "decision": [{"otherwise": "ok"}],
    }
    (root / "pipeline.yaml").write_text(json.dumps(pipeline))
    return root / "pipeline.yaml"


def problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        compile_pipeline(path)
    return [(p.code, p.render()) for p in info.value.problems]


@pytest.mark.slow
def test_long_chains_and_deep_parentheses_compile_and_run(tmp_path: Path) -> None:
    exprs = {
        "or400": " OR ".join(f"x = {i}" for i in range(400)),
        "and3000": " AND ".join(f"x != {i}" for i in range(3000)),
        "paren": "(" * 10_000 + "x" + ")" * 10_000,
        "nots": "NOT " * (MAX_DEPTH - 2) + "x = 1",
        "sum": " + ".join(["x"] * (MAX_DEPTH - 1)),
        "negs": "- " * (MAX_DEPTH - 1) + "x",
        "calls": "abs(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1),
        "cases": "CASE WHEN x > 0 THEN " * 99 + "1" + " ELSE 0 END" * 99,
    }
    plan = compile_pipeline(write_pipeline(tmp_path, exprs))
    recs = [{"id": "a", "x": 399}, {"id": "b", "x": 400}, {"id": "c", "x": None}]
    expected = [
        {"or400": True, "and3000": False, "paren": 399, "nots": False, "sum": 399 * 199},
        {"or400": False, "and3000": False, "paren": 400, "nots": False, "sum": 400 * 199},
        {"or400": None, "and3000": None, "paren": None, "nots": None, "sum": None},
    ]
    batch = BatchExecutor(plan).run(frame_of(recs, plan.schema)).to_dicts()
    record = RecordExecutor(plan)
    for rec, want, got in zip(recs, expected, batch, strict=True):
        one = record.decide(rec).output
        for name, value in want.items():
            assert one[name] == value and got[name] == value, (rec, name, one[name], got[name])
        assert one["negs"] == got["negs"] == (None if rec["x"] is None else -rec["x"])
        assert one["calls"] == got["calls"] == rec["x"]
        assert one["cases"] == got["cases"] == (0 if rec["x"] is None else 1)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("NOT " * 3000 + "x = 1", 4 * (3000 - MAX_DEPTH + 1) + 1),
        (" + ".join(["x"] * 5000), 1),
        ("- " * 5000 + "x", 2 * (5000 - MAX_DEPTH) + 1),
        ("(" * 1000 + "x" + " + 1)" * 1000, 1000 - MAX_DEPTH + 2),
    ],
)
def test_too_deep_is_refused_with_a_code_and_location(
    tmp_path: Path, text: str, column: int
) -> None:
    found = problems(write_pipeline(tmp_path, {"deep": text}))
    assert [code for code, _ in found] == ["K210"]
    rendered = found[0][1]
    assert f"limit {MAX_DEPTH} levels" in rendered
    assert "^" in rendered
    with pytest.raises(ExprSyntaxError) as info:
        parse(text)
    assert (info.value.code, info.value.line, info.value.column) == ("K210", 1, column)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("x + 9223372036854775808", 5, "out of the 64-bit range"),
        ("x = " + "7" * 5000, 5, "out of the 64-bit range"),
        ("x * 1e400", 5, "too large for a float"),
        ("x > 1" + "0" * 400 + ".5", 5, "too large for a float"),
    ],
)
def test_literal_out_of_range_is_refused(
    tmp_path: Path, text: str, column: int, message: str
) -> None:
    found = problems(write_pipeline(tmp_path, {"big": text}))
    assert [code for code, _ in found] == ["K211"]
    assert message in found[0][1]
    with pytest.raises(ExprSyntaxError) as info:
        parse(text)
    assert (info.value.code, info.value.column) == ("K211", column)


def test_literals_at_the_edges_of_the_range_compile(tmp_path: Path) -> None:
    exprs = {"top": "9223372036854775807 + 0 * x", "zeros": "00000000000000000000042 + x"}
    exprs["tiny"] = "1e-300 * x"
    exprs["huge"] = "1.7e308 + 0 * x"
    plan = compile_pipeline(write_pipeline(tmp_path, exprs))
    out = RecordExecutor(plan).decide({"id": "a", "x": 1}).output
    batch = BatchExecutor(plan).run(frame_of([{"id": "a", "x": 1}], plan.schema)).to_dicts()[0]
    expected = {"top": 2**63 - 1, "zeros": 43, "tiny": 1e-300, "huge": 1.7e308}
    assert {k: out[k] for k in expected} == expected
    assert {k: batch[k] for k in expected} == expected


def test_chains_up_to_the_kept_length_keep_their_shape() -> None:
    """Plans of existing pipelines (and so their hashes) do not change: a chain of up to
    KEPT_CHAIN operands is left as written; a longer one is rebalanced."""
    kept = parse(" OR ".join(f"x = {i}" for i in range(KEPT_CHAIN)))
    for _ in range(KEPT_CHAIN - 1):
        assert isinstance(kept, ast.Binary) and kept.op == "OR"
        kept = kept.left
    assert isinstance(kept, ast.Binary) and kept.op == "="
    grouped = parse("a AND (b AND c)")
    assert isinstance(grouped, ast.Binary) and isinstance(grouped.right, ast.Binary)
    longer = parse(" OR ".join(f"x = {i}" for i in range(KEPT_CHAIN + 1)))
    depth = 0
    while isinstance(longer, ast.Binary) and longer.op == "OR":
        longer, depth = longer.left, depth + 1
    assert depth <= KEPT_CHAIN.bit_length()  # logarithmic
