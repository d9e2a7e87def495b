"""Input schema: typed fields, required or optional, nested objects and lists of objects."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from kaskad.errors import Problem
from kaskad.spec.reader import Reader
from kaskad.spec.timezone import read_timezone
from kaskad.spec.types import ALL_KINDS, NO_CONSTRAINTS, Constraints, DType, Field, is_kind
from kaskad.spec.yamlfile import PathKey, load_yaml

_CONSTRAINT_KEYS = ("min", "max", "finite", "max_length", "pattern")
_FIELD_KEYS = (
    "type",
    "required",
    "description",
    "values",
    "fields",
    "items",
    "sensitive",
    "key",
    "timezone",
    *_CONSTRAINT_KEYS,
)
# the kinds each constraint applies to
_CONSTRAINT_KINDS: dict[str, tuple[str, ...]] = {
    "min": ("integer", "float"),
    "max": ("integer", "float"),
    "finite": ("float",),
    "max_length": ("string",),
    "pattern": ("string",),
}


@dataclass(frozen=True)
class Schema:
    """The input a pipeline accepts."""

    name: str
    fields: tuple[Field, ...]
    description: str = ""
    source: str = ""

    @property
    def dtype(self) -> DType:
        return DType("object", fields=self.fields)

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.key)


def _parse_type(r: Reader, path: PathKey, name: str) -> tuple[DType, dict[str, object]] | None:
    raw = r.get(path)
    if isinstance(raw, str):
        spec: dict[str, object] = {"type": raw}
    else:
        got = r.mapping(path, _FIELD_KEYS, ("type",), f"field '{name}'")
        if got is None:
            return None
        spec = got
    kind = spec.get("type")
    if kind not in ALL_KINDS or not is_kind(kind):
        import difflib

        close = difflib.get_close_matches(str(kind), ALL_KINDS, n=1)
        r.problem(
            "K104",
            f"field '{name}' has unknown type '{kind}'",
            (*path, "type") if not isinstance(raw, str) else path,
            f"did you mean '{close[0]}'?" if close else f"types: {', '.join(ALL_KINDS)}",
        )
        return None
    if kind == "category":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            r.problem("K104", f"category field '{name}' needs a list of allowed 'values'", path)
            return None
        return DType("category", values=tuple(str(v) for v in values)), spec
    if kind == "object":
        fields = _parse_fields(r, (*path, "fields"), name)
        return DType("object", fields=fields), spec
    if kind == "list":
        if "items" not in spec:
            r.problem("K104", f"list field '{name}' needs 'items' (the type of each element)", path)
            return None
        item = _parse_type(r, (*path, "items"), f"{name}[]")
        if item is None:
            return None
        for key in _CONSTRAINT_KEYS:
            if key in item[1]:
                r.problem(
                    "K108",
                    f"'{key}' on the items of list '{name}': constraints apply to fields",
                    (*path, "items", key),
                    "make the items objects and constrain their fields",
                )
        return DType("list", item=item[0]), spec
    if "timezone" in spec:
        if kind != "datetime":
            r.problem(
                "K259",
                f"'timezone' applies to datetime fields, and '{name}' is {kind}",
                (*path, "timezone"),
            )
        else:
            return DType(kind, tz=read_timezone(r, (*path, "timezone"))), spec
    return DType(kind), spec


def _parse_fields(r: Reader, path: PathKey, owner: str) -> tuple[Field, ...]:
    raw = r.get(path)
    if not isinstance(raw, dict) or not raw:
        r.problem("K104", f"'{owner}' needs 'fields': a mapping of field names to types", path)
        return ()
    out = []
    for name in raw:
        parsed = _parse_type(r, (*path, name), name)
        if parsed is None:
            continue
        dtype, spec = parsed
        out.append(
            Field(
                name=name,
                dtype=dtype,
                required=bool(spec.get("required", False)),
                sensitive=bool(spec.get("sensitive", False)),
                key=bool(spec.get("key", False)),
                description=str(spec.get("description", "")),
                constraints=_constraints(r, (*path, name), name, dtype, spec),
            )
        )
    return tuple(out)


def _constraints(
    r: Reader, path: PathKey, name: str, dtype: DType, spec: dict[str, object]
) -> Constraints:
    """The field's constraints; each one that is malformed, or does not apply to the
    field's type, is a K108 problem at its key."""
    given = {k: spec[k] for k in _CONSTRAINT_KEYS if k in spec}
    if not given:
        return NO_CONSTRAINTS
    ok: dict[str, object] = {}
    for key, value in given.items():
        where = (*path, key)
        kinds = _CONSTRAINT_KINDS[key]
        if dtype.kind not in kinds:
            r.problem(
                "K108",
                f"'{key}' does not apply to field '{name}' of type {dtype}",
                where,
                f"'{key}' applies to {' and '.join(kinds)} fields",
            )
        elif key in ("min", "max"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                r.problem("K108", f"'{key}' of field '{name}' must be a number", where)
            elif dtype.kind == "integer" and not isinstance(value, int):
                r.problem("K108", f"'{key}' of integer field '{name}' must be an integer", where)
            elif not math.isfinite(value):
                r.problem("K108", f"'{key}' of field '{name}' must be a finite number", where)
            else:
                ok[key] = value
        elif key == "finite":
            if not isinstance(value, bool):
                r.problem("K108", f"'finite' of field '{name}' must be true or false", where)
            else:
                ok[key] = value
        elif key == "max_length":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                what = f"'max_length' of field '{name}' must be a whole number above 0"
                r.problem("K108", what, where)
            else:
                ok[key] = value
        else:
            problem = pattern_problem(value)
            if problem is not None:
                r.problem("K108", f"'pattern' of field '{name}' {problem}", where)
            else:
                ok[key] = value
    low, high = ok.get("min"), ok.get("max")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        r.problem("K108", f"field '{name}' has min {low} greater than max {high}", (*path, "min"))
        ok.pop("min")
    return Constraints(**ok)  # type: ignore[arg-type]


def pattern_problem(pattern: object) -> str | None:
    """Why ``pattern`` cannot be a field's pattern (None when it can): it must be text that
    both executors read as the same regular expression (Python's ``re`` and Polars'
    Rust ``regex`` share most syntax; look-arounds and back references are in only one)."""
    if not isinstance(pattern, str) or not pattern:
        return "must be a regular expression (text)"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    import polars as pl

    try:
        pl.select(pl.lit("").str.contains(f"^(?:{pattern})$"))
    except pl.exceptions.PolarsError as exc:
        detail = " ".join(str(exc).split())[:160]
        return (
            "uses syntax the batch executor's regular expressions do not read"
            f" (look-arounds and back references are not supported): {detail}"
        )
    return None


def load_schema(path: Path, display: str, problems: list[Problem]) -> tuple[Schema | None, object]:
    """Read a schema file; returns the schema and its raw data (for hashing)."""
    doc, errs = load_yaml(path, display)
    problems.extend(errs)
    if doc is None:
        return None, None
    r = Reader(doc, "schema", problems)
    top = r.mapping((), ("schema", "description", "fields"), ("schema", "fields"), "a schema")
    if top is None:
        return None, None
    name = r.string(("schema",), "the schema name") or path.stem
    r.component = f"schema {name}"
    fields = _parse_fields(r, ("fields",), name)
    return Schema(name, fields, str(top.get("description", "")), display), doc.data
