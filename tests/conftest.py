"""Shared fixtures. Tests needing PostgreSQL (the one external service the suite uses) skip
when it is absent, unless KASKAD_REQUIRE_SERVICES=1 (as in CI), where they fail instead.

PostgreSQL is expected at 127.0.0.1:5432 (user postgres, trust auth); ``pg_database``
gives each test a database of its own, dropped afterwards, so tests may run in parallel
(``pytest -n auto``); the credit example is built once, under a file lock."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from psycopg import sql

from kaskad.io.files import frame_from_records
from kaskad.spec.schema import Schema

# pytest-xdist starts its workers with COLUMNS=80, and a Rich console created while it is
# set keeps that width for good (the CLI's consoles are made at import). Without it, they
# read COLUMNS each time they print, as set by the CLI tests.
os.environ.pop("COLUMNS", None)

# The longest tests (the offline bundle install, each documentation page: about half the
# suite's time) run first: a worker that runs out of tests takes some of another's not yet
# started (pyproject.toml: --dist worksteal), but none can share a test already running,
# so one of these starting last would leave a worker alone for minutes.
LONGEST = ("tests/deliver/test_offline_e2e.py::", "tests/docs/test_examples.py::test_page_")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST))  # stable: else as found


PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql://postgres@127.0.0.1:5432/{name}"


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


ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "credit"


def frame_of(records: list[dict[str, Any]], schema: Schema) -> pl.DataFrame:
    """Records as the batch path reads them: JSON Lines parsed with the schema's types."""
    return frame_from_records(records, schema)


@pytest.fixture
def project(example_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the credit example (its files may be edited by the test)."""
    import shutil

    target = tmp_path / "credit"
    shutil.copytree(example_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="session")
def example_dir() -> Path:
    """The credit example with its data and models built (once: parallel workers wait on a
    file lock while the first one builds it)."""
    import fcntl
    import subprocess
    import sys

    models = EXAMPLE / "models"
    data = EXAMPLE / "data" / "applications.jsonl"
    needed = [
        models / "fraud.txt",
        models / "credit_pd.joblib",
        models / "credit_pd_v2.onnx",
        data,
        data.parent / "applications.parquet",
        data.parent / "history.parquet",
    ]
    data.parent.mkdir(exist_ok=True)
    with (data.parent / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not all(p.exists() for p in needed):
            subprocess.run(
                [sys.executable, str(EXAMPLE / "build.py")], check=True, capture_output=True
            )
    return EXAMPLE


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for every Spark test of a worker (a JVM starts once)."""
    from kaskad.batch.spark import session

    spark = session("local[2]", app_name="kaskad-tests")
    yield spark
    spark.stop()
