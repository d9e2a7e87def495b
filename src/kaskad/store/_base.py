"""What every part of :class:`kaskad.store.Store` shares: the engine, opening and closing,
and transactions (reads; writes retried when a concurrent writer won a race).

Private to :mod:`kaskad.store`.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from kaskad.errors import StoreError
from kaskad.store import _engine
from kaskad.store.artifacts import ArtifactStore
from kaskad.store.db_artifacts import DatabaseArtifactStore

T = TypeVar("T")

# Concurrent writers that picked the same next number collide on a unique constraint;
# the loser retries with a fresh read.
WRITE_ATTEMPTS = 20
# Errors that mean "another transaction got there first; try again":
# PostgreSQL unique violation, serialization failure, deadlock; SQLite unique/primary key.
_RACE_SQLSTATES = frozenset({"23505", "40001", "40P01"})
_RACE_SQLITE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


class StoreBase:
    """The engine and transactions of a store; :class:`kaskad.store.Store` adds the rest."""

    def __init__(self, engine: Engine, artifacts: ArtifactStore) -> None:
        self._engine = engine
        self._writer = _engine.writer(engine)
        self._closed = False
        self.artifacts = artifacts

    @classmethod
    def open(
        cls, location: str | Path | None = None, artifacts: ArtifactStore | None = None
    ) -> Self:
        """Open (creating and migrating as needed) the store at ``location``.

        ``None`` is the folder ``./.kaskad``; a folder holds ``kaskad.db`` and
        ``artifacts/``; a URL (``sqlite:///…``, ``postgresql://…``) names the database,
        and artifacts then live in that database (:class:`DatabaseArtifactStore`), so
        that every process on it sees them. ``artifacts`` replaces either default.
        """
        where = _engine.locate(location, artifacts)
        engine = _engine.open_engine(where.url)
        try:
            _engine.migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, where.artifacts or DatabaseArtifactStore(engine))

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return _engine.shown(self._engine.url)

    def __repr__(self) -> str:
        return f"Store({self.url!r}, artifacts={self.artifacts!r})"

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _database_errors(self, what: str) -> Iterator[None]:
        if self._closed:
            raise StoreError(f"{what}: the store {self.url} is closed")
        try:
            yield
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StoreError(f"{what}: database error at {self.url}: {cause}") from exc

    @contextmanager
    def _read(self, what: str) -> Iterator[Session]:
        with self._database_errors(what), Session(self._engine) as session:
            yield session

    def _write(self, what: str, change: Callable[[Session], T]) -> T:
        """Run ``change`` in one write transaction, retrying when a concurrent writer won."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with (
                    self._database_errors(what),
                    Session(self._writer, expire_on_commit=False) as session,
                    session.begin(),
                ):
                    return change(session)
            except StoreError as exc:
                cause = exc.__cause__
                if not isinstance(cause, DBAPIError) or not _lost_a_race(cause):
                    raise
                if attempt == WRITE_ATTEMPTS - 1:
                    raise StoreError(
                        f"{what}: gave up after {WRITE_ATTEMPTS} attempts that collided with"
                        f" concurrent writers: {cause.orig}"
                    ) from cause
                time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
        raise AssertionError("unreachable")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lost_a_race(exc: DBAPIError) -> bool:
    orig = exc.orig
    return (
        getattr(orig, "sqlstate", None) in _RACE_SQLSTATES
        or getattr(orig, "sqlite_errorname", None) in _RACE_SQLITE
    )
