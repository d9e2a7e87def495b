"""Where a store lives, how its database is opened, and how its schema is migrated.

Private to :mod:`kaskad.store`; :meth:`kaskad.store.Store.open` is the public door.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from kaskad.errors import StoreError, StoreUnavailableError
from kaskad.extras import has_module, missing_extra
from kaskad.store.artifacts import ArtifactStore, LocalArtifactStore
from kaskad.store.defaults import DEFAULT_FOLDER

DATABASE_FILE = "kaskad.db"
ARTIFACTS_FOLDER = "artifacts"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_S = 30
POSTGRES_CONNECT_TIMEOUT_S = 10
# Serializes concurrent migrations of one PostgreSQL database (any constant unique to kaskad).
_MIGRATION_LOCK_KEY = 0x6B61736B6164  # "kaskad"
# Execution option marking connections that write; on SQLite they BEGIN IMMEDIATE.
WRITE_OPTION = "kaskad_write"


@dataclass(frozen=True)
class Location:
    url: URL
    artifacts: ArtifactStore | None  # None: in the store's own database


def shown(url: URL) -> str:
    """The URL as it may appear in messages and logs (password hidden)."""
    return url.render_as_string(hide_password=True)


def locate(location: str | Path | None, artifacts: ArtifactStore | None) -> Location:
    """Resolve ``Store.open``'s arguments into a database URL and an artifact store.

    A store given by URL keeps its artifacts in its database (``artifacts`` None) unless
    an artifact store is passed; a folder keeps them in its ``artifacts/`` folder.
    """
    if isinstance(location, str) and "://" in location:
        return Location(database_url(location), artifacts)
    folder = Path(location if location is not None else DEFAULT_FOLDER).absolute()
    if folder.exists() and not folder.is_dir():
        raise StoreError(
            f"{folder} is a file, not a folder: pass the folder that holds (or will hold)"
            f" {DATABASE_FILE}, or a database URL such as sqlite:///{folder}"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the store folder {folder}: {exc}") from exc
    url = URL.create("sqlite+pysqlite", database=str(folder / DATABASE_FILE))
    return Location(url, artifacts or LocalArtifactStore(folder / ARTIFACTS_FOLDER))


def database_url(raw: str) -> URL:
    """Parse a database URL; plain ``postgresql://`` means the psycopg 3 driver."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise StoreError(f"{raw!r} is not a database URL: {exc}") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {shown(url)}: kaskad stores its registry in SQLite"
            " (sqlite:///path/kaskad.db) or PostgreSQL (postgresql://user@host/db)"
        )
    if backend == "postgresql" and url.get_driver_name() == "psycopg" and not has_module("psycopg"):
        raise StoreError(missing_extra("a store in PostgreSQL", "psycopg", "postgres"))
    return url


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # kaskad issues BEGIN itself (see _sqlite_begin) so that SELECTs are inside the
    # transaction and writers take the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A writer that began DEFERRED and read first could not upgrade its snapshot to a
    # write lock under WAL ("database is locked", the busy timeout does not help);
    # IMMEDIATE takes the lock at BEGIN and waits for it up to the busy timeout.
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def open_engine(url: URL, json_serializer: Callable[[Any], str] | None = None) -> Engine:
    """A new engine for ``url`` (nothing is connected yet); ``json_serializer`` replaces
    ``json.dumps`` for JSON columns (e.g. a faster encoder for the decision log)."""
    extra: dict[str, Any] = {} if json_serializer is None else {"json_serializer": json_serializer}
    if url.get_backend_name() == "sqlite":
        kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        if _is_memory(url):
            # One shared connection: an in-memory database exists only inside it.
            kwargs = {
                "connect_args": {"check_same_thread": False},
                "poolclass": StaticPool,
            }
        elif url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs, **extra)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **extra)


def limit_waits(engine: Engine, timeout_s: float) -> None:
    """Connections of ``engine`` made from now on wait at most ``timeout_s`` for a lock
    (SQLite's busy timeout; PostgreSQL's lock and statement timeouts), then fail."""
    ms = max(1, int(timeout_s * 1000))
    sqlite = engine.dialect.name == "sqlite"

    def set_timeouts(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if sqlite:
                cursor.execute(f"PRAGMA busy_timeout={ms}")
            else:
                cursor.execute(f"SET lock_timeout = {ms}")
                cursor.execute(f"SET statement_timeout = {ms}")
        finally:
            cursor.close()
        if not sqlite:
            dbapi_connection.commit()

    event.listen(engine, "connect", set_timeouts)


def writer(engine: Engine) -> Engine:
    """The same engine and pool, for connections that write."""
    return engine.execution_options(**{WRITE_OPTION: True})


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision this kaskad knows (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    try:
        with writer(engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except DBAPIError as exc:
        where = shown(engine.url)
        error = StoreUnavailableError if isinstance(exc, OperationalError) else StoreError
        raise error(f"cannot open the kaskad store at {where}: {exc.orig}") from exc
    except CommandError as exc:
        raise StoreError(
            f"cannot bring the kaskad store at {shown(engine.url)} up to date: {exc}"
            " (was it written by a newer kaskad?)"
        ) from exc


@contextmanager
def reading(location: str) -> Iterator[Engine]:
    """A short-lived engine on the store at ``location``, its schema brought up to date;
    disposed on exit (readers of the decision log, CLI commands)."""
    engine = open_engine(locate(location, None).url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
