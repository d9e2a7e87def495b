"""Hot promotion: follow stage references (``NAME@production``) without a restart.

A background thread polls ``Store.resolve(ref)`` for every pipeline served from a
:class:`ReleaseRef`. When the stage points at another release, the new release is loaded
and verified with ``load_release`` off the request path; only then is the served pipeline
replaced, by a single reference assignment under a lock. Requests already running keep
the pipeline object they started with. A release that cannot be loaded or verified is
not served: the old one stays, the problem is logged and recorded (shown in ``/ready``)
and the next poll tries again.

:meth:`PromotionWatcher.refresh` checks one reference at once (the admin endpoints call it
right after moving a stage); checks never run concurrently, so a poll and a refresh cannot
load the same release twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableMapping

from kaskad.registry.releases import LoadedRelease, load_release
from kaskad.serve.config import ReleaseRef
from kaskad.serve.pipelines import ServedPipeline
from kaskad.store import Store

LOG = logging.getLogger("kaskad.serve.promotion")


class PromotionWatcher:
    """Polls the stage references of ``pipelines`` every ``poll_s`` seconds."""

    def __init__(
        self,
        pipelines: MutableMapping[str, ServedPipeline],
        sources: dict[str, ReleaseRef],
        poll_s: float,
        lock: threading.Lock,
    ) -> None:
        self._pipelines = pipelines
        self._sources = sources
        self._poll_s = poll_s
        self._lock = lock
        self._checking = threading.Lock()  # one check (and store opening) at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stores: dict[str, Store] = {}
        self.problems: dict[str, str] = {}  # name → why the stage's release is not served

    @property
    def enabled(self) -> bool:
        return self._poll_s > 0 and bool(self._sources)

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kaskad-promotion", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.poll()

    def poll(self) -> None:
        """One pass over every stage reference (also callable directly, e.g. in tests)."""
        for name in self._sources:
            if self._stop.is_set():
                return
            self.refresh(name)

    def refresh(self, name: str, verified: LoadedRelease | None = None) -> ServedPipeline:
        """Re-resolve the stage reference of ``name`` now and serve its release once
        verified (``verified``: a release just loaded and verified, used when the stage
        points at it). The pipeline served afterwards: still the old one when the stage's
        release cannot be loaded or verified (``problems[name]`` says why)."""
        source = self._sources[name]
        with self._checking:
            try:
                self._check(name, source, verified)
            except Exception as exc:  # keep serving the old release; retry next poll
                message = f"{source.ref}: {type(exc).__name__}: {exc}"
                if self.problems.get(name) != message:
                    LOG.error(
                        "hot promotion of %s failed, keeping %s: %s",
                        name,
                        self._pipelines[name].release,
                        message,
                    )
                self.problems[name] = message
            return self._pipelines[name]

    def store(self, name: str) -> Store:
        """The store the stage reference of ``name`` is resolved in (opened once, shared)."""
        with self._checking:
            return self._store(self._sources[name])

    def _store(self, source: ReleaseRef) -> Store:
        store = self._stores.get(source.store)
        if store is None:
            store = self._stores[source.store] = Store.open(source.store)
        return store

    def _check(self, name: str, source: ReleaseRef, verified: LoadedRelease | None = None) -> None:
        store = self._store(source)
        target = store.resolve(source.ref)
        current = self._pipelines[name]
        if target.ref == current.release:
            self.problems.pop(name, None)
            return
        # Load the exact number the stage pointed at, so a move during loading is seen
        # on the next poll instead of serving a release other than the one verified.
        loaded = (
            verified
            if verified is not None and verified.release.ref == target.ref
            else load_release(store, target.ref, actor=source.actor, cache_root=source.cache_root)
        )
        fresh = ServedPipeline(name, loaded.plan, loaded.release.ref)
        with self._lock:
            self._pipelines[name] = fresh
        self.problems.pop(name, None)
        LOG.info("%s now serves %s (was %s)", source.ref, fresh.release, current.release)
