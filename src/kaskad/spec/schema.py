"""Input schema: typed fields, required or optional, nested objects and lists of objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaskad.errors import Problem
from kaskad.spec.reader import Reader
from kaskad.spec.types import ALL_KINDS, DType, Field, is_kind
from kaskad.spec.yamlfile import PathKey, load_yaml

_FIELD_KEYS = ("type", "required", "description", "values", "fields", "items", "sensitive", "key")


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
        return DType("list", item=item[0]), spec
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
            )
        )
    return tuple(out)


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
