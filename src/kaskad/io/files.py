"""Whole files read into a single frame with the schema's types, and records turned into a
frame. ``kaskad run`` streams instead (:mod:`kaskad.io.sources`,
:mod:`kaskad.io.sinks`); these serve callers that hold a whole frame (golden cases,
backtests, tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import InputError
from kaskad.execute.masking import has_sensitive
from kaskad.io.reading import json_lines_frame
from kaskad.io.sources import FORMATS, file_format
from kaskad.spec.schema import Schema

if TYPE_CHECKING:
    from kaskad.compile.plan import Plan

__all__ = [
    "FORMATS",
    "file_columns",
    "file_format",
    "frame_from_records",
    "read_frame",
    "read_input",
]


def read_frame(
    location: str | Path,
    schema: Schema | Plan,
    *,
    table: str | None = None,
    query: str | None = None,
) -> pl.DataFrame:
    """Read input whole, exactly as ``kaskad run`` reads it: a ``.csv``, ``.parquet`` or
    ``.jsonl`` file, a folder of them, or a PostgreSQL URL with ``table`` or ``query``.

    The frame has the schema's columns in the schema's types (give the plan, or its
    ``plan.schema``), read by the reading contract every source keeps: dates written as
    text (also inside lists and objects), empty text as missing, numbers checked. It is
    what :meth:`kaskad.BatchExecutor.run` takes::

        plan = kaskad.compile_pipeline("pipeline.yaml")
        frame = kaskad.read_frame("applications.jsonl", plan)
        results = kaskad.BatchExecutor(plan).run(frame)

    A value that cannot be read raises :class:`~kaskad.errors.InputError` naming the file,
    the line (or row) and the field."""
    from kaskad.compile.plan import Plan
    from kaskad.io.sources import open_source

    fields = schema.schema if isinstance(schema, Plan) else schema
    source = open_source(location, fields, table=table, query=query)
    frames = list(source.chunks())
    if not frames:
        return pl.DataFrame(schema={f.name: to_polars_dtype(f.dtype) for f in fields.fields})
    return pl.concat(frames, how="vertical")


def read_input(path: Path, schema: Schema) -> pl.DataFrame:
    """Read a CSV, Parquet or JSON Lines file with the schema's column types, keeping
    columns the schema does not name (golden cases, backtests); :func:`read_frame` reads
    as a run does."""
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
        text = str(exc)
        if has_sensitive(schema):  # the library quotes the value it could not read
            text = _QUOTED.sub("'…'", text) + " (values not shown: the schema has sensitive fields)"
        raise InputError(f"{path}: cannot read as {fmt}: {text}") from exc


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def file_columns(path: Path) -> list[str]:
    """The columns a CSV, Parquet or JSON Lines file holds (JSON Lines: the keys of any of
    its records), whatever the schema; to say which column a caller asked for is absent."""
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            return list(pl.read_parquet_schema(path))
        if fmt == "jsonl":
            return list(pl.scan_ndjson(path, infer_schema_length=None).collect_schema())
        return pl.read_csv(path, n_rows=0).columns
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as {fmt}: {exc}") from exc


def frame_from_records(records: list[dict[str, Any]], schema: Schema) -> pl.DataFrame:
    """JSON-like records as a frame, parsed exactly as a JSON Lines file would be."""
    lines = [json.dumps(r, default=str).encode() + b"\n" for r in records]
    return json_lines_frame(lines, schema, "records")
