"""PostgreSQL as a source: a table or a query's result read through a server-side cursor,
checked and typed like every other source."""

from __future__ import annotations

import io
import json
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, cast

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import FieldProblem, InputError
from kaskad.extras import missing_extra

try:  # imported only for PostgreSQL inputs and outputs (kaskad.io.sources, .sinks)
    import psycopg
    from psycopg import sql
    from psycopg.types.string import TextLoader
except ImportError as exc:  # pragma: no cover - the dev extra installs it
    raise InputError(missing_extra("PostgreSQL input and output", "psycopg", "postgres")) from exc
from kaskad.execute.contract import read_value
from kaskad.io.reading import (
    DEFAULT_CHUNK_SIZE,
    NESTED,
    Chunk,
    MalformedInputError,
    Source,
    Unread,
    cannot_read,
    check_columns,
    conform,
    first_failure,
    json_problem,
    problem_text,
    reason,
    wrapped,
)
from kaskad.spec.schema import Schema
from kaskad.spec.types import Field

POSTGRES_CONNECT_TIMEOUT_S = 10


class PostgresSource(Source):
    """A table or a query's result through a server-side cursor, ``chunk_size`` rows per
    fetch. JSON and JSONB columns (or text holding JSON) feed nested fields."""

    def __init__(
        self,
        url: str,
        schema: Schema,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        table: str | None = None,
        query: str | None = None,
    ) -> None:
        if (table is None) == (query is None):
            raise InputError(f"{shown_url(url)}: name a table or a query (one of the two)")
        self.url, self.schema, self.chunk_size = conninfo(url), schema, chunk_size
        self.table, self.query = table, query
        what = f"table {table}" if table is not None else "query"
        self.name = f"{shown_url(url)} {what}"

    def count_rows(self) -> int | None:
        if self.table is None:
            return None  # counting would run the query twice
        with self._errors(), connect(self.url) as conn:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(table_name(self.table))
            ).fetchone()
        return None if count is None else int(cast(int, count[0]))

    def chunks(self) -> Iterator[pl.DataFrame]:
        return (chunk.frame for chunk in self._read(tolerant=False))

    def read_chunks(self) -> Iterator[Chunk]:
        return self._read(tolerant=True)

    def _read(self, tolerant: bool) -> Iterator[Chunk]:
        with self._errors(), connect(self.url) as conn:
            for loader in ("json", "jsonb"):  # JSON as text; Polars parses it with the types
                conn.adapters.register_loader(loader, TextLoader)
            statement = self._statement(conn)
            with conn.cursor(name=f"kaskad_{secrets.token_hex(4)}") as cur:
                cur.execute(statement)
                names = [c.name for c in cur.description or ()]
                check_columns(self.name, self.schema, set(names))
                fields = [(f, names.index(f.name)) for f in self.schema.fields if f.name in names]
                offset = 0
                while rows := cur.fetchmany(self.chunk_size):
                    columns = list(zip(*rows, strict=True))
                    bad: dict[int, list[FieldProblem]] | None = {} if tolerant else None
                    series = [self._series(f, columns[i], offset, bad) for f, i in fields]
                    frame, unread = _set_aside(pl.DataFrame(series), self.schema, offset, bad)
                    yield Chunk(conform(frame, self.schema, self.name, offset), unread)
                    offset += len(rows)

    def _statement(self, conn: psycopg.Connection[Any]) -> sql.SQL | sql.Composed:
        if self.table is None:
            assert self.query is not None
            return sql.SQL(self.query)  # the user's own SQL
        name = table_name(self.table)
        described = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(name)).description
        present = {c.name for c in described or ()}
        wanted = [sql.Identifier(f.name) for f in self.schema.fields if f.name in present]
        if not wanted:
            return sql.SQL("SELECT * FROM {}").format(name)
        return sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(wanted), name)

    def _series(
        self,
        f: Field,
        values: Sequence[Any],
        offset: int,
        bad: dict[int, list[FieldProblem]] | None = None,
    ) -> pl.Series:
        """A column in the field's type; text (JSON for nested fields) is parsed. Given
        ``bad``, a scalar value that cannot be read is null and its problem is added there
        (by row in ``values``) instead of raising."""
        target = to_polars_dtype(f.dtype)
        if f.dtype.kind not in NESTED:  # each value read by the reading contract
            return self._scalars(f, values, offset, bad)
        text = any(isinstance(v, str) for v in values)

        def build(part: Sequence[Any]) -> pl.Series:
            if text:  # parsed as JSON Lines are, with the same strictness
                lines = [b'{"v":' + _one_line(v) + b"}\n" for v in part]
                frame = pl.read_ndjson(io.BytesIO(b"".join(lines)), schema={"v": target})
                return frame.to_series().alias(f.name)
            return _utc(pl.Series(f.name, part, dtype=target, strict=True))

        try:
            return build(values)
        except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError) as exc:
            if f.dtype.kind in ("string", "category"):  # uuid, numeric, enum…: as text
                return pl.Series(f.name, [None if v is None else str(v) for v in values])
            i = first_failure(len(values), lambda lo, hi: _fails(build, values[lo:hi]))
            if i is None:
                raise InputError(f"{self.name}: column {f.name}: {reason(exc)}") from exc
            path, problem = f.name, cannot_read(values[i], f.dtype)
            if text:
                try:
                    found = json_problem(json.loads(values[i]), f.dtype, f.name)
                except json.JSONDecodeError as bad:
                    found, problem = None, f"not valid JSON ({reason(bad)})"
                if found is not None:
                    path, problem = found[0], cannot_read(found[2], found[1])
            raise MalformedInputError(self.name, problem, row=offset + i, column=path) from exc

    def _scalars(
        self,
        f: Field,
        values: Sequence[Any],
        offset: int,
        bad: dict[int, list[FieldProblem]] | None = None,
    ) -> pl.Series:
        """A scalar column read value by value (numeric columns as their text, so
        ``numeric`` 11.0 is refused for an integer field as the text '11.0' is; anything
        else, such as a uuid or an enum, is text for a text field)."""
        textual = f.dtype.kind in ("string", "category")
        out: list[Any] = []
        for i, raw in enumerate(values):
            if textual and raw is not None and not isinstance(raw, str):
                raw = str(raw)
            value, problem = read_value(raw, f.dtype, f.name)
            if problem is not None and bad is not None:
                bad.setdefault(i, []).append(problem)
            elif problem is not None:
                raise MalformedInputError(
                    self.name,
                    problem_text(raw, f.dtype, problem),
                    row=offset + i,
                    column=f.name,
                    field_problem=problem,
                )
            out.append(value)
        return pl.Series(f.name, out, dtype=to_polars_dtype(f.dtype))

    def _errors(self) -> AbstractContextManager[None]:
        return wrapped(self.name, "PostgreSQL", psycopg.Error)


def _set_aside(
    frame: pl.DataFrame, schema: Schema, offset: int, bad: dict[int, list[FieldProblem]] | None
) -> tuple[pl.DataFrame, tuple[Unread, ...]]:
    """``frame`` without the rows ``bad`` names, and those rows as unread records."""
    if not bad:
        return frame, ()
    keys = [f.name for f in schema.fields if f.key and f.name in frame.columns]
    unread = tuple(
        Unread(
            at,
            tuple(bad[at]),
            row=offset + at,
            keys=tuple((k, frame[k][at]) for k in keys if frame[k][at] is not None),
        )
        for at in sorted(bad)
    )
    keep = pl.Series([i not in bad for i in range(frame.height)])
    return frame.filter(keep), unread


def conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def connect(url: str) -> psycopg.Connection[Any]:
    kwargs: dict[str, Any] = {}
    if "connect_timeout" not in url:
        kwargs["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return psycopg.connect(url, **kwargs)


def table_name(name: str) -> sql.Identifier:
    """``table`` or ``schema.table`` as a quoted identifier."""
    return sql.Identifier(*name.split("."))


def _one_line(value: Any) -> bytes:
    """JSON text on one line (a line break outside a string is only white space)."""
    if value is None:
        return b"null"
    return str(value).replace("\n", " ").replace("\r", " ").encode()


def _utc(series: pl.Series) -> pl.Series:
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return series


def _fails(build: Callable[[Sequence[Any]], pl.Series], values: Sequence[Any]) -> bool:
    try:
        build(values)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
        return True
    return False
