"""Micro-batching: concurrent ``/decide`` requests to one served pipeline, decided together.

A request joins the batch waiting for its pipeline (the served object: one pipeline and
one release; a promotion serves a new object, so its batch is a new one). A request that
finds its pipeline idle (no batch of it being decided) runs at once, alone: a quiet server
adds no wait. Otherwise the batch runs when the batch being decided ends, ``wait_s``
seconds after its first request, or when it holds ``most`` requests, whichever is first.
One call decides the whole batch (:meth:`ServeService._decide_coalesced`), and each
request gets its own outcome back: a value, or the exception of that request alone.
Deciding a batch is safe because results do not depend on the batch size (the executors'
parity, ``tests/execute``), and a record that fails is decided alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Out = TypeVar("Out")

# the outcomes of a batch, one per item in order: a value, or the exception for that item
Run = Callable[[Any, list[Item]], Awaitable[list[Out | BaseException]]]


@dataclass
class _Batch(Generic[Item, Out]):
    pipeline: Any
    items: list[Item] = field(default_factory=list)
    futures: list[asyncio.Future[Out]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Coalescer(Generic[Item, Out]):
    """Gathers items per pipeline on the event loop and runs each batch with ``run``;
    ``observe`` sees the size of every batch run (the metrics)."""

    def __init__(
        self,
        wait_s: float,
        most: int,
        run: Run[Item, Out],
        observe: Callable[[int], None] = lambda size: None,
    ) -> None:
        self.wait_s = wait_s
        self.most = most
        self._run = run
        self._observe = observe
        self._waiting: dict[int, _Batch[Item, Out]] = {}  # by id() of the served pipeline
        self._running: set[asyncio.Task[None]] = set()  # kept until done
        self._busy: dict[int, int] = {}  # batches being decided, by pipeline key

    async def submit(self, pipeline: Any, item: Item) -> Out:
        """``item``'s outcome once its batch has run (its exception raised here)."""
        loop = asyncio.get_running_loop()
        key = id(pipeline)  # the batch holds the pipeline: the id is not reused meanwhile
        batch = self._waiting.get(key)
        idle = batch is None and not self._busy.get(key)
        if batch is None:
            batch = self._waiting[key] = _Batch(pipeline)
            if not idle:
                batch.timer = loop.call_later(self.wait_s, self._flush, key)
        future: asyncio.Future[Out] = loop.create_future()
        batch.items.append(item)
        batch.futures.append(future)
        if idle or len(batch.items) >= self.most:
            self._flush(key)
        return await future

    def _flush(self, key: int) -> None:
        batch = self._waiting.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        self._busy[key] = self._busy.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._decide(key, batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _done(self, key: int) -> None:
        """A batch of ``key`` ended: the one gathered meanwhile runs now."""
        left = self._busy.pop(key, 1) - 1
        if left > 0:
            self._busy[key] = left
        self._flush(key)

    async def _decide(self, key: int, batch: _Batch[Item, Out]) -> None:
        self._observe(len(batch.items))
        try:
            outcomes = await self._run(batch.pipeline, batch.items)
        except asyncio.CancelledError:  # the server stops
            for future in batch.futures:
                future.cancel()
            self._busy.pop(key, None)
            raise
        except Exception as exc:  # the batch call itself failed: every item says so
            outcomes = [exc] * len(batch.items)
        self._done(key)
        for future, outcome in zip(batch.futures, outcomes, strict=True):
            if future.done():  # its request was cancelled (the client went away)
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
