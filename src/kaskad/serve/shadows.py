"""Shadow challengers run off the response path.

The champion decides and the reply is sent without waiting for the challengers; each
decided record is queued for one background worker thread that runs its challengers
(:meth:`RecordExecutor.run_shadows`) and writes one ``shadow_decisions`` row per
challenger, keyed by the champion's ``decision_id``, through the decision log's writer.
The queue is bounded: when it (or the decision log's queue) is full, the shadow run is
skipped and counted in ``kaskad_shadow_skipped_total`` — challengers never slow down or
fail the champion.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from kaskad.serve.metrics import Metrics
from kaskad.store.decisions import DecisionSink, LogFull, ShadowRecord

ShadowJob = Callable[[], dict[str, dict[str, Any]]]  # shadow name -> its fields
DEFAULT_SHADOW_QUEUE_SIZE = 1024
_STOP = object()


class ShadowWorker:
    """A bounded queue of shadow runs and the thread that runs and stores them."""

    def __init__(self, log: DecisionSink, metrics: Metrics, queue_size: int) -> None:
        self._log = log
        self._metrics = metrics
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, queue_size))
        self._thread = threading.Thread(target=self._run, name="kaskad-shadows", daemon=True)
        self._thread.start()

    def submit(
        self, pipeline: str, decision_id: str, job: ShadowJob, champion: str | None = None
    ) -> bool:
        """Queue a shadow run; False (and counted as skipped) when the queue is full.
        Each challenger's decision is compared with ``champion`` (the metrics' flips)."""
        try:
            self._queue.put_nowait((pipeline, decision_id, job, champion))
        except queue.Full:
            self._metrics.shadow_skipped.labels(pipeline, "queue_full").inc()
            return False
        return True

    def close(self) -> None:
        """Run what is queued, then stop the worker."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            pipeline: str
            decision_id: str
            job: ShadowJob
            champion: str | None
            pipeline, decision_id, job, champion = item  # type: ignore[misc]
            try:
                outputs = job()
            except Exception:  # run_shadows catches challenger errors; this is a bug guard
                self._metrics.shadow_skipped.labels(pipeline, "failed").inc()
                continue
            for name, fields in outputs.items():
                self._metrics.shadow_outcome(pipeline, name, fields.get("decision") != champion)
                try:
                    self._log.submit(ShadowRecord(decision_id, pipeline, name, fields))
                except LogFull:
                    self._metrics.shadow_skipped.labels(pipeline, "log_full").inc()
