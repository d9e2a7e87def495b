"""PostgreSQL as a source (table or query, JSONB for nested fields) and as a sink (staging
table renamed into place on commit), against the real server.

Each test creates its own uniquely named tables in the ``test`` database and drops them.
Without PostgreSQL the tests skip, unless KASKAD_REQUIRE_SERVICES=1, where they fail.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import psycopg
import pytest
from psycopg import sql

from kaskad import BatchExecutor, compile_pipeline
from kaskad.batch.summary import run_batch
from kaskad.errors import InputError
from kaskad.io.files import read_input
from kaskad.io.sinks import OutputError, open_sink
from kaskad.io.sources import MalformedInputError, open_source

GOLDEN = Path(__file__).resolve().parent.parent / "execute" / "golden" / "aml_unknowns"
PLAN = compile_pipeline(GOLDEN / "pipeline.yaml")
EXECUTOR = BatchExecutor(PLAN)
URL = "postgresql://postgres@127.0.0.1:5432/test"
RECORDS = [json.loads(line) for line in (GOLDEN / "input.jsonl").read_text().splitlines()]

Admin = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def names(pg_admin: Admin) -> Iterator[str]:
    """A unique prefix for this test's tables; every table starting with it is dropped."""
    prefix = f"kaskad_batch_{secrets.token_hex(4)}"
    yield prefix
    tables = pg_admin.execute(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",)
    ).fetchall()
    for (table,) in tables:
        pg_admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(str(table))))


def tables_like(admin: Admin, prefix: str) -> list[str]:
    rows = admin.execute(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE %s ORDER BY 1", (prefix + "%",)
    ).fetchall()
    return [str(r[0]) for r in rows]


def create_input(admin: Admin, table: str, records: list[dict[str, object]]) -> None:
    admin.execute(
        sql.SQL(
            "CREATE TABLE {} (n serial, id text, day date, kind text, amount_rub numeric,"
            " transactions jsonb, extra text)"
        ).format(sql.Identifier(table))
    )
    with admin.cursor() as cur:
        for r in records:
            tx = r.get("transactions")
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (id, day, kind, amount_rub, transactions) VALUES"
                    " (%s, %s, %s, %s, %s)"
                ).format(sql.Identifier(table)),
                (r.get("id"), r.get("day"), r.get("kind"), r.get("amount_rub"),
                 None if tx is None else json.dumps(tx)),
            )  # fmt: skip


def test_table_and_query_sources_equal_the_file(pg_admin: Admin, names: str) -> None:
    table = f"{names}_in"
    create_input(pg_admin, table, RECORDS)
    expected = EXECUTOR.run(read_input(GOLDEN / "input.jsonl", PLAN.schema))
    source = open_source(URL, PLAN.schema, chunk_size=3, table=table)
    assert source.count_rows() == len(RECORDS)
    assert source.name == f"{URL} table {table}"
    chunks = list(source.chunks())
    assert [c.height for c in chunks] == [3, 3, 2]
    assert chunks[0].schema == read_input(GOLDEN / "input.jsonl", PLAN.schema).schema
    assert pl.concat([EXECUTOR.run(c) for c in chunks]).equals(expected)

    query = f"SELECT * FROM {table} WHERE kind <> 'wire' ORDER BY n"
    by_query = open_source(URL, PLAN.schema, chunk_size=5, query=query)
    assert by_query.count_rows() is None
    got = pl.concat([EXECUTOR.run(c) for c in by_query.chunks()])
    assert got.equals(expected.filter(pl.col("id") != "bad-kind"))


def test_bad_values_and_missing_columns(pg_admin: Admin, names: str) -> None:
    table = f"{names}_bad"
    bad = [*RECORDS[:5], {"id": "tx", "transactions": [{"day": "someday"}]}]
    create_input(pg_admin, table, bad)
    with pytest.raises(MalformedInputError) as info:
        list(open_source(URL, PLAN.schema, chunk_size=4, table=table).chunks())
    assert (info.value.row, info.value.column) == (5, "transactions[].day")
    assert "row index 5, column transactions[].day: cannot read 'someday' as date" in str(
        info.value
    )

    query = f"SELECT id, CASE WHEN n = 3 THEN 'soon' ELSE day::text END AS day FROM {table}"
    with pytest.raises(MalformedInputError) as info:
        list(open_source(URL, PLAN.schema, chunk_size=2, query=query).chunks())
    assert (info.value.row, info.value.column) == (2, "day")
    assert "cannot read 'soon' as date" in str(info.value)

    with pytest.raises(MalformedInputError, match="column id: required column id missing"):
        list(open_source(URL, PLAN.schema, query=f"SELECT day FROM {table}").chunks())
    with pytest.raises(InputError, match=r"cannot read as PostgreSQL: .*does not exist"):
        list(open_source(URL, PLAN.schema, table=f"{names}_nope").chunks())
    with pytest.raises(InputError, match="name a table or a query"):
        open_source(URL, PLAN.schema)


def test_sink_replaces_the_table_on_commit_only(pg_admin: Admin, names: str) -> None:
    results = EXECUTOR.run(read_input(GOLDEN / "input.jsonl", PLAN.schema))
    target = f"{names}_out"
    pg_admin.execute(sql.SQL("CREATE TABLE {} (old int)").format(sql.Identifier(target)))
    sink = open_sink(URL, EXECUTOR.output_schema, table=target)
    sink.write(results.head(5))
    sink.write(results.slice(5))
    assert tables_like(pg_admin, names) == [target]  # staging: invisible until commit
    columns = [c.name for c in pg_admin.execute(f"SELECT * FROM {target}").description or ()]
    assert columns == ["old"]
    sink.commit()
    assert tables_like(pg_admin, names) == [target]
    back = open_source(URL, PLAN.schema, table=target)  # the key field id is there
    assert back.count_rows() == results.height
    rows = pg_admin.execute(
        sql.SQL('SELECT id, status, decision, reasons, "aml.hits", "aml.hit_count" FROM {}'
                " ORDER BY id").format(sql.Identifier(target))
    ).fetchall()  # fmt: skip
    expected = sorted(
        results.select("id", "status", "decision", "reasons", "aml.hits", "aml.hit_count").rows()
    )
    assert [tuple(r) for r in rows] == expected  # jsonb comes back as lists


def test_failed_run_leaves_no_table(pg_admin: Admin, names: str) -> None:
    table = f"{names}_in"
    records = RECORDS + RECORDS
    records[7] = {"id": "x", "transactions": [{"day": "someday"}]}  # in the 3rd chunk of 3
    create_input(pg_admin, table, records)
    target = f"{names}_out"
    source = open_source(URL, PLAN.schema, chunk_size=3, table=table)
    sink = open_sink(URL, EXECUTOR.output_schema, table=target)
    with pytest.raises(MalformedInputError, match="row index 7"):
        run_batch(EXECUTOR, source, sink)
    assert tables_like(pg_admin, names) == [table]


def test_sink_errors(pg_admin: Admin, names: str) -> None:
    with pytest.raises(OutputError, match="name the table"):
        open_sink(URL, EXECUTOR.output_schema)
    with pytest.raises(OutputError, match="at most 63 bytes"):
        open_sink(URL, {"x" * 64: pl.String()}, table=f"{names}_long")
    with pytest.raises(OutputError, match="cannot connect"):
        open_sink("postgresql://postgres@127.0.0.1:1/test", EXECUTOR.output_schema, table="t")
