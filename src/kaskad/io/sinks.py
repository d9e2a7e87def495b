"""Streaming sinks: results written chunk by chunk, under their final name only when complete.

A sink writes to a temporary name (a ``.NAME.*.partial`` file beside the output, or a
staging table in PostgreSQL); only :meth:`Sink.commit` makes the output appear under its
final name, replacing what was there; :meth:`Sink.abort` removes what was written. A run
that fails half-way therefore leaves nothing that looks complete (an earlier complete
output stays as it was). Used as a context manager, a sink not committed is aborted.

The partial file's name holds the writing process's id (``.NAME.PID-RANDOM.partial``):
:func:`removing_partials_on_signals` removes this process's partial files on SIGINT and
SIGTERM, and a new file sink removes the partial files of processes that are gone (a run
killed with SIGKILL) beside its output.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from kaskad.errors import KaskadError
from kaskad.extras import has_module, missing_extra
from kaskad.io.sources import FORMATS, is_database_url

# kaskad.io.postgres (psycopg, the optional extra kaskad[postgres]) is imported by the
# PostgreSQL sink only, so that file outputs need no database driver.

PARQUET_COMPRESSION = "zstd"
POSTGRES_NAME_BYTES = 63  # longer identifiers are cut short by PostgreSQL


class OutputError(KaskadError):
    """An output cannot be written (unknown file type, a folder that cannot be created, a
    column name PostgreSQL cannot hold, a database error)."""


class Sink(ABC):
    """Where a run's results go, chunk by chunk: ``write``, then ``commit`` or ``abort``."""

    name: str  # shown in messages and in the run summary
    rows: int = 0  # rows written so far
    state: str = "open"  # then committed or aborted

    @property
    def done(self) -> bool:
        return self.state != "open"

    def _check_open(self) -> None:
        if self.done:
            raise OutputError(f"{self.name}: the output is already {self.state}")

    @abstractmethod
    def write(self, frame: pl.DataFrame) -> None:
        """Append ``frame`` (columns and types of the schema the sink was opened with)."""

    @abstractmethod
    def commit(self) -> None:
        """Make the output appear under its final name, complete."""

    @abstractmethod
    def abort(self) -> None:
        """Remove everything written; the final name is left as it was. Safe to repeat."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.done:
            self.abort()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def open_sink(
    location: str | Path, schema: Mapping[str, pl.DataType], *, table: str | None = None
) -> Sink:
    """The sink for ``location``: a ``.parquet``, ``.csv`` or ``.jsonl`` file, or a
    PostgreSQL URL with ``table``. ``schema`` gives the output's columns and types
    (``BatchExecutor.output_schema``), so even an empty output has its columns."""
    if is_database_url(location):
        if not has_module("psycopg"):
            raise OutputError(missing_extra("PostgreSQL output", "psycopg", "postgres"))
        from kaskad.io.postgres import shown_url

        if not table:
            raise OutputError(f"{shown_url(str(location))}: name the table to write")
        return PostgresSink(str(location), table, schema)
    if table is not None:
        raise OutputError(f"{location}: table= applies to a PostgreSQL URL only")
    path = Path(location)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"{path}: unknown file type '{path.suffix}'; use .csv, .parquet or .jsonl"
        )
    if fmt == "parquet":
        return ParquetSink(path, schema)
    return CsvSink(path, schema) if fmt == "csv" else JsonLinesSink(path, schema)


# ---- files ------------------------------------------------------------------------------

_PARTIALS: set[Path] = set()  # this process's partial files not yet committed or aborted


def remove_partials() -> None:
    """Remove this process's partial output files (on a signal, before exiting)."""
    for path in list(_PARTIALS):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        _PARTIALS.discard(path)


@contextlib.contextmanager
def removing_partials_on_signals() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM remove this process's partial output files, then
    interrupt as before (``KeyboardInterrupt``; exit status 143 for SIGTERM). Only the
    main thread can set signal handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: object) -> None:
        remove_partials()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _remove_stale_partials(path: Path) -> None:
    """Remove ``.NAME.PID-*.partial`` files beside ``path`` whose process is gone."""
    for partial in path.parent.glob(f".{path.name}.*-*.partial"):
        pid = partial.name[len(path.name) + 2 :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                partial.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


class FileSink(Sink):
    """Writes ``.NAME.RANDOM.partial`` beside ``path``; commit renames it to ``path``."""

    def __init__(self, path: Path, schema: Mapping[str, pl.DataType]) -> None:
        self.path, self.name, self.schema = path, str(path), dict(schema)
        self.tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_partials(path)
            # Created as any new file is (the umask decides its mode), never over another.
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise OutputError(f"{path}: cannot create the output: {exc.strerror or exc}") from exc
        _PARTIALS.add(self.tmp)
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        try:
            self._start()
        except BaseException:
            self.abort()
            raise

    def _start(self) -> None:
        """Write what precedes the rows (a header)."""

    @abstractmethod
    def _append(self, frame: pl.DataFrame) -> None: ...

    def _finish(self) -> None:
        """Write what follows the rows and close the file."""
        self._file.close()

    def write(self, frame: pl.DataFrame) -> None:
        self._check_open()
        if dict(frame.schema) != self.schema:
            frame = _conform(frame, self.schema, self.name)
        try:
            self._append(frame)
        except _WRITE_ERRORS as exc:
            raise OutputError(f"{self.name}: cannot write: {_reason(exc)}") from exc
        self.rows += frame.height

    def commit(self) -> None:
        self._check_open()
        try:
            self._finish()
            _fsync(self.tmp)
            os.replace(self.tmp, self.path)
        except _WRITE_ERRORS as exc:
            self.abort()
            raise OutputError(f"{self.name}: cannot write: {_reason(exc)}") from exc
        _PARTIALS.discard(self.tmp)
        self.state = "committed"

    def abort(self) -> None:
        if self.state == "committed":
            return
        self.state = "aborted"
        with contextlib.suppress(OSError):  # the output is being thrown away
            self._file.close()
        self._close_writer()
        self.tmp.unlink(missing_ok=True)
        _PARTIALS.discard(self.tmp)

    def _close_writer(self) -> None:
        return None


class ParquetSink(FileSink):
    """One row group per chunk, zstd-compressed."""

    _writer: pq.ParquetWriter | None = None

    def _start(self) -> None:
        self._file.close()  # Arrow writes the file itself, without Python in between
        self._arrow_schema = _arrow(pl.DataFrame(schema=self.schema)).schema
        self._writer = pq.ParquetWriter(
            self.tmp, self._arrow_schema, compression=PARQUET_COMPRESSION
        )

    def _append(self, frame: pl.DataFrame) -> None:
        table = _arrow(frame)
        if table.schema != self._arrow_schema:
            table = table.cast(self._arrow_schema)
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=max(frame.height, 1))

    def _finish(self) -> None:
        assert self._writer is not None
        self._writer.close()

    def _close_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError, pa.ArrowException):  # being thrown away
                self._writer.close()


class CsvSink(FileSink):
    """A header, then each chunk's rows; lists and objects as JSON text."""

    def _start(self) -> None:
        csv_ready(pl.DataFrame(schema=self.schema)).write_csv(self._file)

    def _append(self, frame: pl.DataFrame) -> None:
        csv_ready(frame).write_csv(self._file, include_header=False)


class JsonLinesSink(FileSink):
    """One JSON object per row."""

    def _append(self, frame: pl.DataFrame) -> None:
        frame.write_ndjson(self._file)


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV has no lists or objects: write them as JSON text (``["aml", "fraud"]``)."""
    nested = [n for n, d in frame.schema.items() if isinstance(d, (pl.List, pl.Array, pl.Struct))]
    return frame.with_columns([json_text(pl.col(n)).alias(n) for n in nested]) if nested else frame


def json_text(value: pl.Expr) -> pl.Expr:
    """Any value as JSON text (null stays null): Polars encodes structs, so wrap, encode and
    cut the wrapper ``{"v":…}`` off."""
    encoded = pl.struct(value.alias("v")).struct.json_encode()
    return (
        pl.when(value.is_null())
        .then(None)
        .otherwise(encoded.str.slice(5, encoded.str.len_chars() - 6))
    )


_WRITE_ERRORS = (OSError, pa.ArrowException, pl.exceptions.PolarsError)


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


def _arrow(frame: pl.DataFrame) -> pa.Table:
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest())


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    missing = [n for n in schema if n not in frame.columns]
    if missing:
        raise OutputError(f"{name}: the rows to write lack column(s) {', '.join(missing)}")
    return frame.select([pl.col(n).cast(d) for n, d in schema.items()])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- PostgreSQL -------------------------------------------------------------------------


class PostgresSink(Sink):
    """COPY into a staging table created in the run's transaction; commit replaces the
    target table with it (``DROP`` + ``ALTER TABLE … RENAME``) and commits, so readers see
    the old table or the complete new one. Abort (or a lost connection) rolls everything
    back. Lists and objects are stored as ``jsonb``."""

    def __init__(self, url: str, table: str, schema: Mapping[str, pl.DataType]) -> None:
        import psycopg
        from psycopg import sql

        from kaskad.io.postgres import connect, conninfo, shown_url

        self.name = f"{shown_url(url)} table {table}"
        self.schema = dict(schema)
        *namespace, final = table.split(".")
        too_long = [n for n in [final, *self.schema] if len(n.encode()) > POSTGRES_NAME_BYTES]
        if too_long:
            raise OutputError(
                f"{self.name}: PostgreSQL names hold at most {POSTGRES_NAME_BYTES} bytes;"
                f" too long: {', '.join(too_long)}"
            )
        self.final = final
        self.target = sql.Identifier(*namespace, final)
        staging = f"{final[:40]}_kaskad_{secrets.token_hex(4)}"
        self.staging = sql.Identifier(*namespace, staging)
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(_pg_type(d)))
            for n, d in self.schema.items()
        )
        self._copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            self.staging, sql.SQL(", ").join(sql.Identifier(n) for n in self.schema)
        )
        try:
            self._conn = connect(conninfo(url))
        except psycopg.Error as exc:
            raise OutputError(f"{self.name}: cannot connect: {exc}") from exc
        with self._errors("create the staging table"):
            self._conn.execute(sql.SQL("CREATE TABLE {} ({})").format(self.staging, columns))

    def write(self, frame: pl.DataFrame) -> None:
        self._check_open()
        if dict(frame.schema) != self.schema:
            frame = _conform(frame, self.schema, self.name)
        text = io.BytesIO()
        nested = [n for n, d in frame.schema.items() if _pg_type(d) == "jsonb"]
        frame.with_columns([json_text(pl.col(n)).alias(n) for n in nested]).write_csv(
            text, include_header=False
        )
        with self._errors("write"), self._conn.cursor() as cur, cur.copy(self._copy) as copy:
            copy.write(text.getbuffer())
        self.rows += frame.height

    def commit(self) -> None:
        from psycopg import sql

        self._check_open()
        with self._errors("commit"):
            self._conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.target))
            self._conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    self.staging, sql.Identifier(self.final)
                )
            )
            self._conn.commit()
        self.state = "committed"
        self._conn.close()

    def abort(self) -> None:
        if self.state == "committed":
            return
        self.state = "aborted"
        if self._conn.closed:
            return
        import psycopg

        try:
            self._conn.rollback()
        except psycopg.Error:
            pass  # a broken connection rolls back by itself
        finally:
            self._conn.close()

    def _errors(self, action: str) -> _PgErrors:
        return _PgErrors(self, action)


class _PgErrors:
    def __init__(self, sink: PostgresSink, action: str) -> None:
        self.sink, self.action = sink, action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        import psycopg

        if isinstance(exc, psycopg.Error):
            self.sink.abort()
            raise OutputError(f"{self.sink.name}: cannot {self.action}: {exc}") from exc


def _pg_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
        return "jsonb"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    for polars_type, name in _PG_TYPES:
        if dtype == polars_type:
            return name
    return "text"


_PG_TYPES: tuple[tuple[type[pl.DataType], str], ...] = (
    (pl.Int64, "bigint"),
    (pl.UInt32, "bigint"),
    (pl.Int32, "integer"),
    (pl.Int16, "smallint"),
    (pl.Int8, "smallint"),
    (pl.UInt16, "integer"),
    (pl.UInt8, "smallint"),
    (pl.Float64, "double precision"),
    (pl.Float32, "real"),
    (pl.Boolean, "boolean"),
    (pl.Date, "date"),
)
