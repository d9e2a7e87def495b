"""The names of result fields are spelled once (kaskad.compile.naming) and agree with the
spec's types and keys that spell the same values."""

from __future__ import annotations

from pathlib import Path

from kaskad.compile import naming
from kaskad.compile.expr.functions import AGGREGATES, FUNCTION_TABLE, FUNCTIONS, SPECIAL
from kaskad.spec.rules import ON_MISSING
from kaskad.spec.types import OUTCOME, STRING_LIST, DType


def test_rule_outcomes_agree_with_the_spec() -> None:
    outcomes = {naming.HIT, naming.PASS, naming.UNKNOWN}
    assert outcomes == set(OUTCOME.values) == set(ON_MISSING)


def test_shadow_fields_are_decision_reasons_outputs_and_error() -> None:
    fields = naming.shadow_fields("v2", [("pd", DType("float"))])
    assert fields == [
        ("shadow.v2.decision", DType("string")),
        ("shadow.v2.reasons", STRING_LIST),
        ("shadow.v2.pd", DType("float")),
        ("shadow.v2.error", DType("string")),
    ]
    assert all(name.startswith(naming.shadow_prefix("v2")) for name, _ in fields)


def test_every_function_name_is_known_once() -> None:
    assert (
        len(FUNCTIONS)
        == len(set(FUNCTIONS))
        == len(FUNCTION_TABLE) + len(AGGREGATES) + len(SPECIAL)
    )
    for name, func in FUNCTION_TABLE.items():
        assert func.name == name and 1 <= func.min_args <= func.max_args


def test_every_function_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "language.md").read_text()
    section = docs.split("## Functions", 1)[1].split("\n## ", 1)[0].lower()
    assert [n for n in FUNCTION_TABLE if f"`{n}(" not in section and f" {n}(" not in section] == []
