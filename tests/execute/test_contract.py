"""One reading contract on every path: each case of ``contract_cases.CASES`` gives the
same outcome over HTTP JSON and XML, ``kaskad decide``, JSON Lines, CSV, Parquet and
PostgreSQL (Spark: ``tests/batch/test_spark_contract.py``)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import polars as pl
import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.cli.main import app
from kaskad.errors import FieldProblem
from kaskad.execute.contract import JsonNumber, loads, read_value
from kaskad.execute.contract_frame import read_columns
from kaskad.io.reading import MalformedInputError, Source
from kaskad.io.sources import CsvSource, JsonLinesSource, ParquetSource
from kaskad.serve.inputs import parse_record
from tests.execute.contract_cases import CASES, PIPELINE, Case, Outcome, matches, rejected, value

PLAN = compile_pipeline(PIPELINE)
RECORD = RecordExecutor(PLAN)
BATCH = BatchExecutor(PLAN)


def record_outcome(case: Case, record: Any) -> Outcome:
    decision = RECORD.decide(record)
    if decision.output["status"] == "decided":
        return value(decision.output[f"{case.field}_out"])
    [problem] = decision.problems
    if problem.problem in ("wrong_type", "out_of_range"):
        return ("refused", problem.path, problem.problem, problem.expected)
    return rejected(problem.message)


def batch_outcome(case: Case, source: Source) -> Outcome:
    try:
        frames = list(source.chunks())
    except MalformedInputError as exc:
        found = exc.field_problem
        assert isinstance(found, FieldProblem), str(exc)
        assert exc.column == case.field
        return ("refused", found.path, found.problem, found.expected)
    [row] = BATCH.run(pl.concat(frames)).to_dicts()
    if row["status"] == "decided":
        return value(row[f"{case.field}_out"])
    [message] = row["errors"]
    return rejected(message)


def json_body(case: Case) -> bytes:
    return f'{{"id": "k", "{case.field}": {case.literal}}}'.encode()


def check(got: Outcome, case: Case) -> None:
    assert matches(got, case.outcome), f"{case.id}: got {got}, want {case.outcome}"
    if got[0] == "value" and isinstance(got[1], float):
        assert math.copysign(1, got[1]) == math.copysign(1, case.outcome[1])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_http_json(case: Case) -> None:
    check(record_outcome(case, parse_record(json_body(case), "json", PLAN.schema)), case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_http_xml(case: Case) -> None:
    inner = "" if case.text is None else f"<{case.field}>{escape(case.text)}</{case.field}>"
    body = f"<record><id>k</id>{inner}</record>".encode()
    check(record_outcome(case, parse_record(body, "xml", PLAN.schema)), case)


@pytest.mark.slow
def test_decide_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    for case in CASES:
        path = tmp_path / "record.json"
        path.write_bytes(json_body(case))
        done = runner.invoke(app, ["decide", str(PIPELINE), "--input", str(path), "--json"])
        assert done.exit_code in (0, 3), done.output
        result = json.loads(done.stdout)["result"]
        out = result[f"{case.field}_out"]
        got = value(out) if result["status"] == "decided" else rejected(result["errors"][0])
        want = case.outcome
        if got[0] == "value" and isinstance(want[1], (type(None), str)) is False:
            got = value(_typed(out, want[1]))
        check(got, case)


def _typed(out: Any, like: Any) -> Any:
    """A JSON result value in the type of the wanted one (dates are ISO text in JSON)."""
    if out is None or like is None:
        return out
    if isinstance(like, float):
        return float(out)
    return type(like).fromisoformat(out) if hasattr(type(like), "fromisoformat") else out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_json_lines(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(json_body(case) + b"\n")
    check(batch_outcome(case, JsonLinesSource(path, PLAN.schema)), case)


def csv_text(case: Case) -> str:
    out = io.StringIO()
    cell = case.text
    if cell is None:
        out.write(f"id,{case.field}\nk,\n")
    elif case.quoted:
        out.write(f'id,{case.field}\nk,"{cell.replace(chr(34), chr(34) * 2)}"\n')
    else:
        csv.writer(out, lineterminator="\n").writerows([["id", case.field], ["k", cell]])
    return out.getvalue()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_csv(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(csv_text(case), encoding="utf-8")
    check(batch_outcome(case, CsvSource(path, PLAN.schema)), case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parquet_text_columns(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pl.DataFrame(
        {"id": ["k"], case.field: [case.text]}, schema={"id": pl.String, case.field: pl.String}
    ).write_parquet(path)
    check(batch_outcome(case, ParquetSource(path, PLAN.schema)), case)


@pytest.mark.slow
def test_postgresql_text_columns(pg_database: str) -> None:
    from kaskad.io.postgres import PostgresSource

    with psycopg.connect(pg_database, autocommit=True) as conn:
        for n, case in enumerate(CASES):
            table = sql.Identifier(f"case_{n}")
            column = sql.Identifier(case.field)
            conn.execute(sql.SQL("CREATE TABLE {} (id text, {} text)").format(table, column))
            conn.execute(sql.SQL("INSERT INTO {} VALUES ('k', %s)").format(table), (case.text,))
    for n, case in enumerate(CASES):
        source = PostgresSource(pg_database, PLAN.schema, table=f"case_{n}")
        check(batch_outcome(case, source), case)


# ---- the two readers agree; typed values; the decision log ----------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_polars_and_python_readers_agree_on_text(case: Case) -> None:
    f = PLAN.schema.field(case.field)
    assert f is not None
    frame = pl.DataFrame({case.field: [case.text]}, schema={case.field: pl.String})
    read = read_columns(frame, PLAN.schema)
    got, problem = read_value(case.text, f.dtype, case.field)
    assert (case.field in read.unread) == (problem is not None)
    if problem is None:
        assert read.frame[case.field][0] == got


def test_typed_nan_and_infinity_are_refused_by_the_finite_default(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pl.DataFrame(
        {"id": ["a", "b", "c", "d"], "f": [float("nan"), float("inf"), -float("inf"), 1.0]}
    ).write_parquet(path)
    rows = BATCH.run(pl.concat(list(ParquetSource(path, PLAN.schema).chunks()))).to_dicts()
    want = "f: must be a finite number (NaN and infinity are refused)"
    assert [r["errors"] for r in rows] == [[want], [want], [want], []]
    for r, x in zip(rows, [float("nan"), float("inf"), -float("inf"), 1.0], strict=True):
        assert RECORD.decide({"id": r["id"], "f": x}).output["errors"] == r["errors"]


def test_typed_floats_are_refused_for_integer_fields(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pl.DataFrame({"id": ["a"], "i": [11.0]}).write_parquet(path)
    with pytest.raises(MalformedInputError) as info:
        list(ParquetSource(path, PLAN.schema).chunks())
    assert info.value.field_problem == FieldProblem("i", "wrong_type", "integer", "number 11.0")
    assert RECORD.decide({"id": "a", "i": 11.0}).problems == (info.value.field_problem,)


def test_json_numbers_no_store_can_write_are_kept_as_their_text() -> None:
    import orjson

    record = loads(b'{"id": "k", "f": 100000000000000000000000000, "extra": 1e400, "n": NaN}')
    assert record["f"] == JsonNumber("100000000000000000000000000")
    assert isinstance(record["extra"], JsonNumber) and isinstance(record["n"], JsonNumber)
    assert orjson.dumps(record) == (
        b'{"id":"k","f":"100000000000000000000000000","extra":"1e400","n":"NaN"}'
    )
    assert RECORD.decide(record).output["f_out"] == 1e26
