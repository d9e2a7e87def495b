"""One model cache per process: each artifact is read, hashed and loaded once.

The compiler inspects a model step through the cache (a pickled scikit-learn model can
only be inspected by unpickling it, so inspecting is loading); the plan then names the
artifact by framework and sha256, and both executors fetch the loaded adapter from the
same cache instead of loading it again. Adapters are keyed by content, so two pipelines
(or two releases) that use the same file share one loaded model.

Entries in use stay while anything holds them; of the others the most recently used
``keep`` stay loaded, so a long-running server that loads and drops releases does not
keep every model it ever saw.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from pathlib import Path

from kaskad.errors import ModelLoadError
from kaskad.models.base import (
    ModelAdapter,
    load_bytes,
    read_artifact,
    refuse_version_warnings,
)
from kaskad.spec.common import sha256_bytes

__all__ = ["ModelCache", "default_cache"]

Key = tuple[str, str]  # framework, sha256 of the artifact's bytes


class ModelCache:
    """Loaded model adapters by framework and artifact sha256."""

    def __init__(self, keep: int = 32) -> None:
        self._keep = keep
        self._recent: OrderedDict[Key, ModelAdapter] = OrderedDict()
        self._alive: weakref.WeakValueDictionary[Key, ModelAdapter] = weakref.WeakValueDictionary()
        self._lock = threading.RLock()

    def inspect(
        self, path: Path, framework: str, *, allow_version_mismatch: bool = False
    ) -> tuple[str, ModelAdapter]:
        """Read the artifact at ``path`` once: its sha256 and its loaded adapter. A model
        its library warns was saved by another version of it is refused unless
        ``allow_version_mismatch`` (the warnings stay in the adapter's ``load_warnings``)."""
        data = read_artifact(Path(path))
        digest = sha256_bytes(data)
        adapter = self._load((framework, digest), data, Path(path))
        if not allow_version_mismatch:
            refuse_version_warnings(adapter, path)
        return digest, adapter

    def get(self, framework: str, sha256: str, path: Path | str) -> ModelAdapter:
        """The adapter for the artifact with this content; loaded from ``path`` (and its
        content checked against ``sha256``) only when no adapter for it is loaded yet."""
        key = (framework, sha256)
        with self._lock:
            found = self._alive.get(key)
            if found is not None:
                self._remember(key, found)
                return found
        origin = Path(path)
        data = read_artifact(origin)
        digest = sha256_bytes(data)
        if digest != sha256:
            raise ModelLoadError(
                origin,
                f"the artifact changed since the plan was compiled (sha256 {digest[:12]}, "
                f"the plan names {sha256[:12]}); compile the pipeline again",
            )
        return self._load(key, data, origin)

    def add(self, framework: str, data: bytes, origin: Path | str) -> str:
        """Load an artifact shipped as bytes (e.g. to a Spark worker); returns its sha256."""
        digest = sha256_bytes(data)
        self._load((framework, digest), data, Path(origin))
        return digest

    def _load(self, key: Key, data: bytes, origin: Path) -> ModelAdapter:
        with self._lock:
            found = self._alive.get(key)
            if found is None:
                found = load_bytes(data, key[0], origin)
                self._alive[key] = found
            self._remember(key, found)
            return found

    def _remember(self, key: Key, adapter: ModelAdapter) -> None:
        self._recent[key] = adapter
        self._recent.move_to_end(key)
        while len(self._recent) > self._keep:
            self._recent.popitem(last=False)


_DEFAULT = ModelCache()


def default_cache() -> ModelCache:
    """The process's shared cache, used by the compiler and both executors."""
    return _DEFAULT
