"""PostgreSQL timestamps into zoned fields: ``timestamp`` is a local time of the field's
zone, ``timestamptz`` an instant (against the real server; skips without it unless
KASKAD_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import psycopg
import pytest
from psycopg import sql

from kaskad import BatchExecutor, compile_pipeline
from kaskad.io.sources import open_source

PLAN = compile_pipeline(Path(__file__).resolve().parents[1] / "execute" / "zoned" / "pipeline.yaml")
URL = "postgresql://postgres@127.0.0.1:5432/test"
Admin = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def table(pg_admin: Admin) -> Iterator[str]:
    name = f"kaskad_zones_{secrets.token_hex(4)}"
    yield name
    pg_admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def test_timestamp_is_local_and_timestamptz_an_instant(pg_admin: Admin, table: str) -> None:
    pg_admin.execute(
        sql.SQL("CREATE TABLE {} (id text, ts timestamp, ts_utc timestamptz)").format(
            sql.Identifier(table)
        )
    )
    pg_admin.execute(
        sql.SQL(
            "INSERT INTO {} VALUES ('a', '2026-01-01 23:59:59', '2026-01-01 21:00:00+00'),"
            " ('b', '2026-01-02 00:00:00', NULL)"
        ).format(sql.Identifier(table))
    )
    frame = pl.concat(list(open_source(URL, PLAN.schema, table=table).chunks()))
    rows = BatchExecutor(PLAN).run(frame).to_dicts()
    assert [(r["h"], r["dd"], r["h_utc"]) for r in rows] == [
        (23, dt.date(2026, 1, 1), 21),
        (0, dt.date(2026, 1, 2), None),
    ]
