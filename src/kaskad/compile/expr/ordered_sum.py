"""Sums of float lists added strictly left to right, for the batch executor.

The per-record executor adds a list's values in order: the first value, then each next
one added to the total (``((a + b) + c) + …``). Floating-point addition is not
associative, so the batch executor must add in the same order to give the same bits.
Polars' own ``sum`` switches to blocked summation on long lists, and a running
``cum_sum().last()`` inside ``list.agg`` is exact but slow (a new list per row). Here
the additions are vectorised across rows instead: step ``j`` adds every row's ``j``-th
value at once, over the rows that have one. The work is the number of values plus a few
NumPy calls per step of the longest list.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def ordered_sums(lists: pl.Series, mean: bool = False) -> pl.Series:
    """Per row of ``lists`` (a list of floats, a NULL element not counted): the values
    added left to right, or their mean with ``mean``. A NULL list gives NULL; a list
    without values gives 0.0 (a sum) or NULL (a mean)."""
    sizes = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = lists.explode(empty_as_null=False, keep_nulls=False)  # elements of non-NULL lists
    values = flat.drop_nulls().to_numpy().astype(np.float64, copy=False)  # those that count
    # values per row: counted elements up to each row's end, less those before its start
    counted = np.concatenate(([0], np.cumsum(flat.is_not_null().to_numpy(), dtype=np.int64)))
    ends = np.cumsum(sizes)
    starts = counted[ends - sizes]  # each row's first value in ``values``
    lengths = counted[ends] - starts

    total = np.zeros(len(sizes), dtype=np.float64)
    rows = np.flatnonzero(lengths)  # the rows with a j-th value, fewer at each step
    j = 0
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN, as in Python
        while rows.size:
            if j == 0:
                total[rows] = values[starts[rows]]  # the first value itself
            else:  # one addition per row: the total so far plus its j-th value
                total[rows] += values[starts[rows] + j]
            j += 1
            rows = rows[lengths[rows] > j]

    missing = lists.is_null().to_numpy()
    if mean:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            result = total / lengths
        missing = missing | (lengths == 0)
    else:
        result = total
    out = pl.Series(lists.name, result, dtype=pl.Float64)
    return out.scatter(np.flatnonzero(missing), None) if missing.any() else out
