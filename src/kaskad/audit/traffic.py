"""Logged traffic as data: the inputs of a window of the decision log as frames in a
schema's types (a backtest judges a candidate on production traffic), and the log's
rows exported to Parquet for keeping.

Only decided records whose input is still there are traffic: rejected requests never
reached the plan, and erased inputs are gone. An export keeps every row: the log's
columns as ``log_*`` (inputs, outputs and errors as JSON text), and, when a schema is
given, the decided inputs in the schema's typed columns as well, so the file is a
backtest input (``kaskad backtest`` reads only its rows with ``log_status = 'decided'``
and no ``log_erased_at``: the same records as ``--input decisions:PIPELINE``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from kaskad.compile.compiler import compile_pipeline
from kaskad.errors import InputError
from kaskad.io.files import frame_from_records
from kaskad.jsonio import dumps_text
from kaskad.registry.releases import materialize
from kaskad.spec.schema import Schema
from kaskad.store import Store
from kaskad.store.decision_keeping import iter_decisions

__all__ = [
    "DECISIONS_PREFIX",
    "EXPORT_STATUS",
    "decided_only",
    "export_parquet",
    "logged_frames",
    "parse_decisions_input",
    "schema_of_release",
]

DECISIONS_PREFIX = "decisions:"
EXPORT_STATUS = "log_status"
_ERASED = "log_erased_at"


def parse_decisions_input(text: str) -> str | None:
    """The pipeline of ``decisions:PIPELINE`` (None: not a decision-log input)."""
    if not text.startswith(DECISIONS_PREFIX):
        return None
    name = text[len(DECISIONS_PREFIX) :].strip()
    if not name:
        raise InputError("--input decisions:PIPELINE needs the pipeline's served name")
    return name


def _traffic(row: dict[str, Any]) -> bool:
    return row["status"] == "decided" and row["erased_at"] is None and row["input"] is not None


def logged_frames(
    log: str,
    schema: Schema,
    *,
    pipeline: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    chunk_size: int = 50_000,
) -> Iterator[pl.DataFrame]:
    """The decided, not erased inputs of ``pipeline`` in the window, oldest first, as
    frames of at most ``chunk_size`` rows in ``schema``'s types."""
    for rows in iter_decisions(
        log, pipeline=pipeline, since=since, until=until, statuses=["decided"], chunk=chunk_size
    ):
        inputs = [r["input"] for r in rows if _traffic(r)]
        if inputs:
            yield frame_from_records(inputs, schema)


def decided_only(frame: pl.DataFrame) -> pl.DataFrame:
    """A decision export's traffic rows (a frame of another file is returned as it is)."""
    if EXPORT_STATUS not in frame.columns:
        return frame
    keep = pl.col(EXPORT_STATUS) == "decided"
    if _ERASED in frame.columns:
        keep = keep & pl.col(_ERASED).is_null()
    return frame.filter(keep)


def _log_columns(rows: list[dict[str, Any]]) -> pa.Table:
    def text(value: Any) -> str | None:
        return None if value is None else dumps_text(value)

    def decision(row: dict[str, Any]) -> str | None:
        found = (row["output"] or {}).get("decision")
        return found if isinstance(found, str) else None

    return pa.table(
        {
            "log_decision_id": pa.array([r["decision_id"] for r in rows], pa.string()),
            "log_at": pa.array([r["at"] for r in rows], pa.timestamp("us", tz="UTC")),
            "log_pipeline": pa.array([r["pipeline"] for r in rows], pa.string()),
            "log_release": pa.array([r["release"] for r in rows], pa.string()),
            "log_plan_hash": pa.array([r["plan_hash"] for r in rows], pa.string()),
            EXPORT_STATUS: pa.array([r["status"] for r in rows], pa.string()),
            "log_decision": pa.array([decision(r) for r in rows], pa.string()),
            "log_business_key": pa.array([r["business_key"] for r in rows], pa.string()),
            "log_input_sha256": pa.array([r["input_sha256"] for r in rows], pa.string()),
            "log_record_sha256": pa.array([r["record_sha256"] for r in rows], pa.string()),
            _ERASED: pa.array([r["erased_at"] for r in rows], pa.timestamp("us", tz="UTC")),
            "log_input": pa.array([text(r["input"]) for r in rows], pa.string()),
            "log_output": pa.array([text(r["output"]) for r in rows], pa.string()),
            "log_errors": pa.array([text(r["errors"]) for r in rows], pa.string()),
        }
    )


def export_parquet(
    log: str,
    path: Path,
    *,
    schema: Schema | None = None,
    pipeline: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    chunk_size: int = 20_000,
) -> int:
    """Write the window's rows to the Parquet file ``path`` (a row group a chunk); the
    number of rows written."""
    writer: pq.ParquetWriter | None = None
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    try:
        for rows in iter_decisions(
            log, pipeline=pipeline, since=since, until=until, chunk=chunk_size
        ):
            table = _log_columns(rows)
            if schema is not None:
                inputs = [r["input"] if _traffic(r) else {} for r in rows]
                typed = frame_from_records(inputs, schema).to_arrow()
                for name in typed.column_names:
                    table = table.append_column(name, typed.column(name))
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema, compression="zstd")
            writer.write_table(table)
            written += table.num_rows
        if writer is None:
            raise InputError("no decisions logged in that window: nothing to export")
        writer.close()
        writer = None
        temporary.replace(path)
    finally:
        if writer is not None:
            writer.close()
        temporary.unlink(missing_ok=True)
    return written


def schema_of_release(registry: Store, ref: str, cache_root: Path) -> Schema:
    """The input schema of release ``ref`` (its files written out and compiled; only the
    schema is used, so the environment is not checked)."""
    entry = materialize(registry, registry.resolve(ref), cache_root)
    return compile_pipeline(entry).schema
