"""Rejected records in a batch run: unreadable records placed back among the results,
the rejects file, and the limit (``--max-rejected``) past which a run fails.

A record that cannot be read (:class:`~kaskad.io.reading.Unread`) or is invalid becomes
a result row with status ``rejected`` and its problems in ``errors`` (an unreadable one
prefixed by its line or row: ``line 17: amount: expected float, got text 'x'``); the run
goes on. With a rejects file those rows go there instead of into the output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from kaskad.errors import InputError
from kaskad.io.reading import Chunk

__all__ = [
    "REJECTED",
    "RejectLimit",
    "TooManyRejectedError",
    "rejects_schema",
    "split_rejected",
    "with_unread",
]

REJECTED = "rejected"
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


class TooManyRejectedError(InputError):
    """More records were rejected than ``--max-rejected`` allows; the run wrote nothing."""

    code = "K710"


@dataclass(frozen=True)
class RejectLimit:
    """At most ``count`` rejected records, or at most ``percent`` % of the records read."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> RejectLimit:
        """``10`` (records) or ``0.5%`` (of the records read)."""
        found = _LIMIT.match(text)
        if found is None:
            raise InputError(
                f"--max-rejected {text!r}: give a number of records (10) or a percentage (0.5%)"
            )
        number, percent = found.groups()
        if percent:
            value = float(number)
            if value > 100:
                raise InputError(f"--max-rejected {text!r}: a percentage is at most 100%")
            return cls(percent=value)
        if "." in number:
            raise InputError(f"--max-rejected {text!r}: a number of records is a whole number")
        return cls(count=int(number))

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else str(self.count)

    def check(self, rejected: int, records: int, final: bool) -> None:
        """Raise :class:`TooManyRejectedError` when ``rejected`` of ``records`` is past the
        limit; a percentage is checked only on the ``final`` count."""
        over = (self.count is not None and rejected > self.count) or (
            final and self.percent is not None and rejected * 100 > self.percent * records
        )
        if over:
            raise TooManyRejectedError(
                f"{rejected:,} of {records:,} records{' so far' if not final else ''} were "
                f"rejected, more than --max-rejected {self} allows; nothing was written"
            )


def with_unread(
    result: pl.DataFrame, chunk: Chunk, output_schema: Mapping[str, pl.DataType], first: int
) -> pl.DataFrame:
    """``result`` (the decided chunk's rows) with a ``rejected`` row for each record of
    ``chunk`` that could not be read, in the input's order; every rejected row's errors
    say where its record is (``line 17: ...``; ``first`` is the input index of the
    chunk's first record)."""
    result = _placed(result, chunk, first)
    if not chunk.unread:
        return result
    at = {u.position for u in chunk.unread}
    order = [i for i in range(chunk.records) if i not in at]
    keys = sorted({k for u in chunk.unread for k, _ in u.keys})
    rejected = pl.DataFrame(
        {
            "status": [REJECTED] * len(chunk.unread),
            "errors": [u.messages(chunk.origin) for u in chunk.unread],
            "__pos": [u.position for u in chunk.unread],
            **{k: [dict(u.keys).get(k) for u in chunk.unread] for k in keys},
        },
        schema={
            "status": pl.String,
            "errors": pl.List(pl.String),
            "__pos": pl.Int64,
            **{k: output_schema[k] for k in keys},
        },
    )
    rejected = rejected.select(
        pl.col("__pos"),
        *[
            (pl.col(n) if n in rejected.columns else pl.lit(None)).cast(d).alias(n)
            for n, d in output_schema.items()
        ],
    )
    decided = result.with_columns(pl.Series("__pos", order, dtype=pl.Int64))
    combined = pl.concat([decided.select(rejected.columns), rejected])
    return combined.sort("__pos").drop("__pos")


def _placed(result: pl.DataFrame, chunk: Chunk, first: int) -> pl.DataFrame:
    """``result`` (one row per readable record) with its rejected rows' errors prefixed
    by their place in the input."""
    rejected = result.get_column("status") == REJECTED
    if not rejected.any():
        return result
    at = {u.position for u in chunk.unread}
    positions = [i for i in range(chunk.records) if i not in at]
    errors = result.get_column("errors").to_list()
    for row in rejected.arg_true().to_list():
        place = chunk.place(positions[row], first)
        errors[row] = [f"{place}: {e}" for e in errors[row] or []]
    return result.with_columns(pl.Series("errors", errors, dtype=pl.List(pl.String)))


def rejects_schema(output_schema: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """The rejects file's columns: the record's index in the input (0-based), the output's
    key fields, and ``errors``."""
    names = list(output_schema)
    keys = names[: names.index("status")]  # the key fields come first in a result row
    return {
        "record": pl.Int64(),
        **{k: output_schema[k] for k in keys},
        "errors": pl.List(pl.String),
    }


def split_rejected(
    result: pl.DataFrame, first: int, schema: Mapping[str, pl.DataType]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``result`` without its rejected rows, and those rows with the rejects file's
    ``schema`` (``first`` is the input index of ``result``'s first row)."""
    indexed = result.with_row_index("record", offset=first)
    is_rejected = pl.col("status") == REJECTED
    kept = indexed.filter(~is_rejected).drop("record")
    rejected = indexed.filter(is_rejected).select([pl.col(n).cast(d) for n, d in schema.items()])
    return kept, rejected
