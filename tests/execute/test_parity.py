"""Differential tests: the batch and per-record executors give identical results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from tests.conftest import frame_of

HERE = Path(__file__).parent
PLAN = compile_pipeline(HERE / "parity" / "pipeline.yaml")
RECORD = RecordExecutor(PLAN)
BATCH = BatchExecutor(PLAN)

ODD_TEXT = [
    "",
    "a",
    "A",
    "a_b",
    "a%",
    "ß",
    "ẞ",
    "xσς",
    "ΣΣ",
    "ſ",
    "İ",
    "ǅ",
    " a ",
    "\ta\n",
    "b.",
    "x'y",
    "Σ",
    "aB",
    "ab",
]
ints = st.one_of(
    st.none(), st.sampled_from([0, 1, -1, 2, 5, -5, 100, 2**31 - 1]), st.integers(-(2**31), 2**31)
)
floats = st.one_of(
    st.none(),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, -1.0, 0.125, 2.675, 1e-300, 1e15, 100.0, 100.000001]),
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
)
texts = st.one_of(
    st.none(),
    st.sampled_from(ODD_TEXT),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=6),
)
cats = st.one_of(st.none(), st.sampled_from(["a", "b", "c d"]))
dates = st.one_of(
    st.none(),
    st.sampled_from([dt.date(2024, 2, 29), dt.date(1970, 1, 1)]),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
)
datetimes = st.one_of(
    st.none(),
    st.sampled_from([dt.datetime(2024, 1, 1, 12, 0, 0), dt.datetime(2024, 1, 1, 11, 0, 0)]),
    st.datetimes(dt.datetime(1950, 1, 1), dt.datetime(2090, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
)


def iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v


items = st.fixed_dictionaries(
    {
        "i": ints,
        "x": floats,
        "s": texts,
        "d": dates.map(iso),
        "ts": datetimes.map(iso),
        "c": cats,
    }
)
records = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=4),
        "i": ints,
        "j": ints,
        "x": floats,
        "y": floats,
        "s": texts,
        "t": texts,
        "c": cats,
        "b": st.one_of(st.none(), st.booleans()),
        "d": dates.map(iso),
        "e": dates.map(iso),
        "ts": datetimes.map(iso),
        "u": datetimes.map(iso),
        "tags": st.one_of(st.none(), st.lists(texts, max_size=4)),
        "o": st.one_of(
            st.none(), st.fixed_dictionaries({"i": ints, "x": floats, "s": texts, "c": cats})
        ),
        "items": st.one_of(
            st.none(), st.lists(items, max_size=6), st.lists(items, min_size=120, max_size=200)
        ),
    }
)


def check_same(batch: list[dict[str, Any]], recs: list[dict[str, Any]]) -> None:
    for got, rec in zip(batch, recs, strict=True):
        one = RECORD.decide(rec).output
        diff = {
            k: (got[k], one[k]) for k in one if got[k] != one[k] or type(got[k]) is not type(one[k])
        }
        assert not diff, f"batch vs record differ for {rec}: {diff}"


@pytest.mark.slow  # the edge records below stay in the quick loop
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=25))
def test_batch_and_record_executors_agree(recs: list[dict[str, Any]]) -> None:
    batch = BATCH.run(frame_of(recs, PLAN.schema)).to_dicts()
    check_same(batch, recs)


def test_agree_on_edge_records() -> None:
    recs = [
        {"id": "empty"},
        {"id": "empty-list", "items": []},
        {"id": "null-elements", "items": [{"i": None, "x": None, "s": None, "d": None, "c": None}]},
        {"id": "zeros", "i": 0, "j": 0, "x": 0.0, "y": 0.0, "s": "", "t": "", "b": False},
        {
            "id": "big",
            "i": 2**31,
            "j": -(2**31),
            "x": 1e9,
            "y": -1e-9,
            "o": {"x": 5.0},
            "items": [{"i": 3, "x": 1.5, "s": "a", "c": "a", "d": "2024-02-29"}] * 3,
        },
        {
            "id": "time",
            "ts": "2024-01-01T11:00:00",
            "u": "2024-01-01T12:00:00",
            "d": "2024-03-31",
            "s": "a",
            "tags": ["a", None],
            "items": [
                {"ts": "2024-01-01T11:00:00", "x": -0.0, "i": 1, "s": "a"},
                {"ts": "2024-01-01T10:59:59", "x": 0.0, "i": 1, "s": "a"},
                {"ts": "2024-01-01T12:00:00.000001", "x": None, "i": 1, "s": None},
            ],
        },
        {"id": "null-tag", "s": "b", "tags": ["a", None]},
    ]
    batch = BATCH.run(frame_of(recs, PLAN.schema)).to_dicts()
    check_same(batch, recs)


def test_empty_text_in_a_polars_frame_is_missing_as_for_one_record() -> None:
    """A frame built by the caller (not read from a file) keeps ``''`` in its String
    columns; the batch executor reads it as the contract does: missing."""
    recs: list[dict[str, Any]] = [
        {"id": "e1", "i": 1, "x": 2.0, "s": "", "t": "", "c": ""},
        {"id": "e2", "i": 2, "x": 0.5, "s": "", "t": "a", "c": "a"},
        {"id": "e3", "i": 3, "x": 1.0, "s": "ab", "t": "", "c": ""},
    ]
    frame = pl.DataFrame(
        recs,
        schema={
            "id": pl.String,
            "i": pl.Int64,
            "x": pl.Float64,
            "s": pl.String,
            "t": pl.String,
            "c": pl.String,
        },
    )
    check_same(BATCH.run(frame).to_dicts(), recs)
