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
"""

from __future__ import annotations

import csv
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, cast

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import InputError
from kaskad.execute.inputs import prepare_frame
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType, Field

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
DEFAULT_CHUNK_SIZE = 50_000
_NESTED = ("object", "list")
_FROM_TEXT = ("integer", "float", "boolean", "date", "datetime")
_COUNT_BLOCK = 1 << 20


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown file type '{path.suffix}'; use .csv, .parquet or .jsonl")
    return fmt


def is_database_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql:", "postgres:"))


class MalformedInputError(InputError):
    """Input that cannot be read as the schema's types, and where: ``line`` (1-based, text
    files) or ``row`` (0-based index, Parquet and PostgreSQL), and ``column`` (a dotted
    path such as ``applicant.age`` or ``transactions[].day``) when one is to blame."""

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source, self.problem = source, problem
        self.line, self.row, self.column = line, row, column
        where = [
            f"line {line}" if line is not None else "",
            f"row index {row}" if row is not None else "",
        ]
        where.append(f"column {column}" if column else "")
        place = ", ".join(w for w in where if w)
        super().__init__(f"{source}: {place + ': ' if place else ''}{problem}")


class Source(ABC):
    """An input read as typed chunks of at most ``chunk_size`` rows."""

    name: str  # shown in messages and in the run summary
    schema: Schema
    chunk_size: int

    @abstractmethod
    def chunks(self) -> Iterator[pl.DataFrame]:
        """The input's rows in order, as frames with exactly the schema's columns and types."""

    @abstractmethod
    def count_rows(self) -> int | None:
        """How many rows the input holds, when that is cheap to know (for a progress bar):
        exact for Parquet and tables, the number of lines for text files (a value that
        spans lines makes it an overestimate), ``None`` for queries."""

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return self.chunks()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, chunk_size={self.chunk_size})"


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
        from kaskad.io.postgres import PostgresSource  # needs this module's helpers

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
        _check_columns(self.name, schema, present)
        self.columns = [f.name for f in schema.fields if f.name in present]

    def count_rows(self) -> int:
        with _arrow_errors(self.name), pq.ParquetFile(self.path) as file:
            return int(file.metadata.num_rows)

    def chunks(self) -> Iterator[pl.DataFrame]:
        offset = 0
        with (
            _arrow_errors(self.name),
            pq.ParquetFile(self.path, pre_buffer=False, buffer_size=self.READ_BUFFER) as file,
        ):
            for batch in file.iter_batches(batch_size=self.chunk_size, columns=self.columns):
                frame = cast(pl.DataFrame, pl.from_arrow(batch))
                yield conform(frame, self.schema, self.name, offset)
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
        first_line = 1
        with self.path.open("rb") as file:
            while lines := list(islice(file, self.chunk_size)):
                try:
                    frame = pl.read_ndjson(io.BytesIO(b"".join(lines)), schema=self._types)
                except pl.exceptions.PolarsError as exc:
                    raise self._locate(lines, first_line, exc) from exc
                if frame.height:
                    yield prepare_frame(self.schema, frame, self.name)
                first_line += len(lines)

    def _locate(self, lines: list[bytes], first: int, exc: Exception) -> InputError:
        """Which line and field could not be read (bisecting the chunk)."""
        i = first_failure(len(lines), lambda lo, hi: not _ndjson_reads(lines[lo:hi], self._types))
        if i is None:
            return InputError(f"{self.name}: lines {first}-{first + len(lines) - 1}: {exc}")
        line = first + i
        try:
            record = json.loads(lines[i].rstrip(b"\r\n"))
        except (json.JSONDecodeError, UnicodeDecodeError) as bad:
            where = f" at character {bad.colno}" if isinstance(bad, json.JSONDecodeError) else ""
            return MalformedInputError(
                self.name, f"not valid JSON{where} ({_reason(bad)})", line=line
            )
        if not isinstance(record, dict):
            return MalformedInputError(
                self.name, f"expected a JSON object, got {_json_kind(record)}", line=line
            )
        for f in self.schema.fields:
            found = _json_problem(record.get(f.name), f.dtype, f.name)
            if found is not None:
                path, dtype, value = found
                return MalformedInputError(
                    self.name, _cannot_read(value, dtype), line=line, column=path
                )
        return MalformedInputError(self.name, str(exc), line=line)


def _ndjson_reads(lines: Sequence[bytes], types: dict[str, pl.DataType]) -> bool:
    try:
        pl.read_ndjson(io.BytesIO(b"".join(lines)), schema=types)
    except pl.exceptions.PolarsError:
        return False
    return True


def _json_problem(value: Any, dtype: DType, path: str) -> tuple[str, DType, Any] | None:
    """The innermost part of a JSON value that Polars cannot read as ``dtype``."""
    if _ndjson_reads([json.dumps({"v": value}).encode()], {"v": to_polars_dtype(dtype)}):
        return None
    if dtype.kind == "object" and isinstance(value, dict):
        for f in dtype.fields:
            found = _json_problem(value.get(f.name), f.dtype, f"{path}.{f.name}")
            if found is not None:
                return found
    elif dtype.kind == "list" and dtype.item is not None and isinstance(value, list):
        for item in value:
            found = _json_problem(item, dtype.item, f"{path}[]")
            if found is not None:
                return found
    return path, dtype, value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "text", bool: "true/false"}.get(type(value), "a number")


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
            raise InputError(f"{path}: cannot read as CSV: {_reason(exc)}") from exc
        nested = [
            f.name for f in schema.fields if f.dtype.kind in _NESTED and f.name in self.header
        ]
        if nested:
            raise InputError(
                f"{path}: CSV cannot hold nested fields ({', '.join(nested)}); "
                "use JSON Lines or Parquet"
            )
        _check_columns(self.name, schema, set(self.header), line=1)
        self.fields = [f for f in schema.fields if f.name in self.header]

    def count_rows(self) -> int:
        return max(_count_lines(self.path) - 1, 0)

    def chunks(self) -> Iterator[pl.DataFrame]:
        offset = 0
        for frame in rebatch(self._text_batches(), self.chunk_size):
            yield conform(frame, self.schema, self.name, offset, self._line_of)
            offset += frame.height

    def _text_batches(self) -> Iterator[pl.DataFrame]:
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
                f"{self.name}: cannot read as CSV: {_reason(exc)}"
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


_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")
_DATETIME_TZ_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")


def _from_text(text: pl.Expr, dtype: DType) -> pl.Expr:
    """Text as ``dtype`` (what cannot be read becomes null).
    Numbers, dates and booleans are read as JSON writes them; datetimes in ISO 8601, an
    offset converted to UTC."""
    kind = dtype.kind
    if kind == "integer":
        return text.cast(pl.Int64, strict=False)
    if kind == "float":
        return text.cast(pl.Float64, strict=False)
    if kind == "boolean":
        lower = text.str.to_lowercase()
        return pl.when(lower == "true").then(True).when(lower == "false").then(False)
    if kind == "date":
        return text.str.to_date("%Y-%m-%d", strict=False)
    if kind == "datetime":
        naive = [text.str.to_datetime(f, time_unit="us", strict=False) for f in _DATETIME_FORMATS]
        aware = [
            text.str.to_datetime(
                f, time_unit="us", time_zone="UTC", strict=False
            ).dt.replace_time_zone(None)
            for f in _DATETIME_TZ_FORMATS
        ]
        return pl.coalesce([*aware, *naive])
    raise AssertionError(f"{dtype} is not read from text")


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


# ---- shared -----------------------------------------------------------------------------


def conform(
    frame: pl.DataFrame,
    schema: Schema,
    source: str,
    offset: int = 0,
    line_of: Callable[[int], int | None] | None = None,
) -> pl.DataFrame:
    """``frame`` in the schema's types. Text columns of numbers, booleans, dates and
    datetimes are read as :func:`_from_text` says; others are cast. A value that cannot be
    read is reported at its row index (``offset`` + its row in ``frame``), or at its line
    when ``line_of`` maps row indexes to lines."""

    def malformed(row: int, path: str, problem: str) -> MalformedInputError:
        if line_of is not None:
            return MalformedInputError(source, problem, line=line_of(offset + row), column=path)
        return MalformedInputError(source, problem, row=offset + row, column=path)

    texts = [
        f
        for f in schema.fields
        if f.dtype.kind in _FROM_TEXT and frame.schema.get(f.name) == pl.String
    ]
    if texts:
        typed = frame.with_columns(
            [_from_text(pl.col(f.name), f.dtype).alias(f.name) for f in texts]
        )
        for at, f in sorted(_unread(frame, typed, texts), key=lambda found: found[0])[:1]:
            raise malformed(at, f.name, _cannot_read(frame[f.name][at], f.dtype))
        frame = typed
    try:
        return prepare_frame(schema, frame, source)
    except InputError as exc:
        for f in schema.fields:
            if f.name not in frame.columns:
                continue
            column = frame[f.name]
            row = _first_cast_failure(column, to_polars_dtype(f.dtype))
            if row is not None:
                raise malformed(row, *_bad_part(column.slice(row, 1), f.dtype, f.name)) from exc
        raise


def _unread(
    text: pl.DataFrame, typed: pl.DataFrame, fields: list[Field]
) -> Iterator[tuple[int, Field]]:
    """(first row, field) of each column where a text became null when read."""
    for f in fields:
        if typed[f.name].null_count() != text[f.name].null_count():
            lost = text[f.name].is_not_null() & typed[f.name].is_null()
            yield int(lost.arg_true()[0]), f


def _first_cast_failure(series: pl.Series, target: pl.DataType) -> int | None:
    return first_failure(series.len(), lambda lo, hi: _cast_fails(series, lo, hi, target))


def _cast_fails(series: pl.Series, lo: int, hi: int, target: pl.DataType) -> bool:
    try:
        series.slice(lo, hi - lo).cast(target, strict=True)
    except pl.exceptions.PolarsError:
        return True
    return False


def _bad_part(one: pl.Series, dtype: DType, path: str) -> tuple[str, str]:
    """The path to the innermost field of a one-row ``one`` that cannot be cast to ``dtype``,
    and the problem."""
    if dtype.kind == "object" and isinstance(one.dtype, pl.Struct):
        present = {f.name for f in one.dtype.fields}
        for f in dtype.fields:
            child = one.struct.field(f.name) if f.name in present else None
            target = to_polars_dtype(f.dtype)
            if child is not None and _cast_fails(child, 0, 1, target):
                return _bad_part(child, f.dtype, f"{path}.{f.name}")
    elif dtype.kind == "list" and dtype.item is not None and isinstance(one.dtype, pl.List):
        items = one.explode()
        i = _first_cast_failure(items, to_polars_dtype(dtype.item))
        if i is not None:
            return _bad_part(items.slice(i, 1), dtype.item, f"{path}[]")
    problem = _cannot_read(one[0], dtype)
    if one.dtype == pl.String and dtype.kind in _FROM_TEXT:
        problem += f" (text inside a list or object is not converted: store {dtype} values)"
    return path, problem


def first_failure(n: int, fails: Callable[[int, int], bool]) -> int | None:
    """The first index in ``range(n)`` whose item fails, by bisection; ``fails(lo, hi)``
    says whether any item in ``[lo, hi)`` fails (each item failing on its own)."""
    if n == 0 or not fails(0, n):
        return None
    lo, hi = 0, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fails(lo, mid):
            hi = mid
        else:
            lo = mid
    return lo


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


def _check_columns(source: str, schema: Schema, present: set[str], line: int | None = None) -> None:
    missing = [f.name for f in schema.fields if f.required and f.name not in present]
    if missing:
        problem = "required column" + ("s " if len(missing) > 1 else " ")
        problem += f"{', '.join(missing)} missing (columns present: "
        problem += f"{', '.join(sorted(present)[:20]) or 'none'})"
        raise MalformedInputError(source, problem, line=line, column=missing[0])


def _cannot_read(value: Any, dtype: DType) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"cannot read {shown} as {dtype}"


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as file:
        while block := file.read(_COUNT_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


@contextmanager
def _wrapped(source: str, what: str, *errors: type[Exception]) -> Iterator[None]:
    """Library errors at the boundary → :class:`InputError` naming the source."""
    try:
        yield
    except InputError:
        raise
    except errors as exc:
        raise InputError(f"{source}: cannot read as {what}: {_reason(exc)}") from exc


def _arrow_errors(source: str) -> AbstractContextManager[None]:
    return _wrapped(source, "Parquet", pa.ArrowException, OSError)
