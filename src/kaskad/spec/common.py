"""Things every component spec shares: identity, source file and canonical content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def canonical_json(data: Any) -> str:
    """Stable JSON text of parsed YAML, so formatting and key order do not change hashes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ComponentRef:
    """A component as loaded: kind, name, file it came from and its content hash."""

    # schema, features, python, rules, list, table, table_rules (its CSV), model, pipeline
    kind: str
    name: str
    source: str  # the file as shown to people (relative to the working folder)
    sha256: str
    path: str = ""  # the file's absolute path, for snapshots
