"""The ids of the rules (or table rows) that hit, in order, from per-row flags: by a
table of every possible list up to ten flags, by joined text past that; both as a
plain loop over the flags gives them, NULL flags not counting."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kaskad.execute.semantics import _LISTED, ids_where


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, _LISTED + 3).flatmap(
        lambda k: st.lists(
            st.lists(st.one_of(st.none(), st.booleans()), min_size=k, max_size=k), max_size=40
        ).map(lambda rows: (k, rows))
    )
)
def test_the_ids_whose_flag_is_true_in_order(case: tuple[int, list[list[bool | None]]]) -> None:
    k, rows = case
    ids = [f"rule_{i}" for i in range(k)]
    frame = pl.DataFrame(
        {rid: pl.Series([r[i] for r in rows], dtype=pl.Boolean) for i, rid in enumerate(ids)},
        schema={rid: pl.Boolean for rid in ids},
    )
    got = frame.select(ids_where([(rid, pl.col(rid)) for rid in ids]).alias("hits"))
    expected = [[rid for rid, flag in zip(ids, r, strict=True) if flag is True] for r in rows]
    assert got.get_column("hits").to_list() == expected
    assert got.schema["hits"] == pl.List(pl.String)
