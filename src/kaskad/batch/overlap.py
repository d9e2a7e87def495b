"""Overlapping a batch run's reading, deciding and writing, in threads.

A run reads a chunk, decides it and writes it. Reading waits on files or a database,
deciding mostly on model libraries and Polars, which release the interpreter while they
compute; so a chunk is read while the one before is decided (:func:`read_ahead_of`),
and the next chunk is decided while this one is (:func:`decided_ahead`). Results come
back in the input's order and are the same as one chunk at a time: a chunk's decisions
do not depend on any other chunk's.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import polars as pl

from kaskad.execute.batch import BatchExecutor
from kaskad.io.reading import Chunk


def decided_ahead(
    executor: BatchExecutor, chunks: Iterator[Chunk], source: str, window: int
) -> Generator[tuple[Chunk, pl.DataFrame], None, None]:
    """Each chunk of ``chunks`` with ``executor``'s decisions for it, in order, with up to
    ``window`` chunks being decided at once (1: one at a time, in the caller's thread).
    A chunk that fails to decide raises here, in order; closing the generator cancels
    the chunks not started and waits for those being decided."""
    if window <= 1:
        for chunk in chunks:
            yield chunk, executor.run(chunk.frame, source)
        return
    pool = ThreadPoolExecutor(window, thread_name_prefix="kaskad-run-ahead")
    pending: deque[tuple[Chunk, Future[pl.DataFrame]]] = deque()
    try:
        for chunk in chunks:
            pending.append((chunk, pool.submit(executor.run, chunk.frame, source)))
            if len(pending) == window:
                done, result = pending.popleft()
                yield done, result.result()
        while pending:
            done, result = pending.popleft()
            yield done, result.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_ahead_of(chunks: Iterator[Chunk]) -> Generator[Chunk, None, None]:
    """``chunks`` in order, each read by a thread while the caller works on the one before.
    The source's errors are raised here; when the caller stops early the thread stops too
    and closes ``chunks`` (its files or connection) itself."""
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                ready.put(item, timeout=0.05)
                return True
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not hand_over(("chunk", chunk)):
                    return
            hand_over(("end", None))
        except BaseException as exc:  # handed to the caller's thread, raised there
            hand_over(("error", exc))
        finally:
            if isinstance(chunks, Generator):
                chunks.close()

    thread = threading.Thread(target=read, name="kaskad-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
