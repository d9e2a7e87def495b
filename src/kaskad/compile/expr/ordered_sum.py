"""Sums of float lists added strictly left to right, for the batch executor.

The per-record executor adds a list's values in order: the first value, then each next
one added to the total (``((a + b) + c) + …``). Floating-point addition is not
associative, so the batch executor must add in the same order to give the same bits.
Polars' own ``sum`` switches to blocked summation on long lists, and a running
``cum_sum().last()`` inside ``list.agg`` is exact but slow (a new list per row). Here
the additions are vectorised across rows instead: step ``j`` adds every row's ``j``-th
value at once, rows sorted by length so that each step touches only the rows that long.
The work is the number of values plus one NumPy call per step of the longest list.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def ordered_sums(lists: pl.Series, mean: bool = False) -> pl.Series:
    """Per row of ``lists`` (a list of floats, a NULL element not counted): the values
    added left to right, or their mean with ``mean``. A NULL list gives NULL; a list
    without values gives 0.0 (a sum) or NULL (a mean)."""
    rows = lists.len()
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = lists.explode(empty_as_null=False, keep_nulls=False)  # values of non-NULL lists
    values = flat.fill_null(0.0).to_numpy().astype(np.float64, copy=False)
    counts_value = flat.is_not_null().to_numpy()
    starts = np.cumsum(lengths) - lengths

    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    sorted_starts = starts[order]
    total = np.zeros(rows, dtype=np.float64)  # in sorted order
    count = np.zeros(rows, dtype=np.int64)
    longest = int(sorted_lengths[0]) if rows else 0
    # rows longer than j: a prefix of the sorted rows, shorter at each step
    active = np.searchsorted(-sorted_lengths, -np.arange(longest), side="left")
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN, as in Python
        for j in range(longest):
            m = int(active[j])
            at = sorted_starts[:m] + j
            present = counts_value[at]
            value = values[at]
            first = present & (count[:m] == 0)
            later = present & ~first
            head = total[:m]
            head[later] += value[later]  # one addition per row: the total so far plus this
            head[first] = value[first]
            count[:m] += present

    out_total = np.empty(rows, dtype=np.float64)
    out_count = np.empty(rows, dtype=np.int64)
    out_total[order] = total
    out_count[order] = count
    null_list = lists.is_null().to_numpy()
    if mean:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            result = out_total / out_count
        missing = null_list | (out_count == 0)
    else:
        result = out_total
        missing = null_list
    return pl.Series(lists.name, result, dtype=pl.Float64).scatter(np.flatnonzero(missing), None)
