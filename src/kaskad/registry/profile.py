"""Fingerprints and per-column profiles of training data: the reference for later drift
monitoring, and proof of which data a model was trained on."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import polars as pl

from kaskad.errors import InputError
from kaskad.io.files import file_format

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
TOP_VALUES = 20


def read_table(path: Path) -> pl.DataFrame:
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            return pl.read_parquet(path)
        if fmt == "jsonl":
            return pl.read_ndjson(path)
        return pl.read_csv(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot read training data: {exc}") from exc


def fingerprint(data: Path | pl.DataFrame) -> tuple[dict[str, Any], pl.DataFrame]:
    """``{"sha256", "rows", "columns", "profile"}`` of a file or frame, and the frame."""
    if isinstance(data, Path):
        digest = hashlib.sha256()
        with data.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        frame = read_table(data)
        source: str | None = str(data)
    else:
        frame = data
        buffer = io.BytesIO()
        frame.write_ipc(buffer)
        digest = hashlib.sha256(buffer.getvalue())
        source = None
    return {
        "sha256": digest.hexdigest(),
        "source": source,
        "rows": frame.height,
        "columns": frame.columns,
        "profile": {name: profile_column(frame.get_column(name)) for name in frame.columns},
    }, frame


def profile_column(series: pl.Series) -> dict[str, Any]:
    """Null count and either numeric summaries with quantiles or the most common values
    (none for a text column whose every value is distinct: an identifier)."""
    out: dict[str, Any] = {
        "type": str(series.dtype),
        "count": series.len(),
        "nulls": series.null_count(),
    }
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        values = series.cast(pl.Float64).drop_nulls().drop_nans()
        if values.len():
            out.update(
                min=float(values.min()),  # type: ignore[arg-type]
                max=float(values.max()),  # type: ignore[arg-type]
                mean=float(values.mean()),  # type: ignore[arg-type]
                std=float(values.std() or 0.0),  # type: ignore[arg-type]
                quantiles={str(q): float(values.quantile(q, "linear") or 0.0) for q in QUANTILES},
            )
        return out
    if series.dtype in (pl.String, pl.Categorical, pl.Enum):
        present = series.drop_nulls()
        out["distinct"] = present.n_unique()
        if out["distinct"] == present.len() > TOP_VALUES:
            # every value once: an identifier, whose "most common values" are only ids
            out["identifier"] = True
            return out
        counts = present.cast(pl.String).value_counts(sort=True).head(TOP_VALUES)
        out["top"] = {str(row[0]): int(row[1]) for row in counts.iter_rows()}
    return out
