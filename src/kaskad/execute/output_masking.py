"""Masking what outputs echo of the input: the schema's top-level ``sensitive: true``
fields that appear as output columns (a sensitive key field, echoed so rows can be joined
back) are replaced by their digest, keyed HMAC as in serving (:mod:`kaskad.execute.masking`).

Used by ``kaskad run`` (the output and the rejects file), ``kaskad decide`` (its result
and trace) and ``kaskad backtest`` (its per-record output); the policy is in
docs/security.md. Digest columns are text: a masked integer key becomes
``hmac-sha256:KEY_ID:<hex>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from kaskad.execute.masking import MaskingKey, digest_of
from kaskad.spec.schema import Schema


def echoed_sensitive(schema: Schema, columns: Iterable[str]) -> tuple[str, ...]:
    """The sensitive input fields among ``columns`` (output column names), in order."""
    sensitive = {f.name for f in schema.fields if f.sensitive}
    return tuple(c for c in columns if c in sensitive)


@dataclass(frozen=True)
class OutputMasking:
    """Which output columns to mask, and with which key (None: unkeyed sha256)."""

    columns: tuple[str, ...]
    key: MaskingKey | None = None

    def schema(self, output_schema: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
        """``output_schema`` with the masked columns as text."""
        return {
            name: (pl.String() if name in self.columns else dtype)
            for name, dtype in output_schema.items()
        }

    def frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the masked columns' values replaced by their digests (missing
        values stay missing)."""
        digest = digest_of(self.key)
        present = [c for c in self.columns if c in frame.columns]
        if not present:
            return frame
        return frame.with_columns(
            pl.Series(name, [None if v is None else digest(v) for v in frame[name].to_list()])
            .cast(pl.String)
            .alias(name)
            for name in present
        )

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One result row (a dict) with the masked columns' values replaced."""
        digest = digest_of(self.key)
        return {
            name: (digest(value) if name in self.columns and value is not None else value)
            for name, value in row.items()
        }
