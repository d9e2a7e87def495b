"""Persistence: the registry (model versions, releases, stages, audit, runs), the artifact
store, and the decision log (its writers and readers).

Open the registry with :meth:`Store.open`: SQLite in ``./.kaskad`` by default, or any
SQLite or PostgreSQL URL; artifacts live in a content-addressed :class:`ArtifactStore`.
The decision log of a store is written by :class:`DecisionLog` (group commit) or
:class:`JournaledLog` (a local journal first, shipped to the store), both opened by
:func:`open_decision_log`, and read back by :func:`read_decisions`,
:func:`rejection_shapes`, :func:`decision_detail` and their kin.

Modules whose names start with ``_`` are private to this package.
"""

from kaskad.errors import ArtifactIntegrityError, ArtifactMissingError, NotFoundError, StoreError
from kaskad.store.api import AuditEntry, ModelVersion, Release, RunRecord, StageChange
from kaskad.store.artifacts import ArtifactStore, LocalArtifactStore
from kaskad.store.decision_reads import (
    RejectionShape,
    decision_detail,
    read_decision_plans,
    read_decisions,
    read_shadow_decisions,
    rejection_shapes,
)
from kaskad.store.decisions import (
    DecisionLog,
    DecisionRecord,
    DecisionSink,
    LogFull,
    PlanRecord,
    Record,
    ShadowRecord,
)
from kaskad.store.journal import (
    JournaledLog,
    JournalSettings,
    default_journal_folder,
    open_decision_log,
)
from kaskad.store.journal_files import JournalError
from kaskad.store.store import Store

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "ArtifactStore",
    "AuditEntry",
    "DecisionLog",
    "DecisionRecord",
    "DecisionSink",
    "JournalError",
    "JournalSettings",
    "JournaledLog",
    "LocalArtifactStore",
    "LogFull",
    "ModelVersion",
    "NotFoundError",
    "PlanRecord",
    "Record",
    "RejectionShape",
    "Release",
    "RunRecord",
    "ShadowRecord",
    "StageChange",
    "Store",
    "StoreError",
    "decision_detail",
    "default_journal_folder",
    "open_decision_log",
    "read_decision_plans",
    "read_decisions",
    "read_shadow_decisions",
    "rejection_shapes",
]
