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
    "STORE_ENV",
    "find_store",
]

DEFAULT_FOLDER = Path(".kaskad")
"""The store folder when none is given: SQLite database, artifacts and release cache."""

STORE_ENV = "KASKAD_STORE"
"""The environment variable naming the store (what ``--store`` gives)."""

PROJECT_MARKER = ".git"
"""A project's root: the search for a store stops at the first folder that holds it."""

DEFAULT_QUEUE_SIZE = 1024
"""Decision-log records waiting at most before the server answers 503."""

DEFAULT_QUEUE_BYTES = 64 << 20  # 64 MiB
"""Bytes of request bodies a server holds until their decision-log records are committed."""

DEFAULT_JOURNAL_LIMIT_BYTES = 1 << 30  # 1 GiB
"""Disk the decision journal may use while the store is behind or down."""


def find_store(start: Path | None = None) -> Path | None:
    """The nearest store folder (``.kaskad``) in ``start`` (the current directory) or a
    folder above it, up to the project's root — the first folder holding ``.git`` — so
    that the project's store is found from any of its sub-folders and a store outside the
    repository is not; None when there is none."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_FOLDER
        if candidate.is_dir():
            return candidate
        if (folder / PROJECT_MARKER).exists():
            return None
    return None
