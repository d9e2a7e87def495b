"""The server's byte budget: request bodies held until their decision-log records are durable.

The decision log's queue is bounded by a count of records; records of large requests
could still fill memory while the store is slow (a thousand records of a megabyte each).
:class:`ByteBudget` bounds the bytes too: every decide request reserves its body's size
once read, and the reservation is returned only when the request has ended *and* every
record it queued is committed or failed (a client that gives up does not free the memory
its queued records hold). When a body does not fit, the request gets 503 (S530) with
``Retry-After`` before anything is parsed, decided or queued, so nothing accepted is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future

from kaskad.store.defaults import DEFAULT_QUEUE_BYTES as DEFAULT_QUEUE_BYTES  # 64 MiB


class ByteBudget:
    """At most ``limit`` bytes reserved at once (thread-safe)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the byte budget must be positive")
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Bytes reserved now."""
        return self._used

    def reserve(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (nothing reserved) when they do not fit."""
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self._used = max(0, self._used - size)

    def release_after(self, size: int, futures: Iterable[Future[None]]) -> None:
        """Return ``size`` bytes once every one of ``futures`` is done (at once if none
        is pending)."""
        pending = [f for f in futures if not f.done()]
        if not pending:
            self.release(size)
            return
        left = [len(pending)]
        lock = threading.Lock()

        def one_done(_: Future[None]) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self.release(size)

        for future in pending:
            future.add_done_callback(one_done)
