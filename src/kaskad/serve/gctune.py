"""Garbage-collector settings for a serving process.

A server holds a large, long-lived heap (the compiled plan, model libraries, the web
framework) and every request allocates thousands of short-lived containers. With
CPython's default thresholds (700, 10, 10) the collector runs several times per request
and regularly walks the whole heap in a full collection: measured with
``bench/http/serve_throughput.py``, that cost about a fifth of the throughput and tripled
p99 latency. At startup the server therefore moves the heap loaded so far out of the
collector's sight (:func:`gc.freeze`) and raises the thresholds; objects without cycles
are still freed at once by reference counting, only cyclic garbage waits longer.

The previous settings are restored when the server stops (tests run many servers in one
process).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

SERVING_THRESHOLDS = (20_000, 50, 100)


@dataclass(frozen=True)
class Previous:
    thresholds: tuple[int, int, int]


def tune_for_serving() -> Previous:
    """Freeze the heap loaded so far and raise the thresholds; returns what to restore."""
    previous = Previous(gc.get_threshold())
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    return previous


def restore(previous: Previous) -> None:
    """Undo :func:`tune_for_serving`."""
    gc.unfreeze()
    gc.set_threshold(*previous.thresholds)
