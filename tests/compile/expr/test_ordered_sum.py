"""Float lists summed strictly left to right in batch, bit for bit as the per-record
executor adds them (first value, then each next one added to the total)."""

from __future__ import annotations

import struct
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaskad.compile.expr.ordered_sum import ordered_sums

values = st.one_of(
    st.none(),
    st.sampled_from([0.0, -0.0, 0.1, 0.2, 0.3, 1e16, -1e16, 1.0, 2.675]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
lists = st.one_of(
    st.none(),
    st.lists(values, max_size=8),
    st.lists(values, min_size=120, max_size=300),  # where Polars' own sum goes blocked
)


def left_to_right(items: list[float | None] | None, mean: bool) -> float | None:
    if items is None:
        return None
    present = [v for v in items if v is not None]
    if not present:
        return None if mean else 0.0
    total = present[0]
    for v in present[1:]:
        total = total + v
    return total / len(present) if mean else total


def bits(v: Any) -> Any:
    return None if v is None else struct.pack("<d", v)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(lists, max_size=30), st.booleans())
def test_sums_and_means_are_bit_identical_to_adding_in_order(
    rows: list[list[float | None] | None], mean: bool
) -> None:
    series = pl.Series("v", rows, dtype=pl.List(pl.Float64))
    got = ordered_sums(series, mean).to_list()
    assert [bits(v) for v in got] == [bits(left_to_right(r, mean)) for r in rows]


def test_a_null_list_an_empty_one_and_one_without_values() -> None:
    series = pl.Series("v", [None, [], [None, None], [-0.0], [0.1, None, 0.2, 0.3]])
    assert [bits(v) for v in ordered_sums(series).to_list()] == [
        None,
        bits(0.0),
        bits(0.0),
        bits(-0.0),  # the first value itself, not 0.0 + -0.0
        bits(0.6000000000000001),
    ]
    assert ordered_sums(series, mean=True).to_list()[:3] == [None, None, None]


def test_a_sliced_series_keeps_its_rows() -> None:
    series = pl.Series("v", [[1.0], [2.0, 3.0], [4.0], None, [5.0, 6.0, 7.0]]).slice(1, 4)
    assert ordered_sums(series).to_list() == [5.0, 4.0, None, 18.0]
