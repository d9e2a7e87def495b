"""Decision ids: random (version 4) UUIDs, as ``uuid.uuid4`` makes them, from the operating
system's random source read 4 KiB at a time.

``uuid.uuid4`` reads 16 bytes with one system call per id, and ``os.urandom`` releases
the GIL around it; a serving thread that gives the GIL away waits to get it back behind
the busy ones (up to the interpreter's switch interval, 5 ms), once per request. Reading
256 ids' worth at once keeps that to one wait per 256 decisions, with the same random
source. A process that forks reads afresh (the buffer belongs to the process that read it).
"""

from __future__ import annotations

import os
import threading
import uuid

_CHUNK = 4096  # 256 ids


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
            raw = self._buffer[self._at : self._at + 16]
            self._at += 16
        return str(uuid.UUID(bytes=raw, version=4))


_IDS = _Ids()


def decision_id() -> str:
    """A new random UUID (version 4) as text."""
    return _IDS.next()
