"""Content hashes of logged decisions: what keeps a decision verifiable for years, even
after the person's input was erased.

Each row of the log carries ``input_sha256`` (the sha256 of its input as logged, i.e.
already masked) and ``record_sha256`` (the sha256 of the decision itself: id, time,
pipeline, release, plan hash, status, ``input_sha256``, output and errors). Erasing a
person's input (:func:`kaskad.store.decision_keeping.erase`) removes the input but keeps
both hashes, so the decision still verifies: :func:`verify` recomputes the record hash
from the columns that remain, and the input hash as well while the input is there.

Hashes are of canonical JSON: keys sorted, UTF-8, no spaces (``orjson``); timestamps as
ISO 8601 in UTC with microseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["RECORD_FIELDS", "canonical", "input_digest", "record_digest", "verify"]

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
RECORD_FIELDS = (
    "decision_id",
    "at",
    "pipeline",
    "release",
    "plan_hash",
    "status",
    "input_sha256",
    "output",
    "errors",
)


def canonical(value: Any) -> bytes:
    """``value`` as canonical JSON bytes (keys sorted; unknown types as their text)."""
    return orjson.dumps(value, default=str, option=_OPTIONS)


def input_digest(value: Any) -> str | None:
    """sha256 of a logged input (None for none: a body refused before it was parsed)."""
    if value is None:
        return None
    return hashlib.sha256(canonical(value)).hexdigest()


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return str(value.astimezone(dt.UTC).isoformat(timespec="microseconds"))
    return str(value)


def record_digest(row: Mapping[str, Any]) -> str:
    """sha256 of a decision row's :data:`RECORD_FIELDS` (``input_sha256`` stands in for
    the input, so the digest survives erasure)."""
    fields = {name: row.get(name) for name in RECORD_FIELDS}
    fields["at"] = _when(fields["at"])
    return hashlib.sha256(canonical(fields)).hexdigest()


def verify(row: Mapping[str, Any]) -> list[str]:
    """What does not verify in a decision row (empty: it verifies). Rows logged before
    hashes were kept (no ``record_sha256``) are reported as such."""
    if row.get("record_sha256") is None:
        return ["logged without hashes (before kaskad kept them): cannot be verified"]
    problems = []
    if row.get("erased_at") is None and input_digest(row.get("input")) != row.get("input_sha256"):
        problems.append("the input does not match its sha256: it was changed after logging")
    if record_digest(row) != row["record_sha256"]:
        problems.append("the record does not match its sha256: it was changed after logging")
    return problems
