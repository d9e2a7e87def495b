"""Reading reference list files (CSV or YAML) and a pipeline's ``lists:`` declaration;
the lists themselves are :mod:`kaskad.spec.reflist`."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from kaskad.errors import Location, Problem
from kaskad.spec.common import ComponentRef, canonical_json, sha256_text
from kaskad.spec.reader import Reader
from kaskad.spec.reflist import KEY_TYPES, LIST_TYPES, RefList, RefListSpec, list_type, read_value
from kaskad.spec.types import DType
from kaskad.spec.yamlfile import PathKey, YamlDoc, load_yaml

_YAML_KEYS = ("list", "description", "key", "key_type", "columns", "entries", "rows")
_CSV_SUFFIXES = (".csv",)


class _Problems:
    def __init__(self, file: str, name: str, problems: list[Problem]) -> None:
        self.file = file
        self.component = f"list {name}"
        self.problems = problems
        self.count = 0

    def add(self, code: str, message: str, line: int | None, hint: str | None = None) -> None:
        self.problems.append(
            Problem(code, message, Location(self.file, line, None, self.component), hint)
        )
        self.count += 1


def _build(
    name: str,
    columns: list[str],
    types: list[DType],
    raw_rows: list[tuple[int | None, list[Any]]],
    out: _Problems,
) -> RefList | None:
    """Type every row, refusing empty and repeated keys; rows come with their line."""
    seen: dict[Any, int | None] = {}
    rows: list[tuple[Any, ...]] = []
    for line, cells in raw_rows:
        if len(cells) != len(columns):
            out.add(
                "K251",
                f"entry has {len(cells)} values, the list has {len(columns)} columns"
                f" ({', '.join(columns)})",
                line,
            )
            continue
        key_raw = cells[0]
        if key_raw is None or (isinstance(key_raw, str) and not key_raw.strip()):
            out.add("K253", f"entry has an empty key ('{columns[0]}')", line)
            continue
        values: list[Any] = []
        for col, dtype, raw in zip(columns, types, cells, strict=True):
            if raw is None or (isinstance(raw, str) and raw == "" and col != columns[0]):
                values.append(None)
                continue
            value, ok = read_value(raw, dtype)
            if not ok:
                out.add("K251", f"'{col}' is {dtype.kind}, but the entry has {raw!r}", line)
                break
            values.append(value)
        else:
            key = values[0]
            if key in seen:
                first = seen[key]
                where = f" (first at line {first})" if first is not None else ""
                out.add("K252", f"key {key!r} is given twice{where}", line)
                continue
            seen[key] = line
            rows.append(tuple(values))
    if out.count:
        return None
    rows.sort(key=lambda r: r[0])
    return RefList(name, tuple(columns), tuple(types), tuple(rows))


def _from_csv(
    path: Path,
    shown: str,
    name: str,
    key: str | None,
    key_type: DType,
    column_types: dict[str, DType],
    out: _Problems,
) -> RefList | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.add("K101", f"file not found: {path}", None)
        return None
    except (OSError, UnicodeDecodeError) as exc:
        out.add("K102", f"cannot read file: {exc}", None)
        return None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        out.add("K250", "a CSV list needs a header row naming its columns", 1)
        return None
    header = [h.strip() for h in header]
    key = key or header[0]
    if key not in header:
        out.add("K250", f"the key column '{key}' is not in the header ({', '.join(header)})", 1)
        return None
    columns = [key, *(h for h in header if h != key)]
    order = [header.index(c) for c in columns]
    types = [key_type, *(column_types.get(c, DType("string")) for c in columns[1:])]
    unknown = sorted(set(column_types) - set(header))
    if unknown:
        out.add("K250", f"declared column(s) {', '.join(unknown)} not in the header", 1)
        return None
    rows: list[tuple[int | None, list[Any]]] = []
    for cells in reader:
        line = reader.line_num
        if not cells:  # a blank line
            continue
        if len(cells) != len(header):
            out.add("K251", f"entry has {len(cells)} values, the header has {len(header)}", line)
            continue
        rows.append((line, [cells[i] for i in order]))
    return _build(name, columns, types, rows, out)


def _from_yaml(doc: YamlDoc, name: str, out: _Problems) -> RefList | None:
    data = doc.data
    if not isinstance(data, dict):
        out.add(
            "K250", "a YAML list is a mapping with 'list', 'key_type' and 'entries' or 'rows'", 1
        )
        return None

    def line(path: PathKey) -> int | None:
        return doc.loc(path).line

    for k in data:
        if k not in _YAML_KEYS:
            out.add(
                "K250",
                f"unknown key '{k}' in a list file (known: {', '.join(_YAML_KEYS)})",
                line((k,)),
            )
    if str(data.get("list", name)) != name:
        out.add(
            "K250",
            f"the file holds list '{data.get('list')}', the pipeline declares '{name}'",
            line(("list",)),
        )
    key_type = list_type(data.get("key_type", "string"))
    if key_type is None or key_type.kind not in KEY_TYPES:
        out.add(
            "K250",
            f"key_type must be one of {', '.join(KEY_TYPES)}, not {data.get('key_type')!r}",
            line(("key_type",)),
        )
        return None
    raw_columns = data.get("columns") or {}
    if not isinstance(raw_columns, dict):
        out.add(
            "K250",
            "'columns' maps each value column to its type, e.g. {group: string}",
            line(("columns",)),
        )
        return None
    types: dict[str, DType] = {}
    for col, tname in raw_columns.items():
        dtype = list_type(tname)
        if dtype is None:
            out.add(
                "K250",
                f"column '{col}': type must be one of {', '.join(LIST_TYPES)}",
                line(("columns", col)),
            )
            return None
        types[col] = dtype
    if ("entries" in data) == ("rows" in data):
        out.add(
            "K250", "a list file gives either 'entries' (keys) or 'rows' (keys with columns)", 1
        )
        return None
    rows: list[tuple[int | None, list[Any]]] = []
    if "entries" in data:
        if types:
            out.add(
                "K250",
                "'entries' are keys only; use 'rows' for a list with columns",
                line(("columns",)),
            )
            return None
        entries = data["entries"]
        if not isinstance(entries, list):
            out.add("K250", "'entries' must be a list of keys", line(("entries",)))
            return None
        rows = [(line(("entries", i)), [e]) for i, e in enumerate(entries)]
        return _build(name, [str(data.get("key", "key"))], [key_type], rows, out)
    key = str(data.get("key", "key"))
    columns = [key, *types]
    raw_rows = data["rows"]
    if not isinstance(raw_rows, list):
        out.add("K250", "'rows' must be a list of mappings", line(("rows",)))
        return None
    for i, row in enumerate(raw_rows):
        if not isinstance(row, dict):
            out.add("K251", f"a row must be a mapping of {', '.join(columns)}", line(("rows", i)))
            continue
        extra = sorted(set(row) - set(columns))
        if extra:
            out.add("K251", f"row has undeclared column(s) {', '.join(extra)}", line(("rows", i)))
            continue
        rows.append((line(("rows", i)), [row.get(c) for c in columns]))
    if out.count:
        return None
    return _build(name, columns, [key_type, *types.values()], rows, out)


def load_reflist(
    name: str,
    path: Path,
    shown: str,
    problems: list[Problem],
    *,
    key: str | None = None,
    key_type: str = "string",
    columns: dict[str, str] | None = None,
) -> RefListSpec | None:
    """Read one list file (CSV, or YAML for other suffixes); None after reporting problems.

    ``key``, ``key_type`` and ``columns`` declare a CSV list's key column and types (a YAML
    list declares them in the file)."""
    out = _Problems(shown, name, problems)
    if path.suffix.lower() in _CSV_SUFFIXES:
        ktype = list_type(key_type)
        col_types = {c: list_type(tn) for c, tn in (columns or {}).items()}
        if (
            ktype is None
            or ktype.kind not in KEY_TYPES
            or any(v is None for v in col_types.values())
        ):
            out.add(
                "K257",
                f"list '{name}': key_type must be one of {', '.join(KEY_TYPES)}"
                f" and column types one of {', '.join(LIST_TYPES)}",
                None,
            )
            return None
        found = _from_csv(
            path,
            shown,
            name,
            key,
            ktype,
            {c: v for c, v in col_types.items() if v is not None},
            out,
        )
    else:
        doc, errs = load_yaml(path, shown)
        problems.extend(errs)
        if doc is None:
            return None
        found = _from_yaml(doc, name, out)
    if found is None:
        return None
    content = {
        "list": found.name,
        "columns": [[c, t.kind] for c, t in zip(found.columns, found.types, strict=True)],
        "rows": [list(r) for r in found.rows],
    }
    ref = ComponentRef(
        "list", name, shown, sha256_text(canonical_json(content)), str(path.resolve())
    )
    return RefListSpec(found, ref)


_DECL_KEYS = ("file", "key", "key_type", "columns")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_lists(r: Reader, base: Path, shown_base: str, failed: list[str]) -> list[RefListSpec]:
    """The pipeline's ``lists:``: name → file, or name → {file, key, key_type, columns}.
    The names of lists that could not be read are added to ``failed``."""
    raw = r.get(("lists",))
    if raw is None:
        return []
    if not isinstance(raw, dict):
        r.problem(
            "K257",
            "'lists' maps each list's name to its file",
            ("lists",),
            "e.g. lists: {high_risk_countries: lists/high_risk_countries.csv}",
        )
        return []
    out: list[RefListSpec] = []
    for name, decl in raw.items():
        path: PathKey = ("lists", name)
        if not _NAME.match(name):
            r.problem("K257", f"list name {name!r} must be a name (letters, digits, _)", path)
            continue
        opts: dict[str, Any] = {}
        if isinstance(decl, dict):
            for k in decl:
                if k not in _DECL_KEYS:
                    r.problem(
                        "K257",
                        f"unknown key '{k}' in list '{name}' (known: {', '.join(_DECL_KEYS)})",
                        (*path, k),
                    )
            opts = decl
            file = decl.get("file")
        else:
            file = decl
        if not isinstance(file, str) or not file.strip():
            r.problem("K257", f"list '{name}' needs a file", path)
            continue
        columns = opts.get("columns") or {}
        if not isinstance(columns, dict):
            r.problem(
                "K257", f"list '{name}': 'columns' maps column names to types", (*path, "columns")
            )
            continue
        fpath = (base / file).resolve() if not Path(file).is_absolute() else Path(file)
        shown = str(Path(shown_base) / file) if shown_base else file
        found = load_reflist(
            name,
            fpath,
            shown,
            r.problems,
            key=str(opts["key"]) if "key" in opts else None,
            key_type=str(opts.get("key_type", "string")),
            columns={str(k): str(v) for k, v in columns.items()},
        )
        if found is not None:
            out.append(RefListSpec(found.list, found.ref, r.loc(path)))
        else:  # reported: what reads it reports nothing more
            failed.append(name)
    return out


__all__ = ["load_reflist", "read_lists"]
