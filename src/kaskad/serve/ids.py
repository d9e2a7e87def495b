"""Decision ids: time-ordered UUIDs (version 7, RFC 9562), random bits from the operating
system's random source read 4 KiB at a time.

A version 7 UUID starts with the Unix time in milliseconds (then the fraction of the
millisecond, to about 0.25 µs, in the 12 bits the RFC allows for it), so ids made later
sort later. The decision log's primary key is the id: random (version 4) ids put every
new row at a random place in that index, and inserts slowed as the log grew (a third
slower at 200,000 decisions in SQLite); time-ordered ids add at its end. The other
62 bits are random: ids stay unguessable and unique across processes and machines.
They tell when the decision was made, as the logged record does.

``os.urandom`` releases the GIL around its system call; a serving thread that gives the
GIL away waits to get it back behind the busy ones (up to the interpreter's switch
interval, 5 ms). Reading 512 ids' worth at once keeps that to one wait per 512 decisions.
A process that forks reads afresh (the buffer belongs to the process that read it).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_CHUNK = 4096  # 512 ids of 8 random bytes
_MS = 1_000_000  # nanoseconds
_RANDOM = (1 << 62) - 1


class _Ids:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._buffer = b""
        self._at = 0

    def next(self) -> str:
        with self._lock:
            if self._at >= len(self._buffer) or self._pid != os.getpid():
                self._buffer = os.urandom(_CHUNK)
                self._pid = os.getpid()
                self._at = 0
            raw = self._buffer[self._at : self._at + 8]
            self._at += 8
        ms, fraction = divmod(time.time_ns(), _MS)
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80  # unix_ts_ms
            | 0x7 << 76  # version 7
            | (fraction * 4096 // _MS) << 64  # rand_a: the fraction of the millisecond
            | 0b10 << 62  # the RFC's variant
            | int.from_bytes(raw, "big") & _RANDOM  # rand_b
        )
        return str(uuid.UUID(int=value))


_IDS = _Ids()


def decision_id() -> str:
    """A new time-ordered UUID (version 7) as text."""
    return _IDS.next()
