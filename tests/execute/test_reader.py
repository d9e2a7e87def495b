"""The compiled record reader gives exactly :func:`coerce_record`'s values and problems."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaskad import compile_pipeline
from kaskad.execute.contract import JsonNumber
from kaskad.execute.inputs import coerce_record
from kaskad.execute.reader import _closures, compile_reader
from kaskad.spec.schema import Schema, load_schema
from kaskad.spec.types import DType

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SCHEMAS = {
    name: compile_pipeline(HERE / name / "pipeline.yaml").schema
    for name in ("lean", "parity", "contract")
}
_credit, _ = load_schema(ROOT / "examples/credit/schemas/application.yaml", "application", [])
assert _credit is not None
SCHEMAS["credit"] = _credit  # lists of objects with dates, nested objects

junk = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            " 5 ",
            "12",
            "1.5",
            "true",
            "TRUE",
            "2024-02-30",
            "2024-02-29",
            "2024-01-01T10:00:00+03:00",
            "nan",
            "x",
            "P123",
            "PX",
            "AB12",
        ]
    ),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([JsonNumber("NaN"), JsonNumber("1e400"), Decimal("1.5"), Decimal("NaN")]),
    st.sampled_from([dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5), [], {}, [None]]),
    st.text(max_size=8),
)


def value_of(dtype: DType) -> st.SearchStrategy[Any]:
    """Mostly values of the type (often missing), sometimes anything."""
    kind = dtype.kind
    typed: st.SearchStrategy[Any]
    if kind == "object":
        typed = st.fixed_dictionaries(
            {}, optional={f.name: value_of(f.dtype) for f in dtype.fields}
        )
    elif kind == "list":
        assert dtype.item is not None
        typed = st.lists(st.one_of(st.none(), value_of(dtype.item)), max_size=3)
    elif kind == "category":
        typed = st.sampled_from(dtype.values)
    elif kind == "integer":
        typed = st.integers(-100, 100)
    elif kind == "float":
        typed = st.one_of(st.floats(-1e7, 1e7), st.integers(-10, 10))
    elif kind == "boolean":
        typed = st.booleans()
    elif kind == "date":
        typed = st.dates().map(lambda d: d.isoformat())
    elif kind == "datetime":
        typed = st.datetimes().map(lambda d: d.isoformat())
    else:
        typed = st.text(max_size=8)
    return st.one_of(st.none(), typed, typed, typed, junk)


def record_of(schema: Schema) -> st.SearchStrategy[Any]:
    fields = {f.name: value_of(f.dtype) for f in schema.fields}
    return st.one_of(st.fixed_dictionaries({}, optional=fields), junk)


def check(schema: Schema, record: Any) -> None:
    # repr: a NaN read from a field equals itself there
    want = repr(coerce_record(schema, record))
    assert repr(compile_reader(schema)(record)) == want
    assert repr(_closures(schema)(record)) == want  # what a schema too deep to compile gets


@pytest.mark.slow
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_reader_is_coerce_record(data: st.DataObject) -> None:
    for schema in SCHEMAS.values():
        check(schema, data.draw(record_of(schema)))


def test_a_clean_record_and_its_problems() -> None:
    schema = SCHEMAS["lean"]
    clean = {"claim_id": "C1", "incident": "2025-01-02", "holder": {"age": 40}, "amount": 5}
    values, problems = compile_reader(schema)(clean)
    assert problems == []
    assert values["amount"] == 5.0 and values["incident"] == dt.date(2025, 1, 2)
    bad = {**clean, "policy_code": "X9", "holder": {"age": 12}, "ratio": float("nan")}
    values, problems = compile_reader(schema)(bad)
    assert [(p.path, p.problem) for p in problems] == [
        ("policy_code", "no_match"),
        ("holder.age", "below_min"),
    ]
    assert values["ratio"] is None  # finite: false reads NaN as missing
    check(schema, bad)
