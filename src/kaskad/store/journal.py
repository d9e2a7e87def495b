"""The journaled decision log: a reply waits for a local fsync, a shipper fills the store.

With :class:`JournalSettings` (see :func:`open_decision_log`; the server's
``decision_log_mode="journal"``) a record is durable on the server's own disk before its
reply and reaches the store shortly after:

- :meth:`JournaledLog.submit` serializes the record and queues it for the journal writer
  thread, which appends every record waiting at that moment with one write and one fsync
  (group fsync), then resolves their futures. A full queue, or a journal that would pass
  its byte limit (the store is down or behind), refuses the record at once with
  :class:`LogFull` (503), so neither memory nor disk use grows without bound.
- A shipper thread reads the journal from the last shipped position and hands batches to
  a :class:`DecisionLog`, whose writer does the inserts. Records already in the store (a
  batch committed just before a crash, before its position was saved) are skipped by
  ``decision_id`` (and ``shadow``). While the store cannot be reached, the shipper retries
  with exponential backoff and the journal grows on disk, up to its limit.

The journal folder holds segments ``<20 digits>.jsonl`` of JSON lines
``{"type": "decision" | "shadow", "fields": {...}}`` (``at`` in ISO 8601 with its zone),
rotated at ``segment_bytes``; ``shipped.json`` holds the next position to ship
(``{"segment": N, "offset": BYTES}``), saved after each committed batch, and segments
before it are deleted. On start a new segment is opened and everything after the saved
position is shipped (replay). A torn last line of a segment (a write cut short by a crash
before its fsync, so never acknowledged) is skipped with a warning. Records the store
refuses for their content (a constraint, not an outage) go to ``dead-letter.jsonl`` with
an error in the log instead of blocking the journal. ``.lock`` keeps a second process out.

A journal that cannot be opened (a folder that cannot be written, one in use by another
process, no folder for a database URL) raises :class:`JournalError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple, cast

from sqlalchemy import select

from kaskad.store import _engine
from kaskad.store.decisions import (
    DEFAULT_QUEUE_SIZE,
    DEFAULT_WRITE_TIMEOUT_S,
    DecisionLog,
    DecisionRecord,
    DecisionSink,
    LogFull,
    PlanRecord,
    Record,
    RecordRefused,
    ShadowRecord,
    error_reason,
    kind,
    take_group,
)
from kaskad.store.defaults import DEFAULT_JOURNAL_LIMIT_BYTES
from kaskad.store.journal_files import JournalError, decode, encode, fsync_folder, take_lock
from kaskad.store.tables import DecisionRow, ShadowDecisionRow

LOG = logging.getLogger("kaskad.store.journal")

DEFAULT_BATCH_SIZE = 512
MAX_SEGMENT_BYTES = 64 << 20
DEFAULT_LIMIT_BYTES = DEFAULT_JOURNAL_LIMIT_BYTES
POSITION_FILE = "shipped.json"
DEAD_LETTER_FILE = "dead-letter.jsonl"
_SEGMENT = re.compile(r"^(\d{20})\.jsonl$")
_RETRY_MIN_S = 0.05
_STOP = object()


class _Position(NamedTuple):
    segment: int
    offset: int  # the first byte of the segment not shipped yet


@dataclass(frozen=True)
class JournalSettings:
    """A journal: its folder on this machine's disk, the disk it may use while the store
    is behind or down (then :class:`LogFull`), and how it writes and ships.

    ``segment_bytes`` rotates segments (default: an eighth of the limit, at most
    64 MiB); ``batch_size`` records go to the store per transaction; shipping retries back
    off up to ``retry_max_s``; :meth:`JournaledLog.close` tries to ship for at most
    ``drain_timeout_s`` while the store cannot be reached."""

    folder: Path
    limit_bytes: int = DEFAULT_LIMIT_BYTES
    segment_bytes: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    retry_max_s: float = 5.0
    drain_timeout_s: float = 10.0


def open_decision_log(
    store: str,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    journal: JournalSettings | None = None,
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
) -> DecisionSink:
    """The decision log of ``store`` (folder or database URL): the synchronous
    :class:`DecisionLog` (waiting at most ``write_timeout_s`` for a locked store), or a
    :class:`JournaledLog` when ``journal`` is given."""
    if journal is None:
        return DecisionLog(store, queue_size, write_timeout_s)
    return JournaledLog(store, journal, queue_size)


def default_journal_folder(store: str) -> Path:
    """``<store folder>/journal``; a database URL has no folder, so :class:`JournalError`."""
    if "://" in store:
        raise JournalError(
            "decision_log_mode 'journal' with a database URL needs a journal folder on this"
            " server's disk (--journal PATH, ServeConfig.journal)"
        )
    return Path(store) / "journal"


class JournaledLog:
    """A decision log whose records are durable once fsynced to a local journal; a
    background shipper moves them into the store (``store``: folder or database URL)."""

    def __init__(
        self, store: str, settings: JournalSettings, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        limit_bytes, batch_size = settings.limit_bytes, settings.batch_size
        if min(limit_bytes, queue_size, batch_size) < 1:
            raise ValueError("the journal's limit, queue size and batch size must be at least 1")
        url = _engine.locate(store, None).url
        self._probe = _engine.open_engine(url)  # finds records already in the store
        self._store = store
        self._where = _engine.shown(url)
        self.folder = Path(settings.folder).absolute()
        self._limit = limit_bytes
        self._largest = 0  # bytes of the largest journaled record so far
        self._segment_bytes = settings.segment_bytes or max(
            1, min(MAX_SEGMENT_BYTES, limit_bytes // 8)
        )
        self._batch_size = batch_size
        self._retry_max_s = settings.retry_max_s
        self._drain_timeout_s = settings.drain_timeout_s
        self._lock = take_lock(self.folder)
        try:
            self._pos, self._disk_bytes = self._recover()
            self._active = max([*self._segments(), self._pos.segment]) + 1
            self._live_from = self._active  # segments before it are replayed from disk
            self._file = self._create_segment(self._active)
        except OSError as exc:
            self._lock.close()
            raise JournalError(f"cannot open the decision journal {self.folder}: {exc}") from exc
        if self._pos.segment not in self._segments():
            self._pos = _Position(min(s for s in self._segments() if s > self._pos.segment), 0)
        self._durable = 0  # bytes of the active segment written and fsynced
        self._reserved = 0  # bytes queued for the writer, not written yet
        self._cv = threading.Condition()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._closed = False
        self._stopping = False
        self._closing = threading.Event()
        self._deadline = 0.0
        self._failing = False
        self._log: DecisionLog | None = None
        self._writer = threading.Thread(
            target=self._write_loop, name="kaskad-journal-writer", daemon=True
        )
        self._shipper = threading.Thread(
            target=self._ship_loop, name="kaskad-journal-shipper", daemon=True
        )
        self._writer.start()
        self._shipper.start()

    def submit(self, record: Record) -> Future[None]:
        """Queue ``record``; the future resolves once it is fsynced to the journal. Raises
        :class:`LogFull` at once when the queue is full or the journal at its limit."""
        [done] = self.submit_many([record])
        return done

    def submit_many(self, records: list[Record]) -> list[Future[None]]:
        """Queue all of ``records`` or none (:class:`LogFull` when they do not all fit);
        a record that cannot be encoded gets :class:`RecordRefused` alone."""
        futures: list[Future[None]] = [Future() for _ in records]
        lines: list[tuple[bytes, Future[None]]] = []
        for record, done in zip(records, futures, strict=True):
            try:
                lines.append((encode(record), done))
            except (TypeError, ValueError) as exc:
                LOG.error("decision journal: cannot encode %s: %s", kind(record), exc)
                done.set_exception(RecordRefused("the journal cannot hold this record"))
        size = sum(len(line) for line, _ in lines)
        with self._cv:
            if self._closed:
                raise LogFull("the decision log is closed")
            if self._disk_bytes + self._reserved + size > self._limit:
                raise LogFull(
                    f"the decision journal is at its limit of {self._limit} bytes (the store"
                    " is behind or unreachable); retry shortly"
                )
            if self._queue.maxsize - self._queue.qsize() < len(lines):
                raise LogFull("the decision log is full; retry shortly")
            for line, done in lines:  # producers hold the lock: the room cannot shrink
                self._queue.put_nowait((line, done))
                self._largest = max(self._largest, len(line))
            self._reserved += size
        return futures
        with self._cv:
            if self._closed:
                raise LogFull("the decision log is closed")
            if self._disk_bytes + self._reserved + len(line) > self._limit:
                raise LogFull(
                    f"the decision journal is at its limit of {self._limit} bytes (the store"
                    " is behind or unreachable); retry shortly"
                )
            try:
                self._queue.put_nowait((line, done))
            except queue.Full:
                raise LogFull("the decision log is full; retry shortly") from None
            self._reserved += len(line)
            self._largest = max(self._largest, len(line))
        return done

    def health(self) -> str | None:
        """None while a record as large as the largest so far still fits in the journal:
        records are journaled whether or not the store takes them now (its outages show
        as a growing ``backlog_bytes``); at the journal's limit, why not."""
        with self._cv:
            if self._disk_bytes + self._reserved + self._largest > self._limit:
                return "the decision journal is full (the store is behind or unreachable)"
        return None

    def backlog_bytes(self) -> int:
        """Bytes of journaled records not yet shipped to the store."""
        with self._cv:
            return max(0, self._disk_bytes - self._pos.offset)

    def close(self) -> None:
        """Fsync what is queued, ship what is journaled (trying for at most
        ``drain_timeout_s`` while the store cannot be reached), then stop both threads.
        What cannot be shipped stays in the journal for the next start."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
        with self._cv:
            self._deadline = time.monotonic() + self._drain_timeout_s
            self._stopping = True
            self._cv.notify_all()
        self._closing.set()
        self._shipper.join()
        if self._log is not None:
            self._log.close()
        self._probe.dispose()
        left = self.backlog_bytes()
        if left:
            LOG.warning(
                "the store %s could not be written to: %d bytes of decision records stay in"
                " the journal %s and are shipped at the next start",
                self._where,
                left,
                self.folder,
            )
        else:
            for seq in self._segments():  # all shipped
                with contextlib.suppress(OSError):
                    self._path(seq).unlink()
        self._lock.close()

    # -- the journal on disk

    def _path(self, seq: int) -> Path:
        return self.folder / f"{seq:020d}.jsonl"

    def _segments(self) -> list[int]:
        return sorted(
            int(m.group(1)) for p in self.folder.iterdir() if (m := _SEGMENT.match(p.name))
        )

    def _recover(self) -> tuple[_Position, int]:
        """The saved position, and the bytes of the segments from it on (older ones,
        already shipped, are deleted)."""
        pos = _Position(0, 0)
        try:
            data = json.loads((self.folder / POSITION_FILE).read_text(encoding="utf-8"))
            pos = _Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
            LOG.warning(
                "unreadable %s in %s (%s): replaying every segment", POSITION_FILE, self.folder, exc
            )
        disk = 0
        for seq in self._segments():
            if seq < pos.segment:
                self._path(seq).unlink()
            else:
                disk += self._path(seq).stat().st_size
        return pos, disk

    def _create_segment(self, seq: int) -> IO[bytes]:
        handle = self._path(seq).open("xb")
        fsync_folder(self.folder)
        return handle

    def _save_position(self, pos: _Position) -> None:
        tmp = self.folder / (POSITION_FILE + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump({"segment": pos.segment, "offset": pos.offset}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.folder / POSITION_FILE)
        fsync_folder(self.folder)

    # -- the writer thread

    def _write_loop(self) -> None:
        stop = False
        while not stop:
            group, stop = take_group(self._queue, _STOP)
            if group:
                self._append(cast(list[tuple[bytes, Future[None]]], group))
        with contextlib.suppress(OSError):
            self._file.close()

    def _append(self, group: list[tuple[bytes, Future[None]]]) -> None:
        data = b"".join(line for line, _ in group)
        try:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
        except (OSError, ValueError) as exc:  # ValueError: the segment could not be reopened
            self._discard_tail()
            with self._cv:
                self._reserved -= len(data)
            for _, done in group:
                done.set_exception(exc)
            return
        with self._cv:
            self._reserved -= len(data)
            self._disk_bytes += len(data)
            self._durable += len(data)
            self._cv.notify_all()
        for _, done in group:
            done.set_result(None)
        if self._durable >= self._segment_bytes:
            self._rotate()

    def _discard_tail(self) -> None:
        """After a failed write: cut the segment back to its durable end, so that no
        partial line precedes the next ones, or go on in a new segment."""
        with contextlib.suppress(OSError):
            self._file.close()
        path = self._path(self._active)
        try:
            os.truncate(path, self._durable)
            self._file = path.open("ab")
        except OSError as exc:
            LOG.error("cannot repair the decision journal segment %s: %s", path, exc)
            self._rotate()

    def _rotate(self) -> None:
        try:
            handle = self._create_segment(self._active + 1)
        except OSError as exc:
            LOG.error("cannot start a new decision journal segment in %s: %s", self.folder, exc)
            return  # go on with the current one
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = handle
        with self._cv:
            self._active += 1
            self._durable = 0
            self._cv.notify_all()

    # -- the shipper thread

    def _pending(self) -> bool:
        return self._pos.segment < self._active or self._pos.offset < self._durable

    def _ship_loop(self) -> None:
        delay = _RETRY_MIN_S
        while True:
            with self._cv:
                while not self._stopping and not self._pending():
                    self._cv.wait()
                if not self._pending():
                    return  # closing, and everything is shipped
                pos, active, durable = self._pos, self._active, self._durable
            try:
                records, nxt = self._read(pos, None if pos.segment < active else durable, active)
                if records and not self._deliver(records, pos.segment < self._live_from):
                    return  # closing, and the store cannot be reached
                self._advance(pos, nxt)
                if records or nxt != pos:
                    delay = _RETRY_MIN_S
                    continue
            except Exception:  # a bug or a disk problem: keep the journal, try again
                LOG.exception("the decision journal shipper failed; retrying")
            if not self._pause(delay):  # no progress: do not spin
                return
            delay = min(delay * 2, self._retry_max_s)

    def _read(self, pos: _Position, end: int | None, active: int) -> tuple[list[Record], _Position]:
        """Up to a batch of records from ``pos`` (to ``end`` in the active segment, to the
        end of the file in a sealed one), and the position after them."""
        path = self._path(pos.segment)
        records: list[Record] = []
        offset = pos.offset
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return records, self._next_segment(pos.segment, active)
        with handle:
            handle.seek(offset)
            while len(records) < self._batch_size and (end is None or offset < end):
                line = handle.readline() if end is None else handle.readline(end - offset)
                if not line:
                    break
                offset += len(line)
                if not line.endswith(b"\n"):
                    LOG.warning(
                        "skipped a torn last line in the decision journal %s (%d bytes at"
                        " byte %d): a write cut short by a crash, never acknowledged",
                        path,
                        len(line),
                        offset - len(line),
                    )
                    break
                record = decode(line, path, offset - len(line))
                if record is not None:
                    records.append(record)
        if end is None and offset == pos.offset:  # a sealed segment, read to its end
            return records, self._next_segment(pos.segment, active)
        return records, _Position(pos.segment, offset)

    def _next_segment(self, seq: int, active: int) -> _Position:
        return _Position(min((s for s in self._segments() if s > seq), default=active), 0)

    def _advance(self, pos: _Position, nxt: _Position) -> None:
        if nxt == pos:
            return
        self._save_position(nxt)
        with self._cv:
            self._pos = nxt
        for seq in self._segments():
            if seq >= nxt.segment:
                break
            try:
                size = self._path(seq).stat().st_size
                self._path(seq).unlink()
            except OSError as exc:
                LOG.warning("cannot delete the shipped journal segment %s: %s", seq, exc)
                continue
            with self._cv:
                self._disk_bytes -= size

    def _deliver(self, records: list[Record], replayed: bool) -> bool:
        """Ship ``records``, retrying with backoff; False when closing and the drain
        timeout has passed. Records written by this process are shipped without asking
        the store which it already has, unless an attempt failed (part of it may have
        been committed); replayed ones are always checked."""
        delay = _RETRY_MIN_S
        check = replayed
        while True:
            try:
                self._ship(records, check)
            except Exception as exc:
                check = True
                if not self._failing:
                    LOG.warning(
                        "cannot write decision records to the store %s (%s); they stay in"
                        " the journal %s and are retried",
                        self._where,
                        error_reason(exc),
                        self.folder,
                    )
                    self._failing = True
                if not self._pause(delay):
                    return False
                delay = min(delay * 2, self._retry_max_s)
                continue
            if self._failing:
                LOG.warning("the store %s is writable again; shipping resumed", self._where)
                self._failing = False
            return True

    def _pause(self, delay: float) -> bool:
        if not self._closing.is_set():
            self._closing.wait(delay)
            return True
        left = self._deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        return True

    def _ship(self, records: list[Record], check: bool = True) -> None:
        if self._log is None:
            self._log = DecisionLog(self._store, self._batch_size)
        fresh = self._not_in_store(records) if check else records
        futures = [self._log.submit(r) for r in fresh]
        errors = [f.exception() for f in futures]
        # The writer commits what the store takes and refuses the rest one by one
        # (RecordRefused): those are set aside; any other error is a store fault.
        fault = next((e for e in errors if e and not isinstance(e, RecordRefused)), None)
        if fault is not None:
            raise fault
        for record, error in zip(fresh, errors, strict=True):
            if error is not None:
                self._dead_letter(record, error)

    def _not_in_store(self, records: list[Record]) -> list[Record]:
        """``records`` without those already in the store, or repeated (plan records all
        pass: the writer keeps the first per plan hash)."""
        decisions = [r.decision_id for r in records if isinstance(r, DecisionRecord)]
        shadows = [r.decision_id for r in records if isinstance(r, ShadowRecord)]
        seen: set[tuple[str, str | None]] = set()
        with self._probe.connect() as conn:
            if decisions:
                query = select(DecisionRow.decision_id).where(
                    DecisionRow.decision_id.in_(decisions)
                )
                seen.update((i, None) for i in conn.scalars(query))
            if shadows:
                pairs = select(ShadowDecisionRow.decision_id, ShadowDecisionRow.shadow).where(
                    ShadowDecisionRow.decision_id.in_(shadows)
                )
                seen.update((i, s) for i, s in conn.execute(pairs))
        fresh: list[Record] = []
        for record in records:
            if isinstance(record, PlanRecord):
                fresh.append(record)
                continue
            key = (record.decision_id, record.shadow if isinstance(record, ShadowRecord) else None)
            if key not in seen:
                seen.add(key)
                fresh.append(record)
        return fresh

    def _dead_letter(self, record: Record, error: BaseException) -> None:
        path = self.folder / DEAD_LETTER_FILE
        with path.open("ab") as handle:
            handle.write(encode(record))
            handle.flush()
            os.fsync(handle.fileno())
        LOG.error(
            "the store %s refused the decision record %s (%s); it is kept in %s",
            self._where,
            record.plan_hash if isinstance(record, PlanRecord) else record.decision_id,
            error_reason(error),
            path,
        )


def _first_error(futures: list[Future[None]]) -> BaseException | None:
    errors = [e for e in (f.exception() for f in futures) if e is not None]
    return errors[0] if errors else None
