"""Whole files: reading one into a single frame with the schema's types, and writing one
safely. ``kaskad run`` streams instead (:mod:`kaskad.batch.sources`, :mod:`kaskad.batch.sinks`);
these serve callers that hold a whole frame (golden cases, tests, benchmarks)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from kaskad.batch.sinks import csv_ready
from kaskad.batch.sources import FORMATS, file_format
from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import InputError
from kaskad.spec.schema import Schema

__all__ = [
    "FORMATS",
    "OutputWriter",
    "chunks",
    "file_format",
    "frame_from_records",
    "read_input",
]


def read_input(path: Path, schema: Schema) -> pl.DataFrame:
    """Read a CSV, Parquet or JSON Lines file with the schema's column types."""
    fmt = file_format(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    types = {f.name: to_polars_dtype(f.dtype) for f in schema.fields}
    try:
        if fmt == "parquet":
            return pl.read_parquet(path)
        if fmt == "jsonl":
            return pl.read_ndjson(path, schema=types)
        nested = [f.name for f in schema.fields if f.dtype.kind in ("object", "list")]
        header = pl.read_csv(path, n_rows=0).columns
        if present := [n for n in nested if n in header]:
            raise InputError(
                f"{path}: CSV cannot hold nested fields ({', '.join(present)}); "
                "use JSON Lines or Parquet"
            )
        flat = {k: v for k, v in types.items() if k not in nested and k in header}
        return pl.read_csv(path, schema_overrides=flat)
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as {fmt}: {exc}") from exc


def frame_from_records(records: list[dict[str, Any]], schema: Schema) -> pl.DataFrame:
    """JSON-like records as a frame, parsed exactly as a JSON Lines file would be."""
    types = {f.name: to_polars_dtype(f.dtype) for f in schema.fields}
    text = "\n".join(json.dumps(r, default=str) for r in records).encode()
    if not records:
        return pl.DataFrame(schema=types)
    return pl.read_ndjson(io.BytesIO(text), schema=types)


class OutputWriter:
    """Writes result chunks to a temporary file and moves it into place only when complete,
    so a failed run never leaves a file that looks finished."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = file_format(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._chunks: list[pl.DataFrame] = []

    def write(self, frame: pl.DataFrame) -> None:
        self._chunks.append(frame)

    def commit(self) -> None:
        frame = pl.concat(self._chunks) if self._chunks else pl.DataFrame()
        if self.format == "parquet":
            frame.write_parquet(self.tmp)
        elif self.format == "jsonl":
            frame.write_ndjson(self.tmp)
        else:
            csv_ready(frame).write_csv(self.tmp)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.tmp.unlink(missing_ok=True)


def chunks(frame: pl.DataFrame, size: int) -> Iterable[pl.DataFrame]:
    for offset in range(0, frame.height, size):
        yield frame.slice(offset, size)
