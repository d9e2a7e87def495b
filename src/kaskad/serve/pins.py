"""Pinned releases: ``?release=N`` decides with release N instead of the one served.

A client reproducing an old decision, or moving to a new release at its own pace, names
the release number in the query string of ``decide`` or ``decide-batch``. Only pipelines
served from a release reference (``NAME@production``) can be pinned: the release is
looked up in the same store, loaded and verified exactly like the served one
(``load_release``), and kept in a small cache (the most recently used
:data:`DEFAULT_PINNED` per server), so only the first request for a release pays for
loading it. Every pinned decision is logged with the pinned release and plan hash.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from kaskad.errors import KaskadError, NotFoundError, StoreError
from kaskad.registry.releases import LoadedRelease, load_release
from kaskad.serve.config import PipelineFile, ReleaseRef
from kaskad.serve.errors import LOG, ServeError, internal, without_paths
from kaskad.serve.pipelines import ServedPipeline
from kaskad.store import Store
from kaskad.store.refs import MAX_NUMBER, ReleaseSelector, release_number

DEFAULT_PINNED = 8


class PinnedReleases:
    """Loads, verifies and caches the releases requests pin."""

    def __init__(
        self,
        sources: Mapping[str, PipelineFile | ReleaseRef],
        store_of: Callable[[str], Store],
        size: int = DEFAULT_PINNED,
    ) -> None:
        """``store_of(name)``: the store of the URL name's release reference (the
        promotion watcher's, opened once)."""
        self._sources = sources
        self._store_of = store_of
        self._size = max(1, size)
        self._cache: OrderedDict[tuple[str, str], ServedPipeline] = OrderedDict()
        self._lock = threading.Lock()  # one load at a time; the cache under it

    def get(self, name: str, release: str) -> ServedPipeline:
        """The pipeline of URL name ``name`` at release ``release`` (a number, or the full
        ``PIPELINE@N``); ServeError 409 when it cannot be pinned, 404 when there is no such
        release, 409 when it fails verification."""
        source = self._sources[name]
        if not isinstance(source, ReleaseRef):
            raise ServeError(
                409,
                "S409",
                f"pipeline '{name}' is served from its file: there are no releases to pin"
                " (serve NAME@production to decide with ?release=N)",
            )
        pipeline = ReleaseSelector.parse(source.ref).name
        number = release_number(release.removeprefix(f"{pipeline}@"))  # "3" or "PIPELINE@3"
        if number is None:
            raise ServeError(
                422,
                "S422",
                f"release must be a release number of {pipeline} from 1 to {MAX_NUMBER}"
                f" (e.g. ?release=3), not {release[:40]!r}",
            )
        ref = f"{pipeline}@{number}"
        key = (name, ref)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            served = ServedPipeline(name, self._load(name, source, ref).plan, ref)
            self._cache[key] = served
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return served

    def _load(self, name: str, source: ReleaseRef, ref: str) -> LoadedRelease:
        try:
            return load_verified(self._store_of(name), ref, source.actor, source.cache_root)
        except NotFoundError as exc:
            raise ServeError(404, "S404", f"no release {ref}: {exc}") from exc


def load_verified(store: Store, ref: str, actor: str, cache_root: Path) -> LoadedRelease:
    """``load_release`` with its refusals as served errors: 409 (S409) for a release that
    must not run (artifacts, environment, golden cases), 503 (S503) when the store cannot
    be read. ``NotFoundError`` (no such release) is left to the caller."""
    try:
        return load_release(store, ref, actor=actor, cache_root=cache_root)
    except NotFoundError:
        raise
    except StoreError as exc:
        if isinstance(exc.__cause__, SQLAlchemyError):
            raise internal(503, "S503", "the store cannot be read: retry shortly", exc) from exc
        raise _refused(ref, exc) from exc
    except KaskadError as exc:
        raise _refused(ref, exc) from exc


def _refused(ref: str, exc: KaskadError) -> ServeError:
    LOG.warning("%s cannot be served: %s", ref, exc)
    return ServeError(409, "S409", without_paths(f"{ref} cannot be served: {exc}"))
