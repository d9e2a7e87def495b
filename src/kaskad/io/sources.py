"""Streaming sources: an input read chunk by chunk, each chunk already in the schema's types.

A source yields ``polars.DataFrame`` chunks of at most ``chunk_size`` rows, so memory stays
bounded whatever the input's size: Parquet files (record batches of a row group at a time),
CSV and JSON Lines files (read in bounded blocks), folders of such files (in name order)
and PostgreSQL tables or queries (a server-side cursor, ``fetchmany``).

Input that cannot be read as the schema's types raises :class:`MalformedInputError` (an
:class:`~kaskad.errors.InputError`) naming the source, where in it (the 1-based line of a
text file, the 0-based row index of a Parquet file or a query result) and the column.
Values that *can* be read but break the schema's rules (a missing required value, a value
outside a category) are not errors here: the executor rejects those records one by one.

The contract every source keeps (and the checks and typing they share) is in
:mod:`kaskad.io.reading`; the PostgreSQL source is in :mod:`kaskad.io.postgres`, imported
only when a database is read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import cast

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import InputError
from kaskad.execute.inputs import prepare_frame
from kaskad.io.reading import (
    DEFAULT_CHUNK_SIZE,
    NESTED,
    Chunk,
    MalformedInputError,
    Source,
    Unread,
    check_columns,
    conform,
    first_failure,
    json_lines_frame,
    reason,
    wrapped,
)
from kaskad.spec.schema import Schema

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMATS",
    "CsvSource",
    "FolderSource",
    "JsonLinesSource",
    "MalformedInputError",
    "ParquetSource",
    "Source",
    "file_format",
    "file_source",
    "first_failure",
    "is_database_url",
    "open_source",
    "rebatch",
]

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_COUNT_BLOCK = 1 << 20


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown file type '{path.suffix}'; use .csv, .parquet or .jsonl")
    return fmt


def is_database_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql:", "postgres:"))


def open_source(
    location: str | Path,
    schema: Schema,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    table: str | None = None,
    query: str | None = None,
) -> Source:
    """The source at ``location``: a ``.parquet``, ``.csv`` or ``.jsonl`` file, a folder of
    them, or a PostgreSQL URL (``postgresql://user@host/db``) with ``table`` or ``query``.

    Files are checked at once (exists, format, columns); a database when first read.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if is_database_url(location):
        from kaskad.io.postgres import PostgresSource  # the driver only when a database is read

        return PostgresSource(str(location), schema, chunk_size, table=table, query=query)
    if table is not None or query is not None:
        raise InputError(f"{location}: table= and query= apply to a PostgreSQL URL only")
    path = Path(location)
    if path.is_dir():
        return FolderSource(path, schema, chunk_size)
    return file_source(path, schema, chunk_size)


def file_source(path: Path, schema: Schema, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Source:
    fmt = file_format(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if fmt == "parquet":
        return ParquetSource(path, schema, chunk_size)
    if fmt == "csv":
        return CsvSource(path, schema, chunk_size)
    return JsonLinesSource(path, schema, chunk_size)


# ---- Parquet ----------------------------------------------------------------------------


class ParquetSource(Source):
    """Record batches of at most ``chunk_size`` rows, decoded page by page: memory does not
    grow with the size of the row groups (measured with groups of 125,000 and 1,000,000
    rows), unlike slicing ``scan_parquet``, which also decodes a group again per slice."""

    READ_BUFFER = 1 << 20  # read the file through a buffer rather than a row group at once

    def __init__(self, path: Path, schema: Schema, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path, self.name, self.schema, self.chunk_size = path, str(path), schema, chunk_size
        with _arrow_errors(self.name), pq.ParquetFile(path) as file:
            present = set(file.schema_arrow.names)
        check_columns(self.name, schema, present)
        self.columns = [f.name for f in schema.fields if f.name in present]

    def count_rows(self) -> int:
        with _arrow_errors(self.name), pq.ParquetFile(self.path) as file:
            return int(file.metadata.num_rows)

    def chunks(self) -> Iterator[pl.DataFrame]:
        return (chunk.frame for chunk in self._read(tolerant=False))

    def read_chunks(self) -> Iterator[Chunk]:
        return self._read(tolerant=True)

    def _read(self, tolerant: bool) -> Iterator[Chunk]:
        offset = 0
        with (
            _arrow_errors(self.name),
            pq.ParquetFile(self.path, pre_buffer=False, buffer_size=self.READ_BUFFER) as file,
        ):
            for batch in file.iter_batches(batch_size=self.chunk_size, columns=self.columns):
                frame = cast(pl.DataFrame, pl.from_arrow(batch))
                unread: list[Unread] | None = [] if tolerant else None
                typed = conform(
                    frame, self.schema, self.name, offset, unread=unread, naive_local=True
                )
                yield Chunk(typed, tuple(unread or ()))
                offset += frame.height


# ---- JSON Lines -------------------------------------------------------------------------


class JsonLinesSource(Source):
    """``chunk_size`` lines at a time, parsed with the schema's types."""

    def __init__(self, path: Path, schema: Schema, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path, self.name, self.schema, self.chunk_size = path, str(path), schema, chunk_size
        self._types = {f.name: to_polars_dtype(f.dtype) for f in schema.fields}

    def count_rows(self) -> int:
        return _count_lines(self.path)

    def chunks(self) -> Iterator[pl.DataFrame]:
        return (chunk.frame for chunk in self._read(tolerant=False))

    def read_chunks(self) -> Iterator[Chunk]:
        return self._read(tolerant=True)

    def _read(self, tolerant: bool) -> Iterator[Chunk]:
        first_line = 1
        with self.path.open("rb") as file:
            while lines := list(islice(file, self.chunk_size)):
                unread: list[Unread] | None = [] if tolerant else None
                frame = json_lines_frame(lines, self.schema, self.name, first_line, unread)
                if frame.height or unread:
                    typed = prepare_frame(self.schema, frame, self.name)
                    numbers = tuple(first_line + i for i, line in enumerate(lines) if line.strip())
                    yield Chunk(typed, tuple(unread or ()), numbers if tolerant else None)
                first_line += len(lines)


# ---- CSV --------------------------------------------------------------------------------


class CsvSource(Source):
    """Blocks of text parsed by Arrow's streaming CSV reader, cut into chunks; values are read
    as text and converted here, so a value that is not of its column's type is found exactly."""

    BLOCK_SIZE = 4 << 20

    def __init__(self, path: Path, schema: Schema, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path, self.name, self.schema, self.chunk_size = path, str(path), schema, chunk_size
        try:
            with path.open(newline="", encoding="utf-8") as file:
                self.header = next(csv.reader(file), [])
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"{path}: cannot read as CSV: {reason(exc)}") from exc
        nested = [f.name for f in schema.fields if f.dtype.kind in NESTED and f.name in self.header]
        if nested:
            raise InputError(
                f"{path}: CSV cannot hold nested fields ({', '.join(nested)}); "
                "use JSON Lines or Parquet"
            )
        check_columns(self.name, schema, set(self.header), line=1)
        self.fields = [f for f in schema.fields if f.name in self.header]

    def count_rows(self) -> int:
        return max(_count_lines(self.path) - 1, 0)

    def chunks(self) -> Iterator[pl.DataFrame]:
        return (chunk.frame for chunk in self._read(tolerant=False))

    def read_chunks(self) -> Iterator[Chunk]:
        return self._read(tolerant=True)

    def _read(self, tolerant: bool) -> Iterator[Chunk]:
        offset = 0
        for frame in rebatch(self._text_batches(), self.chunk_size):
            unread: list[Unread] | None = [] if tolerant else None
            typed = conform(frame, self.schema, self.name, offset, self._line_of, unread)
            yield Chunk(typed, tuple(unread or ()))
            offset += frame.height

    def _text_batches(self) -> Iterator[pl.DataFrame]:
        if (open_quote := self._open_quote()) is not None:
            raise open_quote
        names = [f.name for f in self.fields]
        options = pa_csv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            include_columns=names,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        try:
            reader = pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(block_size=self.BLOCK_SIZE),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=options,
            )
            for batch in reader:
                yield cast(pl.DataFrame, pl.from_arrow(batch))
        except (pa.ArrowException, OSError) as exc:
            raise self._bad_row() or InputError(
                f"{self.name}: cannot read as CSV: {reason(exc)}"
            ) from exc

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(first line, fields) of every data row, as the CSV reader sees them."""
        with self.path.open(newline="", encoding="utf-8", errors="replace") as file:
            reader = csv.reader(file)
            next(reader, None)
            end = reader.line_num
            for fields in reader:
                start, end = end + 1, reader.line_num
                if fields:  # blank lines are skipped, as the Arrow reader does
                    yield start, fields

    def _open_quote(self) -> MalformedInputError | None:
        """A quote opened and never closed: the CSV readers would take the rest of the file
        as one value, so records would silently go missing. Quotes come in pairs in valid
        CSV; only when their count is odd is the file read again to find the record."""
        if _count_bytes(self.path, b'"') % 2 == 0:
            return None
        with self.path.open(newline="", encoding="utf-8", errors="replace") as file:
            reader = csv.reader(file, strict=True)
            end = 0
            try:
                for _ in reader:
                    end = reader.line_num
            except csv.Error:
                return MalformedInputError(
                    self.name, 'a quote (") is opened and never closed', line=end + 1
                )
        return None

    def _line_of(self, row: int) -> int | None:
        return next((line for line, _ in islice(self._records(), row, row + 1)), None)

    def _bad_row(self) -> MalformedInputError | None:
        width = len(self.header)
        for line, fields in self._records():
            if len(fields) < width:
                problem = f"{len(fields)} values where the header has {width}"
                return MalformedInputError(
                    self.name, problem, line=line, column=self.header[len(fields)]
                )
            if len(fields) > width:
                problem = (
                    f"{len(fields)} values where the header has {width} (one too many commas?)"
                )
                return MalformedInputError(self.name, problem, line=line)
        return None


# ---- folders ----------------------------------------------------------------------------


class FolderSource(Source):
    """Every ``.parquet``, ``.csv`` and ``.jsonl`` file of a folder (not its subfolders),
    in name order; names starting with ``.`` or ``_`` are skipped."""

    def __init__(self, path: Path, schema: Schema, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path, self.name, self.schema, self.chunk_size = path, str(path), schema, chunk_size
        names = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and p.suffix.lower() in FORMATS and not p.name.startswith((".", "_"))
        )
        if not names:
            raise InputError(f"{path}: the folder holds no .parquet, .csv or .jsonl files")
        self.sources = [file_source(p, schema, chunk_size) for p in names]

    def count_rows(self) -> int | None:
        counts = [s.count_rows() for s in self.sources]
        return None if None in counts else sum(c for c in counts if c is not None)

    def chunks(self) -> Iterator[pl.DataFrame]:
        for source in self.sources:
            yield from source.chunks()

    def read_chunks(self) -> Iterator[Chunk]:
        """Each file's chunks, whose lines (and unreadable records' rows) are in their
        file: ``line 17 of part-2.jsonl``."""
        for source in self.sources:
            name = Path(source.name).name
            for chunk in source.read_chunks():
                yield replace(chunk, origin=name)


# ---- shared -----------------------------------------------------------------------------


def rebatch(frames: Iterable[pl.DataFrame], size: int) -> Iterator[pl.DataFrame]:
    """``frames`` cut and joined into frames of exactly ``size`` rows (the last: fewer)."""
    pending: list[pl.DataFrame] = []
    count = 0
    for frame in frames:
        pending.append(frame)
        count += frame.height
        while count >= size:
            whole = pending[0] if len(pending) == 1 else pl.concat(pending, rechunk=False)
            yield whole.slice(0, size)
            rest = whole.slice(size)
            pending, count = ([rest] if rest.height else []), rest.height
    if count:
        yield pending[0] if len(pending) == 1 else pl.concat(pending, rechunk=False)


def _count_bytes(path: Path, byte: bytes) -> int:
    count = 0
    with path.open("rb") as file:
        while block := file.read(_COUNT_BLOCK):
            count += block.count(byte)
    return count


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as file:
        while block := file.read(_COUNT_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _arrow_errors(source: str) -> AbstractContextManager[None]:
    return wrapped(source, "Parquet", pa.ArrowException, OSError)
