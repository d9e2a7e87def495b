"""The registry (model versions, releases, stages, audit) and the artifact store.

Open one with :meth:`Store.open`: SQLite in ``./.kaskad`` by default, or any SQLite or
PostgreSQL URL; artifacts live in a content-addressed :class:`ArtifactStore`.
"""

from kaskad.errors import ArtifactIntegrityError, ArtifactMissingError, NotFoundError, StoreError
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
