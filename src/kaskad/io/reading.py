"""The reading contract every source keeps: what a source is, how a raw frame from any of
them (a Parquet batch, CSV text, a PostgreSQL fetch) is checked and typed against the
schema, and how input that cannot be read is reported (:class:`MalformedInputError`).

File sources live in :mod:`kaskad.io.sources`, the PostgreSQL source in
:mod:`kaskad.io.postgres`; both build on this module and neither imports the other at
import time.
"""

from __future__ import annotations

import io
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl

from kaskad.compile.expr.polars_dtypes import to_polars_dtype
from kaskad.errors import FieldProblem, InputError
from kaskad.execute.contract import DATETIME_TEXT, TEXT_READ, loads, read_nested, read_value
from kaskad.execute.contract_frame import Read, read_columns
from kaskad.execute.inputs import prepare_frame
from kaskad.execute.masking import redact, redact_at, sensitive_at
from kaskad.io.nested_text import read_nested_text
from kaskad.io.zoned_json import read_zoned, zoned
from kaskad.spec.schema import Schema
from kaskad.spec.types import DType

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FROM_TEXT",
    "NESTED",
    "Chunk",
    "MalformedInputError",
    "Source",
    "Unread",
    "cannot_read",
    "check_columns",
    "conform",
    "first_failure",
    "json_lines_frame",
    "json_problem",
    "ndjson_reads",
    "problem_text",
    "reason",
    "wrapped",
]

DEFAULT_CHUNK_SIZE = 50_000
NESTED = ("object", "list")  # kinds read from JSON (or Parquet/PostgreSQL structures) only
FROM_TEXT = TEXT_READ  # kinds converted from text


class MalformedInputError(InputError):
    """Input that cannot be read as the schema's types, and where: ``line`` (1-based, text
    files) or ``row`` (0-based index, Parquet and PostgreSQL), and ``column`` (a dotted
    path such as ``applicant.age`` or ``transactions[].day``) when one is to blame, and
    ``field_problem``, the :class:`~kaskad.errors.FieldProblem` the reading contract gives
    that value on every path (None for input that is not a value's fault)."""

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
        field_problem: FieldProblem | None = None,
    ) -> None:
        self.source, self.problem = source, problem
        self.field_problem = field_problem  # the reading contract's problem, when it is one
        self.line, self.row, self.column = line, row, column
        where = [
            f"line {line}" if line is not None else "",
            f"row index {row}" if row is not None else "",
        ]
        where.append(f"column {column}" if column else "")
        place = ", ".join(w for w in where if w)
        super().__init__(f"{source}: {place + ': ' if place else ''}{problem}")


@dataclass(frozen=True)
class Unread:
    """A record that could not be read: its ``position`` among its chunk's records, where
    it is in the source (``line`` of a text file, else ``row``, 0-based), and why."""

    position: int
    problems: tuple[FieldProblem, ...]
    line: int | None = None
    row: int | None = None
    keys: tuple[tuple[str, Any], ...] = ()  # the schema's key fields that could be read

    def place(self, origin: str | None = None) -> str:
        """``line 17`` (``line 17 of part-2.jsonl`` with the file it is in)."""
        where = f"line {self.line}" if self.line is not None else f"row {self.row}"
        return f"{where} of {origin}" if origin else where

    def messages(self, origin: str | None = None) -> list[str]:
        """The problems as a result row's ``errors``: ``line 17: amount: expected ...``."""
        return [f"{self.place(origin)}: {p.message}" for p in self.problems]


@dataclass(frozen=True)
class Chunk:
    """A chunk of a source read without stopping at unreadable records: ``frame`` holds
    the records that could be read, ``unread`` the others (in order)."""

    frame: pl.DataFrame
    unread: tuple[Unread, ...] = ()
    lines: tuple[int, ...] | None = None  # each record's line in a text file, when known
    origin: str | None = None  # the file the chunk is from, when the input is a folder

    @property
    def records(self) -> int:
        return self.frame.height + len(self.unread)

    def place(self, position: int, first: int) -> str:
        """Where the chunk's record at ``position`` is: its line, else its row index
        (``first`` is the index of the chunk's first record in the input)."""
        if self.lines is None:
            return f"row {first + position}"  # in the whole input
        where = f"line {self.lines[position]}"
        return f"{where} of {self.origin}" if self.origin else where


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

    def read_chunks(self) -> Iterator[Chunk]:
        """The input's records as :class:`Chunk` values: records that cannot be read are
        set aside with their problems instead of stopping the read. Sources that cannot
        set a record aside raise :class:`MalformedInputError` as :meth:`chunks` does."""
        for frame in self.chunks():
            yield Chunk(frame)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return self.chunks()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, chunk_size={self.chunk_size})"


# ---- a raw frame in the schema's types ----------------------------------------------------


def conform(
    frame: pl.DataFrame,
    schema: Schema,
    source: str,
    offset: int = 0,
    line_of: Callable[[int], int | None] | None = None,
    unread: list[Unread] | None = None,
    naive_local: bool = False,
) -> pl.DataFrame:
    """``frame`` in the schema's types (``naive_local``: typed datetimes without a zone are
    local times of their field's zone, as read from Parquet): scalar columns read by the
    reading contract
    (:func:`kaskad.execute.contract_frame.read_columns`: text by its grammar, empty text
    missing), text inside lists and objects too, as in JSON Lines
    (:func:`kaskad.io.nested_text.read_nested_text`), others cast. A value that cannot
    be read is reported at its row index (``offset`` + its row in ``frame``), or at its
    line when ``line_of`` maps row indexes to lines, with the contract's field problem;
    given ``unread``, its record is left out and added there instead."""

    raw_frame = frame

    def malformed(
        row: int, path: str, problem: str, field: FieldProblem | None = None
    ) -> MalformedInputError:
        if sensitive_at(schema, path):  # never echo a sensitive value
            problem = hidden_text(path)
            field = redact(field) if field is not None else None
        if line_of is not None:
            return MalformedInputError(
                source, problem, line=line_of(offset + row), column=path, field_problem=field
            )
        return MalformedInputError(
            source, problem, row=offset + row, column=path, field_problem=field
        )

    nested = read_nested_text(frame, schema)  # text inside lists and objects, as JSON
    frame = nested.frame
    read = read_columns(frame, schema, naive_local)
    if unread is not None and (read.unread or nested.problems):
        return _set_aside(frame, read, schema, offset, line_of, unread, source, nested.problems)
    scalar = read.first()
    if nested.problems and (scalar is None or min(nested.problems) <= scalar[0]):
        first_row = min(nested.problems)
        first_problem = nested.problems[first_row][0]
        path = first_problem.path or ""
        dtype = _dtype_at(schema, path)
        raw_value = _at(raw_frame.row(first_row, named=True), path, dtype)
        text = problem_text(raw_value, dtype, first_problem)
        raise malformed(first_row, path, text, first_problem)
    if scalar is not None:
        at, name = scalar
        f = schema.field(name)
        assert f is not None
        raw = frame[name][at]
        _, found = read_value(raw, f.dtype, name)
        raise malformed(at, name, problem_text(raw, f.dtype, found), found)
    frame = read.frame
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


def _set_aside(
    raw: pl.DataFrame,
    read: Read,
    schema: Schema,
    offset: int,
    line_of: Callable[[int], int | None] | None,
    unread: list[Unread],
    source: str,
    nested: dict[int, list[FieldProblem]] | None = None,
) -> pl.DataFrame:
    """The readable records of ``raw`` in the schema's types; the others go to ``unread``
    (with ``nested``, the problems of text inside lists and objects, by row)."""
    problems: dict[int, list[FieldProblem]] = {
        k: [redact_at(schema, p) for p in v] for k, v in (nested or {}).items()
    }
    for name, mask in read.unread.items():
        f = schema.field(name)
        assert f is not None
        for at in mask.arg_true().to_list():
            _, found = read_value(raw[name][at], f.dtype, name)
            if found is None:  # the column reader and the value reader disagree: say so
                found = FieldProblem(name, "wrong_type", str(f.dtype), repr(raw[name][at]))
            problems.setdefault(at, []).append(redact_at(schema, found))
    keys = [f.name for f in schema.fields if f.key and f.name in read.frame.columns]
    for at in sorted(problems):
        line = line_of(offset + at) if line_of is not None else None
        row = None if line is not None else offset + at
        known = tuple((k, read.frame[k][at]) for k in keys if k not in read.unread)
        unread.append(Unread(at, tuple(problems[at]), line, row, known))
    keep = pl.Series([i not in problems for i in range(raw.height)])
    return conform(read.frame.filter(keep), schema, source, offset)


def hidden_text(path: str) -> str:
    """A batch error's text for a value of a sensitive field that cannot be read."""
    return f"cannot read the value of {path} (sensitive, not shown)"


def problem_text(raw: Any, dtype: DType, found: FieldProblem | None) -> str:
    """A batch error's text for a value the contract refuses: ``cannot read 'x' as float``,
    and what is wrong when that says more (``1e309 is out of the float range``)."""
    text = cannot_read(raw, dtype)
    if found is not None and found.problem != "wrong_type":
        text += f" ({found.detail})"
    return text


# ---- JSON Lines -------------------------------------------------------------------------


def json_lines_frame(
    lines: Sequence[bytes],
    schema: Schema,
    source: str,
    first_line: int = 1,
    unread: list[Unread] | None = None,
) -> pl.DataFrame:
    """JSON Lines (one record per line, blank lines skipped) as a frame in the schema's
    types, read by the reading contract. Polars reads clean input at full speed; input that
    might read differently (empty text, a value that is not text in a text field, a
    datetime outside the contract's grammar, anything Polars refuses) is read record by
    record with :func:`kaskad.execute.contract.read_nested`. Given ``unread``, a line
    that cannot be read is added there instead of raising."""
    types = {f.name: to_polars_dtype(f.dtype) for f in schema.fields}
    data = b"".join(lines)
    if not _suspect(schema).search(data):
        if zoned(schema.dtype):  # naive text of a zoned datetime is a local time
            quick = read_zoned(data, schema)
            if quick is not None:
                return quick
        else:
            try:
                return pl.read_ndjson(io.BytesIO(data), schema=types)
            except pl.exceptions.PolarsError:
                pass
    rows: list[dict[str, Any]] = []

    keys = [f for f in schema.fields if f.key]

    def set_aside(at: int, problems: list[FieldProblem], record: Any = None) -> None:
        assert unread is not None
        cleaned = tuple(
            redact_at(
                schema,
                FieldProblem(
                    (p.path or "").lstrip(".") or None, p.problem, p.expected, p.got, p.note
                ),
            )
            for p in problems
        )
        known: list[tuple[str, Any]] = []
        for f in keys if isinstance(record, dict) else []:
            value, problem = read_value(record.get(f.name), f.dtype, f.name)
            if problem is None and value is not None:
                known.append((f.name, value))
        place = len(rows) + len(unread) - base
        unread.append(Unread(place, cleaned, first_line + at, keys=tuple(known)))

    base = len(unread) if unread is not None else 0
    for i, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        try:
            record = loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as bad:
            where = f" at character {bad.colno}" if isinstance(bad, json.JSONDecodeError) else ""
            problem = f"not valid JSON{where} ({reason(bad)})"
            if unread is not None:
                set_aside(i, [FieldProblem(None, "not_json", note=problem)])
                continue
            raise MalformedInputError(source, problem, line=first_line + i) from None
        if not isinstance(record, dict):
            problem = f"expected a JSON object, got {_json_kind(record)}"
            if unread is not None:
                set_aside(i, [FieldProblem(None, "not_an_object", note=problem)])
                continue
            raise MalformedInputError(source, problem, line=first_line + i)
        values, problems = read_nested(record, schema.dtype, "")
        if problems and unread is not None:
            set_aside(i, problems, record)
            continue
        if problems:
            found = problems[0]
            path = (found.path or "").lstrip(".")
            dtype = _dtype_at(schema, path)
            raw = _at(record, path, dtype)
            problem = problem_text(raw, dtype, found)
            field = FieldProblem(path, found.problem, found.expected, found.got, found.note)
            if sensitive_at(schema, path):  # never echo a sensitive value
                problem, field = hidden_text(path), redact(field)
            raise MalformedInputError(
                source, problem, line=first_line + i, column=path, field_problem=field
            )
        rows.append(values)
    if not rows:
        return pl.DataFrame(schema=types)
    return pl.DataFrame(rows, schema=types)


def _at(record: Any, path: str, dtype: DType) -> Any:
    """The raw value at a problem's path (``a.b``, ``items[].x``: the first that fails)."""
    return _find(record, path.replace("[]", ".[]").split("."), dtype)


def _find(value: Any, parts: list[str], dtype: DType) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if head == "[]":
        for item in value if isinstance(value, list) else []:
            found = _find(item, rest, dtype)
            if found is not None and read_nested(found, dtype, "")[1]:
                return found
        return None
    return _find(value.get(head) if isinstance(value, dict) else None, rest, dtype)


def _dtype_at(schema: Schema, path: str) -> DType:
    dtype = schema.dtype
    for part in path.replace("[]", ".[]").split("."):
        if part == "[]":
            assert dtype.item is not None
            dtype = dtype.item
        else:
            found = dtype.field(part)
            assert found is not None
            dtype = found.dtype
    return dtype


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "text", bool: "true/false"}.get(type(value), "a number")


_SUSPECTS: dict[tuple[str, str], re.Pattern[bytes]] = {}


def _suspect(schema: Schema) -> re.Pattern[bytes]:
    """What in JSON Lines text Polars might read otherwise than the contract: empty text,
    a value other than text or null for a text field's name, text for a datetime field's
    name that is not in the contract's grammar. Names are matched at any depth, so a name
    that fields of other types use too only costs the fast path."""
    texts = _names(schema.dtype, ("string", "category"))
    datetimes = _names(schema.dtype, ("datetime",))
    key = ("|".join(sorted(texts)), "|".join(sorted(datetimes)))
    found = _SUSPECTS.get(key)
    if found is None:
        alternatives = [rb':\s*""']
        if texts:
            names = b"|".join(re.escape(n.encode()) for n in sorted(texts))
            alternatives.append(rb'"(?:' + names + rb')"\s*:\s*(?!"|null)')
        if datetimes:
            names = b"|".join(re.escape(n.encode()) for n in sorted(datetimes))
            grammar = DATETIME_TEXT.encode()
            alternatives.append(rb'"(?:' + names + rb')"\s*:\s*"(?!(?:' + grammar + rb')")')
        found = _SUSPECTS[key] = re.compile(b"|".join(alternatives))
    return found


def _names(dtype: DType, kinds: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for f in dtype.fields:
        inner = f.dtype
        while inner.kind == "list" and inner.item is not None:
            inner = inner.item
        if inner.kind in kinds:
            out.add(f.name)
        if inner.kind == "object":
            out |= _names(inner, kinds)
    return out


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
    problem = cannot_read(one[0], dtype)
    if one.dtype == pl.String and dtype.kind in FROM_TEXT:
        problem += f" (text inside a list or object is not converted: store {dtype} values)"
    return path, problem


# ---- JSON values ------------------------------------------------------------------------


def ndjson_reads(lines: Sequence[bytes], types: dict[str, pl.DataType]) -> bool:
    """Whether Polars reads these JSON Lines with these column types."""
    try:
        pl.read_ndjson(io.BytesIO(b"".join(lines)), schema=types)
    except pl.exceptions.PolarsError:
        return False
    return True


def json_problem(value: Any, dtype: DType, path: str) -> tuple[str, DType, Any] | None:
    """The innermost part of a JSON value that Polars cannot read as ``dtype``: its path,
    type and value; ``None`` when the whole value reads."""
    if ndjson_reads([json.dumps({"v": value}).encode()], {"v": to_polars_dtype(dtype)}):
        return None
    if dtype.kind == "object" and isinstance(value, dict):
        for f in dtype.fields:
            found = json_problem(value.get(f.name), f.dtype, f"{path}.{f.name}")
            if found is not None:
                return found
    elif dtype.kind == "list" and dtype.item is not None and isinstance(value, list):
        for item in value:
            found = json_problem(item, dtype.item, f"{path}[]")
            if found is not None:
                return found
    return path, dtype, value


# ---- checks and messages ----------------------------------------------------------------


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


def check_columns(source: str, schema: Schema, present: set[str], line: int | None = None) -> None:
    """Raise :class:`MalformedInputError` when a required column is not ``present``."""
    missing = [f.name for f in schema.fields if f.required and f.name not in present]
    if missing:
        problem = "required column" + ("s " if len(missing) > 1 else " ")
        problem += f"{', '.join(missing)} missing (columns present: "
        problem += f"{', '.join(sorted(present)[:20]) or 'none'})"
        raise MalformedInputError(source, problem, line=line, column=missing[0])


def cannot_read(value: Any, dtype: DType) -> str:
    """The problem with a value that is not of its field's type (long values cut short)."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"cannot read {shown} as {dtype}"


def reason(exc: BaseException) -> str:
    """The first line of a library error, for messages."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def wrapped(source: str, what: str, *errors: type[Exception]) -> Iterator[None]:
    """Library errors at the boundary → :class:`InputError` naming the source."""
    try:
        yield
    except InputError:
        raise
    except errors as exc:
        raise InputError(f"{source}: cannot read as {what}: {reason(exc)}") from exc
