"""A fresh store per test, on SQLite (in tmp_path) and on a real PostgreSQL (a database
of its own per test, see ``pg_database`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kaskad.store import LocalArtifactStore, Store

OpenStore = Callable[[], Store]


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
