"""Releases in a bundle: written out of one store with everything they need, read into
another with their numbers, stages and audit entries.

``releases/NAME/N.json`` holds the release record, the stage pointers of its pipeline
that name it, their history, and the audit entries about it; ``artifacts/`` holds every
file of its manifest and its golden cases, by sha256, exactly as the store keeps them
(model versions whose artifact the release uses come along with their training-data
profile, as reference for monitoring).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kaskad.deliver.errors import BundleError, BundleInstallError, BundleIntegrityError
from kaskad.deliver.layout import ARTIFACTS, RELEASES, sha256_file
from kaskad.errors import KaskadError
from kaskad.store.api import AuditEntry, ImportedRelease, Release, StageChange
from kaskad.store.store import Store

AUDIT_LIMIT = 100_000


def _dates(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def artifact_path(sha256: str) -> str:
    return f"{ARTIFACTS}/{sha256[:2]}/{sha256}"


def release_shas(release: Release) -> list[str]:
    """Every artifact a release needs: its files and its golden cases."""
    shas = list(dict(release.manifest.get("files", {})).values())
    if release.golden_sha256:
        shas.append(release.golden_sha256)
    return sorted(set(shas))


def export_release(store: Store, ref: str, folder: Path) -> Release:
    """Write the release ``ref`` names, and its artifacts, into a bundle folder."""
    try:
        release = store.resolve(ref)
        stages = {s: n for s, n in store.stages(release.pipeline).items() if n == release.number}
        history = [h for h in store.stage_history(release.pipeline) if h.stage in stages]
        audit = store.audit_log(limit=AUDIT_LIMIT, target=release.ref)
        shas = release_shas(release)
        for sha in shas:
            target = folder / artifact_path(sha)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                store.artifacts.copy_to(sha, target, name=f"{release.ref}: artifact {sha[:12]}")
        models = [
            asdict(m)
            for m in store.list_models()
            if m.artifact_sha256 in shas and m.training_data is not None
        ]
    except KaskadError as exc:
        raise BundleError(f"cannot bundle {ref}: {exc}") from exc
    record = {
        "release": asdict(release),
        "stages": stages,
        "stage_history": [asdict(h) for h in history],
        "audit": [asdict(a) for a in reversed(audit)],  # oldest first
        "models": models,
    }
    path = folder / RELEASES / release.pipeline / f"{release.number}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=_dates) + "\n")
    return release


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def read_record(path: Path) -> dict[str, Any]:
    """One ``releases/NAME/N.json`` with its dates parsed back."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        rel = raw["release"]
        release = Release(**{**rel, "created_at": _time(rel["created_at"])})
        history = [StageChange(**{**h, "at": _time(h["at"])}) for h in raw["stage_history"]]
        audit = [AuditEntry(**{**a, "at": _time(a["at"])}) for a in raw["audit"]]
        stages = {str(k): int(v) for k, v in raw["stages"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(f"{path}: not a bundled release: {exc}") from exc
    return {"release": release, "stages": stages, "history": history, "audit": audit}


def import_releases(
    store: Store, folder: Path, *, actor: str, detail: dict[str, Any]
) -> list[ImportedRelease]:
    """Put every release of a (checked) bundle folder into ``store``, artifacts first."""
    results = []
    for path in sorted((folder / RELEASES).glob("*/*.json"), key=_release_order):
        record = read_record(path)
        release: Release = record["release"]
        try:
            for sha in release_shas(release):
                source = folder / artifact_path(sha)
                if not store.artifacts.exists(sha):
                    if sha256_file(source) != sha:
                        raise BundleIntegrityError(f"{source}: content does not match its name")
                    store.artifacts.put_file(source)
            results.append(
                store.import_release(
                    release,
                    stages=record["stages"],
                    stage_history=record["history"],
                    audit=record["audit"],
                    actor=actor,
                    detail=detail,
                )
            )
        except BundleError:
            raise
        except KaskadError as exc:
            raise BundleInstallError(f"cannot install {release.ref}: {exc}") from exc
    return results


def _release_order(path: Path) -> tuple[str, int]:
    return path.parent.name, int(path.stem) if path.stem.isdigit() else 0
