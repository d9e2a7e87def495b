"""Replaying logged decisions: each logged input re-run through the exact release that
decided it, every output compared bit for bit with what was logged.

A release is loaded as for serving (every artifact's sha256, the environment lock, the
plan hash), once per replay; its golden cases are not replayed, since the logged traffic
replayed here is a larger golden set whose differences are reported field by field. A
record is *unreplayable*, with the reason, when: its release cannot be loaded (the
reason is the verification's), it was served from a pipeline file rather than a release,
its input was erased, its content hash does not verify, or a sensitive field was logged
masked and the plan reads it (the record would be decided on its digest) or is not text
(the digest is not a value of its type).

Values are compared exactly: same JSON type and, for numbers, the same bits
(``0.1 + 0.2`` differs from ``0.3``); a field logged but not produced, or produced but
not logged, is a difference too. Rejected records are counted, not replayed (they never
reached the plan). Challengers are compared with their logged outputs where those were
logged (in the reply or in ``shadow_decisions``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kaskad.audit.reads import read_by, readers, sensitive_fields
from kaskad.compile.naming import SHADOW_PREFIX, shadow_prefix
from kaskad.errors import KaskadError
from kaskad.execute.convert import json_value
from kaskad.execute.record import RecordExecutor
from kaskad.registry.releases import LoadedRelease, load_release
from kaskad.store import Store
from kaskad.store.decision_hashes import verify
from kaskad.store.decision_keeping import iter_decisions
from kaskad.store.decision_reads import read_shadow_decisions

__all__ = [
    "BODY_FIELDS",
    "FieldDiff",
    "RecordReplay",
    "ReplayReport",
    "differences",
    "replay",
]

# reply fields that describe the request, not the decision: not compared
BODY_FIELDS = frozenset({"decision_id", "pipeline", "release", "plan_hash", "duration_ms"})
Verdict = Literal["match", "mismatch", "unreplayable"]


@dataclass(frozen=True)
class FieldDiff:
    field: str
    logged: Any
    replayed: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "logged": self.logged, "replayed": self.replayed}


@dataclass(frozen=True)
class RecordReplay:
    decision_id: str
    at: dt.datetime
    release: str | None
    verdict: Verdict
    differences: tuple[FieldDiff, ...] = ()
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "at": self.at.isoformat(),
            "release": self.release,
            "verdict": self.verdict,
            "differences": [d.to_dict() for d in self.differences],
            "reason": self.reason,
        }


@dataclass
class ReplayReport:
    """Counts and the records that did not match (matches are only counted)."""

    matched: int = 0
    rejected_skipped: int = 0
    mismatched: list[RecordReplay] = field(default_factory=list)
    unreplayable: list[RecordReplay] = field(default_factory=list)
    releases: dict[str, list[str]] = field(default_factory=dict)  # ref → checks or failure
    fields_differing: Counter[str] = field(default_factory=Counter)

    @property
    def replayed(self) -> int:
        return self.matched + len(self.mismatched)

    @property
    def exit_code(self) -> int:
        """0: every record replayed and matched; 1: a mismatch; 3: none mismatched but
        some could not be replayed (2 is kept for wrong usage)."""
        if self.mismatched:
            return 1
        return 3 if self.unreplayable else 0

    def add(self, outcome: RecordReplay) -> None:
        if outcome.verdict == "match":
            self.matched += 1
        elif outcome.verdict == "mismatch":
            self.mismatched.append(outcome)
            self.fields_differing.update(d.field for d in outcome.differences)
        else:
            self.unreplayable.append(outcome)

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "mismatched": len(self.mismatched),
            "unreplayable": len(self.unreplayable),
            "rejected_skipped": self.rejected_skipped,
            "fields_differing": dict(self.fields_differing.most_common()),
            "releases": self.releases,
            "mismatches": [r.to_dict() for r in self.mismatched],
            "unreplayable_records": [r.to_dict() for r in self.unreplayable],
            "exit_code": self.exit_code,
        }


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, numbers to the bit (``1`` is not ``1.0``; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a.hex() == b.hex() or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def differences(
    logged: Mapping[str, Any],
    replayed: Mapping[str, Any],
    logged_shadows: Mapping[str, Mapping[str, Any]],
) -> list[FieldDiff]:
    """Fields whose replayed value is not bit-identical to the logged one."""
    missing = object()
    diffs = []
    compared = {k: v for k, v in logged.items() if k not in BODY_FIELDS}
    expected: dict[str, Any] = dict(compared)
    for name, outputs in logged_shadows.items():
        for key, value in outputs.items():
            expected.setdefault(shadow_prefix(name) + key, value)
    # a challenger's fields are compared where they were logged (their runs are optional)
    produced = {k for k in replayed if not k.startswith(SHADOW_PREFIX) or k in expected}
    for key in sorted(set(expected) | produced):
        was, now = expected.get(key, missing), replayed.get(key, missing)
        if was is missing or now is missing or not same(was, now):
            diffs.append(
                FieldDiff(
                    key,
                    "(not logged)" if was is missing else was,
                    "(not produced)" if now is missing else now,
                )
            )
    return diffs


class _Release:
    """A loaded release (or why it cannot be), its executor and what makes a record of it
    unreplayable."""

    def __init__(self, loaded: LoadedRelease) -> None:
        self.loaded = loaded
        self.executor = RecordExecutor(loaded.plan)
        reads = readers(loaded.plan)
        self.sensitive = {
            ".".join(path): (dtype.kind, read_by(path, reads))
            for path, dtype in sensitive_fields(loaded.plan.schema.fields).items()
        }

    def why_not(self, row: Mapping[str, Any]) -> str | None:
        for name, (kind, who) in self.sensitive.items():
            if not _masked_at(row.get("input"), name.split(".")):
                continue
            if who:
                return (
                    f"sensitive field {name} was logged masked (its sha256) and"
                    f" {', '.join(who)} reads it: the decision cannot be re-run on it"
                )
            if kind != "string":
                return (
                    f"sensitive field {name} ({kind}) was logged masked (its sha256), which"
                    " is not a value of its type"
                )
        return None


def _masked_at(value: Any, path: list[str]) -> bool:
    if not path:
        return isinstance(value, str) and value.startswith("sha256:")
    if isinstance(value, list):
        return any(_masked_at(v, path) for v in value)
    if isinstance(value, Mapping):
        return _masked_at(value.get(path[0]), path[1:])
    return False


def replay(
    log: str,
    registry: Store,
    *,
    cache_root: Path,
    actor: str,
    pipeline: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    ids: Iterable[str] | None = None,
    allow_environment_mismatch: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay the decisions of the log at ``log`` (a window, or these ``ids``) through the
    releases of ``registry`` that made them."""
    report = ReplayReport()
    releases: dict[str, _Release | str] = {}

    def release_of(ref: str) -> _Release | str:
        if ref not in releases:
            try:
                loaded = load_release(
                    registry,
                    ref,
                    actor=actor,
                    cache_root=cache_root,
                    allow_environment_mismatch=allow_environment_mismatch,
                    replay_golden=False,
                )
                releases[ref] = _Release(loaded)
                report.releases[ref] = [f"{c.name}: {c.detail}" for c in loaded.checks]
            except KaskadError as exc:
                releases[ref] = f"release {ref} cannot be loaded: {exc}"
                report.releases[ref] = [str(releases[ref])]
        return releases[ref]

    for chunk in iter_decisions(log, pipeline=pipeline, since=since, until=until, ids=ids):
        decided = [r for r in chunk if r["status"] == "decided"]
        report.rejected_skipped += len(chunk) - len(decided)
        shadows: dict[str, dict[str, Any]] = {}
        for s in read_shadow_decisions(log, [r["decision_id"] for r in decided]):
            shadows.setdefault(s["decision_id"], {})[s["shadow"]] = s["output"]
        for row in decided:
            report.add(_one(row, shadows.get(row["decision_id"], {}), release_of))
        if progress is not None:
            progress(len(chunk))
    return report


def _one(
    row: Mapping[str, Any],
    shadows: Mapping[str, Mapping[str, Any]],
    release_of: Callable[[str], _Release | str],
) -> RecordReplay:
    if row["erased_at"] is not None:
        return _unreplayable(row, f"its input was erased on {row['erased_at']:%Y-%m-%d}")
    problems = [p for p in verify(row) if not p.startswith("logged without hashes")]
    if problems:
        return _unreplayable(row, "; ".join(problems))
    if row["release"] is None:
        return _unreplayable(
            row, "it was served from a pipeline file, not a release: nothing recorded to re-run"
        )
    release = release_of(row["release"])
    if isinstance(release, str):
        return _unreplayable(row, release)
    if release.loaded.plan.hash != row["plan_hash"]:
        return _unreplayable(
            row,
            f"it was decided by plan {row['plan_hash'][:12]}, release {row['release']} is"
            f" plan {release.loaded.plan.hash[:12]}",
        )
    why = release.why_not(row)
    if why is not None:
        return _unreplayable(row, why)
    decision = release.executor.decide(row["input"])
    diffs = differences(row["output"] or {}, json_value(decision.output), shadows)
    verdict: Verdict = "mismatch" if diffs else "match"
    return RecordReplay(row["decision_id"], row["at"], row["release"], verdict, tuple(diffs))


def _unreplayable(row: Mapping[str, Any], reason: str) -> RecordReplay:
    return RecordReplay(row["decision_id"], row["at"], row["release"], "unreplayable", (), reason)
