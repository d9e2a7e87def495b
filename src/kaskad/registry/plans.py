"""A release's plan from Python: what ``kaskad run NAME@STAGE`` runs, for a notebook or
a service of one's own."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kaskad.compile.plan import Plan
from kaskad.registry.environment import default_actor
from kaskad.registry.releases import load_release
from kaskad.store.defaults import DEFAULT_FOLDER, STORE_ENV, find_store
from kaskad.store.store import Store

__all__ = ["release_plan"]


def release_plan(
    pipeline: str,
    release: int | str | None = None,
    *,
    store: str | Path | None = None,
    actor: str | None = None,
    allow_environment_mismatch: bool = False,
) -> Plan:
    """The verified plan of a release, ready for :class:`~kaskad.BatchExecutor` or
    :class:`~kaskad.RecordExecutor`::

        plan = kaskad.release_plan("loan_decision", "production")
        plan = kaskad.release_plan("loan_decision", 3)
        plan = kaskad.release_plan("loan_decision@latest", store="postgresql://kaskad@db/kaskad")

    ``pipeline`` is a pipeline name, or a whole reference ``NAME@NUMBER``/``NAME@STAGE``
    (then ``release`` stays None). ``release`` is a number, a stage or ``latest``; None
    means the ``production`` stage, as ``kaskad serve NAME`` does. ``store`` is a store
    folder or database URL; None finds it as the command does: ``KASKAD_STORE``, else the
    nearest ``.kaskad`` folder in the current directory or above (up to the folder
    holding ``.git``).

    The release is verified as every load is (artifact hashes, the environment lock,
    golden cases) and the load is recorded in the audit trail under ``actor`` (the OS
    user by default). Raises :class:`~kaskad.errors.NotFoundError` for an unknown release
    or stage and :class:`~kaskad.registry.errors.ReleaseError` for one that must not run.
    """
    if release is not None:
        ref = f"{pipeline}@{release}"
    elif "@" in pipeline:
        ref = pipeline
    else:
        ref = f"{pipeline}@production"
    location = store or os.environ.get(STORE_ENV) or find_store() or DEFAULT_FOLDER
    if isinstance(location, str) and "://" in location:
        cache = (find_store() or Path(tempfile.gettempdir()) / "kaskad") / "releases"
    else:
        cache = Path(location) / "releases"
    with Store.open(location) as opened:
        loaded = load_release(
            opened,
            ref,
            actor=actor or default_actor(),
            cache_root=cache,
            allow_environment_mismatch=allow_environment_mismatch,
        )
    return loaded.plan
