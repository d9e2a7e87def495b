"""Monthly partitions of the decision log on PostgreSQL.

On PostgreSQL the ``decisions`` table is partitioned by range of ``at``, one partition a
calendar month (UTC), named ``decisions_yYYYYmMM``, with a default partition
(``decisions_default``) that catches rows of a month that has no partition yet. Inserts
touch one small partition's indexes whatever the size of the whole log, and dropping a
month (:func:`kaskad.store.decision_keeping.prune`) is a metadata operation instead of a
large ``DELETE``. The primary key is ``(decision_id, at)`` (PostgreSQL requires the
partition key in it); decision ids are UUIDs.

:func:`ensure_months` creates the partitions of the given months: rows of those months
already in the default partition are moved into the new one before it is attached, so
it may be run at any time. The decision log's writer runs it when it opens and once a
day (this month and the next two). SQLite keeps one table. Private to
:mod:`kaskad.store`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import Connection, text

DEFAULT_PARTITION = "decisions_default"
MONTHS_AHEAD = 2
_LOCK_KEY = 0x6B61736B6170  # serializes partition changes between processes
_NAME = re.compile(r"^decisions_y(\d{4})m(\d{2})$")

Month = tuple[int, int]


def month_of(when: dt.datetime) -> Month:
    when = when.astimezone(dt.UTC) if when.tzinfo else when
    return when.year, when.month


def next_month(month: Month) -> Month:
    year, m = month
    return (year + 1, 1) if m == 12 else (year, m + 1)


def months_between(first: Month, last: Month) -> list[Month]:
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    return months


def partition_name(month: Month) -> str:
    return f"decisions_y{month[0]:04d}m{month[1]:02d}"


def bounds(month: Month) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(month[0], month[1], 1, tzinfo=dt.UTC)
    end_year, end_month = next_month(month)
    return start, dt.datetime(end_year, end_month, 1, tzinfo=dt.UTC)


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relname = 'decisions' AND c.relnamespace = current_schema()::regnamespace"
        )
    ).first()
    return found is not None


def existing_months(conn: Connection) -> list[Month]:
    """The months that have a partition, oldest first."""
    names = conn.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'decisions'"
            " AND p.relnamespace = current_schema()::regnamespace"
        )
    )
    months = []
    for name in names:
        match = _NAME.match(name)
        if match:
            months.append((int(match[1]), int(match[2])))
    return sorted(months)


def ensure_months(conn: Connection, months: Iterable[Month]) -> list[str]:
    """Create the partitions of ``months`` that do not exist yet (moving their rows out of
    the default partition first); the names created. Runs in the caller's transaction."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    have = set(existing_months(conn))
    created = []
    for month in sorted(set(months) - have):
        name = partition_name(month)
        start, end = bounds(month)
        window = {"start": start, "end": end}
        conn.execute(text(f"CREATE TABLE {name} (LIKE decisions INCLUDING DEFAULTS)"))
        conn.execute(
            text(
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE at >= :start AND at < :end"
                f" RETURNING *) INSERT INTO {name} SELECT * FROM moved"
            ),
            window,
        )
        conn.execute(
            text(
                f"ALTER TABLE decisions ATTACH PARTITION {name}"
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        created.append(name)
    return created


def ensure_ahead(conn: Connection, now: dt.datetime | None = None) -> list[str]:
    """This month's partition and the next :data:`MONTHS_AHEAD` (PostgreSQL only)."""
    if not is_partitioned(conn):
        return []
    first = month_of(now or dt.datetime.now(dt.UTC))
    last = first
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    return ensure_months(conn, months_between(first, last))


def drop_months_before(conn: Connection, before: dt.datetime) -> dict[str, int]:
    """Drop the partitions whose whole month is before ``before``: name → rows dropped."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    dropped = {}
    for month in existing_months(conn):
        if bounds(month)[1] > before:
            continue
        name = partition_name(month)
        dropped[name] = int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
        conn.execute(text(f"ALTER TABLE decisions DETACH PARTITION {name}"))
        conn.execute(text(f"DROP TABLE {name}"))
    return dropped
