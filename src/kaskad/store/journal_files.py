"""The files of a decision journal: record lines, the folder lock, durable renames."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any

import orjson

from kaskad.errors import StoreError
from kaskad.jsonio import dumps
from kaskad.store.decisions import DecisionRecord, PlanRecord, Record, ShadowRecord

if sys.platform != "win32":
    import fcntl

LOG = logging.getLogger("kaskad.store.journal")
LOCK_FILE = ".lock"


class JournalError(StoreError):
    """A decision journal cannot be opened: its folder cannot be written, another process
    uses it, or a database URL gives it no default folder (a server refuses to start)."""

    code = "K605"


_KINDS = {DecisionRecord: "decision", ShadowRecord: "shadow", PlanRecord: "plan"}


def encode(record: Record) -> bytes:
    """One journal line: ``{"type": ..., "fields": {...}}`` and a newline."""
    if record.at.tzinfo is None:
        raise ValueError(f"timestamp {record.at.isoformat()} has no time zone; use UTC")
    fields = dict(vars(record))  # the dataclass's fields
    fields["at"] = record.at.isoformat()
    return dumps({"type": _KINDS[type(record)], "fields": fields}) + b"\n"


def decode(line: bytes, path: Path, offset: int) -> Record | None:
    """The record of one journal line; None, with a warning, for a line that is not one."""
    try:
        data: Any = orjson.loads(line)
        fields = dict(data["fields"])
        fields["at"] = dt.datetime.fromisoformat(fields["at"])
        if data["type"] == "decision":
            return DecisionRecord(**fields)
        if data["type"] == "shadow":
            return ShadowRecord(**fields)
        if data["type"] == "plan":
            return PlanRecord(**fields)
        raise ValueError(f"unknown record type {data['type']!r}")
    except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        LOG.warning(
            "skipped an unreadable line in the decision journal %s at byte %d: %s",
            path,
            offset,
            exc,
        )
        return None


def take_lock(folder: Path) -> IO[bytes]:
    """The open lock file of ``folder``, locked for this process (one server a journal)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / LOCK_FILE).open("a+b")
    except OSError as exc:
        raise JournalError(f"cannot open the decision journal {folder}: {exc}") from exc
    if sys.platform != "win32":
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise JournalError(
                f"the decision journal {folder} is in use by another process; give each"
                " server its own journal folder"
            ) from None
    return handle


def fsync_folder(folder: Path) -> None:
    """Make a new, renamed or removed file name in ``folder`` durable."""
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
