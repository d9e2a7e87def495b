"""Reference lists: named, versioned tables of values that expressions test and look up.

A pipeline declares its lists under ``lists:`` (name → file). A list file is CSV (a
header row; the key is the first column, or the column named by ``key``) or YAML::

    list: high_risk_countries
    key_type: string
    entries: [IR, KP, MM]

    list: mcc_groups
    key: mcc
    key_type: integer
    columns: {group: string, risk: integer}
    rows:
      - {mcc: 7995, group: gambling, risk: 3}

Every value is read against its declared type; a wrong type, an empty key or a key given
twice is refused with the file and line. A list's identity is the sha256 of its canonical
content (name, columns with their types, and entries in key order), so reformatting a
file does not change it and adding one entry does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaskad.errors import Location
from kaskad.spec.common import ComponentRef
from kaskad.spec.types import DType

LIST_TYPES = ("string", "integer", "float", "boolean")
KEY_TYPES = ("string", "integer")


@dataclass(frozen=True)
class RefList:
    """A reference list: its key column and value columns with their types, and its rows
    (key first) in key order."""

    name: str
    columns: tuple[str, ...]  # the key column first
    types: tuple[DType, ...]  # one per column
    rows: tuple[tuple[Any, ...], ...]

    @property
    def key_type(self) -> DType:
        return self.types[0]

    def keys(self) -> tuple[Any, ...]:
        return tuple(r[0] for r in self.rows)

    def column(self, name: str) -> int | None:
        """The index of a value column (not the key), or None."""
        if name in self.columns[1:]:
            return self.columns.index(name)
        return None

    def entries(self) -> dict[str, str]:
        """Each key (as text) → the entry's values as text, for release diffs."""
        out: dict[str, str] = {}
        for row in self.rows:
            values = ", ".join(f"{c}={v!r}" for c, v in zip(self.columns[1:], row[1:], strict=True))
            out[str(row[0])] = values
        return out


@dataclass(frozen=True)
class RefListSpec:
    """A list as a pipeline declares it: the list and its component reference."""

    list: RefList
    ref: ComponentRef
    location: Location | None = None  # where the pipeline declares it


def read_value(raw: Any, dtype: DType) -> tuple[Any, bool]:
    """A list cell as ``dtype``: (value, ok). Text cells (CSV) are read as written; YAML
    values must already have the type (an integer for an integer column, and so on)."""
    kind = dtype.kind
    if isinstance(raw, str):
        text = raw.strip()
        if kind == "string":
            return raw, True
        if kind == "integer":
            try:
                return int(text), text.lstrip("-").isdigit()
            except ValueError:
                return None, False
        if kind == "float":
            try:
                return float(text), text.lower() not in ("nan", "inf", "-inf", "infinity")
            except ValueError:
                return None, False
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true", True
        return None, False
    if kind == "string":
        return None, False
    if kind == "integer":
        return raw, isinstance(raw, int) and not isinstance(raw, bool)
    if kind == "float":
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        return (float(raw) if ok else None), ok
    if kind == "boolean":
        return raw, isinstance(raw, bool)
    return None, False


def list_type(name: object) -> DType | None:
    return DType(name) if name in LIST_TYPES else None  # type: ignore[arg-type]


__all__ = ["KEY_TYPES", "LIST_TYPES", "RefList", "RefListSpec", "list_type", "read_value"]
