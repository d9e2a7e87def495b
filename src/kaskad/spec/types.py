"""Value types of schema fields and expressions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeGuard

# model frameworks kaskad can load (kaskad.models has an adapter for each)
Framework = Literal["sklearn", "lightgbm", "onnx", "xgboost", "catboost"]
FRAMEWORKS: tuple[Framework, ...] = ("sklearn", "lightgbm", "onnx", "xgboost", "catboost")


def is_framework(name: str) -> TypeGuard[Framework]:
    return name in FRAMEWORKS


Kind = Literal[
    "string",
    "integer",
    "float",
    "boolean",
    "date",
    "datetime",
    "category",
    "object",
    "list",
    "null",  # the type of the literal NULL
    "any",  # error recovery in the checker: compatible with everything
]
SCALAR_KINDS: tuple[Kind, ...] = ("string", "integer", "float", "boolean", "date", "datetime")
ALL_KINDS: tuple[Kind, ...] = (*SCALAR_KINDS, "category", "object", "list")


def is_kind(name: object) -> TypeGuard[Kind]:
    return name in ALL_KINDS or name in ("null", "any")


@dataclass(frozen=True)
class DType:
    """A value type. ``category`` carries its allowed values, ``object`` its fields,
    ``list`` its item type. ``null`` is the type of the literal NULL."""

    kind: Kind
    values: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    item: DType | None = None
    # a datetime's time zone (IANA name): its values are held in UTC, naive input is read
    # as local time there and day-level functions see local time; '' = UTC
    tz: str = field(default="", metadata={"omit_default": True})

    def __str__(self) -> str:
        if self.kind == "list" and self.item is not None:
            return f"list of {self.item}"
        if self.tz:
            return f"{self.kind} ({self.tz})"
        return self.kind

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("integer", "float")

    @property
    def is_textual(self) -> bool:
        return self.kind in ("string", "category")

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def family(self) -> str:
        """Comparable family: numbers compare with numbers, text with text."""
        if self.is_numeric:
            return "number"
        if self.is_textual:
            return "text"
        return self.kind


@dataclass(frozen=True)
class Constraints:
    """What a field's values must also satisfy (checked alike by both executors):
    ``min``/``max`` (numbers, inclusive), ``finite`` (floats: refuse NaN and ±infinity;
    on by default), ``max_length`` (text, in characters) and ``pattern`` (text: a regular
    expression the whole value must match)."""

    min: int | float | None = None
    max: int | float | None = None
    finite: bool = True
    max_length: int | None = None
    pattern: str | None = None


NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True)
class Field:
    """A named, typed field of the input schema (or of a nested object)."""

    name: str
    dtype: DType
    required: bool = False
    sensitive: bool = False
    key: bool = False
    description: str = ""
    # left out of the serialised plan (and its hash) when it has no constraints
    constraints: Constraints = field(default=NO_CONSTRAINTS, metadata={"omit_default": True})


STRING = DType("string")
INTEGER = DType("integer")
FLOAT = DType("float")
BOOLEAN = DType("boolean")
DATE = DType("date")
DATETIME = DType("datetime")
NULL = DType("null")
ANY = DType("any")  # error recovery: compatible with everything, never reported twice
OUTCOME = DType("category", values=("hit", "pass", "unknown"))
STRING_LIST = DType("list", item=STRING)
