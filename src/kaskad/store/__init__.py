"""The registry (model versions, releases, stages, audit) and the artifact store.

Open one with :meth:`Store.open`: SQLite in ``./.kaskad`` by default, or any SQLite or
PostgreSQL URL; artifacts live in a content-addressed :class:`ArtifactStore`.

The names below are imported on first use (PEP 562): ``kaskad.store.defaults`` and
``kaskad.store.refs`` can be read without loading SQLAlchemy and Alembic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kaskad.errors import ArtifactIntegrityError, ArtifactMissingError, NotFoundError, StoreError

if TYPE_CHECKING:
    from kaskad.store.api import AuditEntry, ModelVersion, Release, StageChange
    from kaskad.store.artifacts import ArtifactStore, LocalArtifactStore
    from kaskad.store.store import Store

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "ArtifactStore",
    "AuditEntry",
    "LocalArtifactStore",
    "ModelVersion",
    "NotFoundError",
    "Release",
    "StageChange",
    "Store",
    "StoreError",
]

_HOMES = {
    "ArtifactStore": "kaskad.store.artifacts",
    "AuditEntry": "kaskad.store.api",
    "LocalArtifactStore": "kaskad.store.artifacts",
    "ModelVersion": "kaskad.store.api",
    "Release": "kaskad.store.api",
    "StageChange": "kaskad.store.api",
    "Store": "kaskad.store.store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kaskad.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
