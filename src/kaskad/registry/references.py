"""Resolving registered models (``registered: fraud@production``) through a store.

A reference resolves to a registered version; its artifact is written out of the
store's artifact store (its sha256 verified) into ``cache_root/models/NAME/VERSION/``.
``pins`` (what a release recorded: ``{"fraud@production": "fraud@2"}``) fixes a
reference to the version it resolved to when the release was made, whatever its stage
points at now.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kaskad.compile.registered import ResolvedModel
from kaskad.errors import KaskadError
from kaskad.registry.models import artifact_suffix
from kaskad.store.defaults import DEFAULT_FOLDER
from kaskad.store.store import Store

__all__ = ["StoreResolver"]


class StoreResolver:
    """A :class:`~kaskad.compile.registered.ModelResolver` over an open store (or a store
    location, opened only when a pipeline has a registered model)."""

    def __init__(
        self,
        store: Store | str | None,
        cache_root: Path,
        pins: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._cache_root = cache_root
        self._pins = dict(pins or {})
        self.resolved: dict[str, ResolvedModel] = {}  # reference → the version it named

    def resolve(self, reference: str) -> ResolvedModel:
        if reference in self.resolved:
            return self.resolved[reference]
        wanted = self._pins.get(reference, reference)
        if isinstance(self._store, Store):
            got = self._resolve(self._store, wanted)
        else:
            location = self._store or str(DEFAULT_FOLDER)
            if "://" not in location and not Path(location).exists():
                # validate does not make a store as a side effect
                raise KaskadError(f"no store at {location}: give --store (or KASKAD_STORE)")
            with Store.open(location) as store:
                got = self._resolve(store, wanted)
        self.resolved[reference] = got
        return got

    def _resolve(self, store: Store, reference: str) -> ResolvedModel:
        version = store.resolve_model(reference)
        folder = self._cache_root / "models" / version.name / str(version.version)
        path = folder / f"{version.artifact_sha256[:12]}{artifact_suffix(version.framework)}"
        if not path.is_file():  # copy_to verifies the sha256 before the file appears
            store.artifacts.copy_to(
                version.artifact_sha256, path, name=f"model {version.name}@{version.version}"
            )
        return ResolvedModel(
            version.name, version.version, version.framework, version.artifact_sha256, path
        )

    def pins(self) -> dict[str, str]:
        """What each reference resolved to: ``{"fraud@production": "fraud@2"}``."""
        return {ref: got.pinned for ref, got in self.resolved.items()}
