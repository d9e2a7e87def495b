"""A fresh store per test, on SQLite (in tmp_path) and on a real PostgreSQL.

PostgreSQL is expected at 127.0.0.1:5432 (user postgres, trust auth). Each test gets
its own database, dropped afterwards. Without PostgreSQL those tests skip, unless
KASKAD_REQUIRE_SERVICES=1 (as in CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from kaskad.store import LocalArtifactStore, Store

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql://postgres@127.0.0.1:5432/{name}"

OpenStore = Callable[[], Store]


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to PostgreSQL's ``test`` database, for CREATE/DROP DATABASE."""
    try:
        conn = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres ({exc})"
        if os.environ.get("KASKAD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; KASKAD_REQUIRE_SERVICES=1 requires it")
        pytest.skip(reason)
    with conn:
        yield conn


@pytest.fixture
def pg_database(pg_admin: psycopg.Connection[tuple[object, ...]]) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = f"kaskad_test_{secrets.token_hex(6)}"
    pg_admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PG_URL.format(name=name)
    finally:
        pg_admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        pg_admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens (again, on each call) the test's store; every store opened is closed after."""
    artifacts = tmp_path / "artifacts"
    if request.param == "sqlite":
        location: str | Path = tmp_path / "store"
    else:
        location = request.getfixturevalue("pg_database")
    opened: list[Store] = []

    def open_() -> Store:
        store = Store.open(location, artifacts=LocalArtifactStore(artifacts))
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store()
