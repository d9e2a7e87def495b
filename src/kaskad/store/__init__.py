"""Persistence: the registry (model versions, releases, stages, audit, runs), the artifact
store, and the decision log (its writers and readers).

Open the registry with :meth:`Store.open`: SQLite in ``./.kaskad`` by default, or any
SQLite or PostgreSQL URL; artifacts live in a content-addressed :class:`ArtifactStore`
(the folder's ``artifacts/``, or the database itself for a store given by URL).
The decision log of a store is written by :class:`DecisionLog` (group commit) or
:class:`JournaledLog` (a local journal first, shipped to the store), both opened by
:func:`open_decision_log`, and read back by :func:`read_decisions`,
:func:`rejection_shapes`, :func:`decision_detail` and their kin.

The names below are imported on first use (PEP 562): ``kaskad.store.defaults`` and
``kaskad.store.refs`` can be read without loading SQLAlchemy and Alembic. Modules whose
names start with ``_`` are private to this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaskad.errors import (
    ApprovalError,
    ArtifactIntegrityError,
    ArtifactMissingError,
    NotFoundError,
    StoreError,
)
from kaskad.lazy import lazy_names

if TYPE_CHECKING:
    from kaskad.store.api import (
        AuditEntry,
        ImportedRelease,
        ModelVersion,
        Release,
        RunRecord,
        StageChange,
    )
    from kaskad.store.artifacts import (
        ArtifactStore,
        CopyReport,
        LocalArtifactStore,
        copy_artifacts,
    )
    from kaskad.store.db_artifacts import DatabaseArtifactStore
    from kaskad.store.decision_hashes import verify
    from kaskad.store.decision_keeping import (
        EraseResult,
        PruneResult,
        decisions_by_key,
        erase,
        iter_decisions,
        prune,
    )
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
    "ApprovalError",
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "ArtifactStore",
    "AuditEntry",
    "CopyReport",
    "DatabaseArtifactStore",
    "DecisionLog",
    "DecisionRecord",
    "DecisionSink",
    "EraseResult",
    "ImportedRelease",
    "JournalError",
    "JournalSettings",
    "JournaledLog",
    "LocalArtifactStore",
    "LogFull",
    "ModelVersion",
    "NotFoundError",
    "PlanRecord",
    "PruneResult",
    "Record",
    "RejectionShape",
    "Release",
    "RunRecord",
    "ShadowRecord",
    "StageChange",
    "Store",
    "StoreError",
    "copy_artifacts",
    "decision_detail",
    "decisions_by_key",
    "default_journal_folder",
    "erase",
    "iter_decisions",
    "open_decision_log",
    "prune",
    "read_decision_plans",
    "read_decisions",
    "read_shadow_decisions",
    "rejection_shapes",
    "verify",
]

_HOMES = {
    "AuditEntry": "kaskad.store.api",
    "ImportedRelease": "kaskad.store.api",
    "ModelVersion": "kaskad.store.api",
    "Release": "kaskad.store.api",
    "RunRecord": "kaskad.store.api",
    "StageChange": "kaskad.store.api",
    "ArtifactStore": "kaskad.store.artifacts",
    "LocalArtifactStore": "kaskad.store.artifacts",
    "CopyReport": "kaskad.store.artifacts",
    "copy_artifacts": "kaskad.store.artifacts",
    "DatabaseArtifactStore": "kaskad.store.db_artifacts",
    "RejectionShape": "kaskad.store.decision_reads",
    "decision_detail": "kaskad.store.decision_reads",
    "read_decision_plans": "kaskad.store.decision_reads",
    "read_decisions": "kaskad.store.decision_reads",
    "read_shadow_decisions": "kaskad.store.decision_reads",
    "rejection_shapes": "kaskad.store.decision_reads",
    "EraseResult": "kaskad.store.decision_keeping",
    "PruneResult": "kaskad.store.decision_keeping",
    "decisions_by_key": "kaskad.store.decision_keeping",
    "erase": "kaskad.store.decision_keeping",
    "iter_decisions": "kaskad.store.decision_keeping",
    "prune": "kaskad.store.decision_keeping",
    "verify": "kaskad.store.decision_hashes",
    "DecisionLog": "kaskad.store.decisions",
    "DecisionRecord": "kaskad.store.decisions",
    "DecisionSink": "kaskad.store.decisions",
    "LogFull": "kaskad.store.decisions",
    "PlanRecord": "kaskad.store.decisions",
    "Record": "kaskad.store.decisions",
    "ShadowRecord": "kaskad.store.decisions",
    "JournalSettings": "kaskad.store.journal",
    "JournaledLog": "kaskad.store.journal",
    "default_journal_folder": "kaskad.store.journal",
    "open_decision_log": "kaskad.store.journal",
    "JournalError": "kaskad.store.journal_files",
    "Store": "kaskad.store.store",
}


__getattr__ = lazy_names(__name__, _HOMES)
