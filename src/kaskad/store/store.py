"""The registry: model versions, releases, stage pointers and the audit trail; and the
log of batch runs.

One :class:`Store` per process (or per command) opened with :meth:`Store.open`; it is
safe to share between threads. Every method that changes the registry writes its audit
entry in the same transaction as the change it records (a run is a log entry of its own,
not a registry change).

Its parts live in private modules, one concern each: ``_base`` (engine, opening,
transactions), ``_models``, ``_releases``, ``_stages``, ``_runs``, ``_audit`` and
``_transfer`` (releases carried in from another store).
"""

from __future__ import annotations

from kaskad.store._approvals import ApprovalMethods
from kaskad.store._audit import AuditMethods
from kaskad.store._models import ModelMethods
from kaskad.store._releases import ReleaseMethods
from kaskad.store._runs import RunMethods
from kaskad.store._stages import StageMethods, rollback_target
from kaskad.store._transfer import TransferMethods

__all__ = ["Store", "rollback_target"]


class Store(
    ModelMethods,
    ReleaseMethods,
    StageMethods,
    RunMethods,
    AuditMethods,
    TransferMethods,
    ApprovalMethods,
):
    """Registry of model versions and releases, over SQLite or PostgreSQL.

    Use :meth:`open`; the constructor takes an engine whose schema is already current.
    """
