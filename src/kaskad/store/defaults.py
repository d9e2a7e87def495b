"""Where a store lives by default and the decision log's default limits.

A module of plain constants: the CLI reads it to show its options' defaults without
importing the store's database layer (SQLAlchemy, Alembic).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DEFAULT_FOLDER",
    "DEFAULT_JOURNAL_LIMIT_BYTES",
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
]

DEFAULT_FOLDER = Path(".kaskad")
"""The store folder when none is given: SQLite database, artifacts and release cache."""

DEFAULT_QUEUE_SIZE = 1024
"""Decision-log records waiting at most before the server answers 503."""

DEFAULT_QUEUE_BYTES = 64 << 20  # 64 MiB
"""Bytes of request bodies a server holds until their decision-log records are committed."""

DEFAULT_JOURNAL_LIMIT_BYTES = 1 << 30  # 1 GiB
"""Disk the decision journal may use while the store is behind or down."""
