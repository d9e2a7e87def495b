"""Decision tables: a grid of unary tests and outputs with a DMN hit policy.

A table is its own YAML file; its rules are a list of rows in the YAML or a CSV file
next to it (``rules: verdict.csv``). Every cell keeps where it came from (file, line and,
for YAML, column), so the compiler can point at the cell that is wrong. The format is in
``docs/decision-tables.md``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaskad.errors import Location, Problem
from kaskad.spec.common import ComponentRef, canonical_json, sha256_text
from kaskad.spec.reader import Reader
from kaskad.spec.rules import ON_MISSING, check_identifier
from kaskad.spec.yamlfile import PathKey, load_yaml

__all__ = [
    "AGGREGATORS",
    "HIT_POLICIES",
    "OUTPUT_TYPES",
    "Cell",
    "TableInputSpec",
    "TableOutputSpec",
    "TableRuleSpec",
    "TableSpec",
    "load_table",
]

SINGLE_HIT = ("UNIQUE", "ANY", "PRIORITY", "FIRST")
AGGREGATORS = ("SUM", "MIN", "MAX", "COUNT")
HIT_POLICIES = (
    *SINGLE_HIT,
    "RULE ORDER",
    "OUTPUT ORDER",
    "COLLECT",
    *(f"COLLECT {a}" for a in AGGREGATORS),
)
OUTPUT_TYPES = ("string", "integer", "float", "boolean")
RESERVED_OUTPUTS = ("matched", "unknown")
_TOP_KEYS = (
    "table",
    "description",
    "hit_policy",
    "on_missing",
    "inputs",
    "outputs",
    "default",
    "rules",
)
_INPUT_KEYS = ("id", "label", "expr", "description")
_OUTPUT_KEYS = ("id", "label", "type", "values", "description")
_RULE_KEYS = ("when", "then", "annotation", "id", "description")
_CSV_EXTRA = ("annotation", "id")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALIASES = {"C": "COLLECT", "C+": "COLLECT SUM", "C<": "COLLECT MIN", "C>": "COLLECT MAX"}
_ALIASES |= {"C#": "COLLECT COUNT", "U": "UNIQUE", "A": "ANY", "P": "PRIORITY", "F": "FIRST"}
_ALIASES |= {"R": "RULE ORDER", "O": "OUTPUT ORDER"}


@dataclass(frozen=True)
class Cell:
    """One cell of the grid (a unary test or an output expression) and where it is."""

    text: str
    location: Location


@dataclass(frozen=True)
class TableInputSpec:
    id: str
    label: str
    expr: Cell


@dataclass(frozen=True)
class TableOutputSpec:
    id: str
    type: str  # one of OUTPUT_TYPES
    values: tuple[str | int | float | bool, ...]
    location: Location


@dataclass(frozen=True)
class TableRuleSpec:
    id: str
    when: tuple[Cell, ...]  # one unary test per input
    then: tuple[Cell, ...]  # one output expression per output
    annotation: str
    location: Location


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    hit_policy: str  # one of HIT_POLICIES
    on_missing: str
    inputs: tuple[TableInputSpec, ...]
    outputs: tuple[TableOutputSpec, ...]
    default: tuple[Cell, ...] | None  # one per output, or None: NULL when nothing matches
    rules: tuple[TableRuleSpec, ...]
    ref: ComponentRef
    location: Location
    # the CSV file of the rules, if any: a file of its own, which releases snapshot (its
    # content is part of ``ref``'s hash too)
    rules_file: ComponentRef | None = None

    @property
    def aggregator(self) -> str | None:
        """SUM, MIN, MAX or COUNT for ``COLLECT SUM`` …, else None."""
        parts = self.hit_policy.split()
        return parts[1] if parts[0] == "COLLECT" and len(parts) == 2 else None

    @property
    def single_hit(self) -> bool:
        """One value per output (single-hit policies and COLLECT with an aggregator)."""
        return self.hit_policy in SINGLE_HIT or self.aggregator is not None


def cell_text(value: Any) -> str | None:
    """A YAML or CSV cell as expression text (numbers and booleans as written)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def load_table(path: Path, display: str, problems: list[Problem]) -> TableSpec | None:
    """Read a decision table (and its CSV rules, if any), collecting problems."""
    doc, errs = load_yaml(path, display)
    problems.extend(errs)
    if doc is None:
        return None
    r = Reader(doc, f"table {path.stem}", problems)
    top = r.mapping((), _TOP_KEYS, ("table", "inputs", "outputs", "rules"), "a decision table")
    if top is None:
        return None
    name = r.string(("table",), "the table name") or path.stem
    check_identifier(r, name, ("table",), "table name")
    r.component = f"table {name}"
    before = len(problems)
    policy = _hit_policy(r, top)
    on_missing = str(top.get("on_missing", "unknown"))
    if on_missing not in ON_MISSING:
        r.problem("K220", f"on_missing must be one of {', '.join(ON_MISSING)}", ("on_missing",))
    inputs = _inputs(r)
    outputs = _outputs(r)
    default = _default(r, outputs)
    taken = {o.id for o in outputs} | set(RESERVED_OUTPUTS)
    raw_rules = top.get("rules")
    rules_file = None
    if isinstance(raw_rules, str):
        csv_path = path.parent / raw_rules
        csv_shown = str(Path(display).parent / raw_rules)
        rules = _csv_rules(csv_path, csv_shown, r, inputs, outputs)
        csv_text = _read_text(csv_path)
        content: Any = {"table": doc.data, "csv": csv_text}
        rules_file = ComponentRef(
            "table_rules", name, csv_shown, sha256_text(csv_text), str(csv_path.resolve())
        )
    else:
        rules = _yaml_rules(r, len(inputs), len(outputs))
        content = doc.data
    if not rules and len(problems) == before:
        r.problem("K220", "a decision table needs at least one rule", ("rules",))
    for rule in rules:
        if rule.id in taken:
            problems.append(
                Problem(
                    "K222",
                    f"rule id '{rule.id}' is also an output or reserved field of the table",
                    rule.location,
                    "run summaries count each rule as TABLE.RULE_ID",
                )
            )
    if len(problems) > before:
        return None
    ref = ComponentRef(
        "table", name, display, sha256_text(canonical_json(content)), str(path.resolve())
    )
    return TableSpec(
        name,
        str(top.get("description", "")),
        policy,
        on_missing,
        tuple(inputs),
        tuple(outputs),
        default,
        tuple(rules),
        ref,
        r.loc(()),
        rules_file,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _hit_policy(r: Reader, top: dict[str, Any]) -> str:
    raw = top.get("hit_policy", "UNIQUE")
    text = " ".join(str(raw).upper().replace("_", " ").split())
    text = _ALIASES.get(text, text)
    if text not in HIT_POLICIES:
        r.problem(
            "K220",
            f"unknown hit policy '{raw}'",
            ("hit_policy",),
            f"use one of {', '.join(HIT_POLICIES)}",
        )
        return "UNIQUE"
    return text


def _ident(r: Reader, path: PathKey, what: str, seen: set[str]) -> str | None:
    value = r.string(path, what)
    if value is None or not check_identifier(r, value, path, what):
        return None
    if value in seen:
        r.problem("K222", f"{what} '{value}' is used twice", path)
        return None
    seen.add(value)
    return value


def _inputs(r: Reader) -> list[TableInputSpec]:
    before = len(r.problems)
    out: list[TableInputSpec] = []
    seen: set[str] = set()
    for i, _ in enumerate(r.sequence(("inputs",), "'inputs'")):
        base: PathKey = ("inputs", i)
        entry = r.mapping(base, _INPUT_KEYS, ("id", "expr"), f"input #{i + 1}")
        if entry is None:
            continue
        input_id = _ident(r, (*base, "id"), "input id", seen)
        text = cell_text(entry.get("expr"))
        if text is None or not text.strip():
            r.problem("K220", "an input's 'expr' must be an expression", (*base, "expr"))
            continue
        if input_id is not None:
            cell = Cell(text, r.loc((*base, "expr")))
            out.append(TableInputSpec(input_id, str(entry.get("label", "")), cell))
    if not out and len(r.problems) == before:
        r.problem("K220", "a decision table needs at least one input", ("inputs",))
    return out


def _outputs(r: Reader) -> list[TableOutputSpec]:
    before = len(r.problems)
    out: list[TableOutputSpec] = []
    seen: set[str] = set()
    for i, _ in enumerate(r.sequence(("outputs",), "'outputs'")):
        base: PathKey = ("outputs", i)
        entry = r.mapping(base, _OUTPUT_KEYS, ("id", "type"), f"output #{i + 1}")
        if entry is None:
            continue
        output_id = _ident(r, (*base, "id"), "output id", seen)
        if output_id in RESERVED_OUTPUTS:
            r.problem("K222", f"output id '{output_id}' is reserved", (*base, "id"))
            continue
        kind = str(entry.get("type", ""))
        if kind not in OUTPUT_TYPES:
            r.problem(
                "K220", f"output type must be one of {', '.join(OUTPUT_TYPES)}", (*base, "type")
            )
            continue
        values = entry.get("values", [])
        if not isinstance(values, list) or not all(
            isinstance(v, str | int | float | bool) for v in values
        ):
            r.problem("K220", "an output's 'values' must be a list of values", (*base, "values"))
            continue
        if output_id is not None:
            out.append(TableOutputSpec(output_id, kind, tuple(values), r.loc(base)))
    if not out and len(r.problems) == before:
        r.problem("K220", "a decision table needs at least one output", ("outputs",))
    return out


def _default(r: Reader, outputs: list[TableOutputSpec]) -> tuple[Cell, ...] | None:
    raw = r.get(("default",))
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.problem("K220", "'default' must map output ids to values", ("default",))
        return None
    known = {o.id for o in outputs}
    for key in raw:
        if key not in known:
            r.problem("K220", f"'default' names an unknown output '{key}'", ("default", key))
    cells: list[Cell] = []
    for o in outputs:
        value = raw.get(o.id)
        text = "null" if value is None else _literal_text(value, o.type)
        cells.append(Cell(text, r.loc(("default", o.id))))
    return tuple(cells)


def _literal_text(value: Any, kind: str) -> str:
    """A default value as expression text: a bare word for a string output is the string."""
    if kind == "string" and isinstance(value, str) and not value.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    return cell_text(value) or "null"


def _yaml_rules(r: Reader, n_in: int, n_out: int) -> list[TableRuleSpec]:
    out: list[TableRuleSpec] = []
    seen: set[str] = set()
    for i, _ in enumerate(r.sequence(("rules",), "'rules' (a list of rows or a CSV file)")):
        base: PathKey = ("rules", i)
        entry = r.mapping(base, _RULE_KEYS, ("when", "then"), f"rule #{i + 1}")
        if entry is None:
            continue
        rule_id = f"r{i + 1}"
        if "id" in entry:
            rule_id = _ident(r, (*base, "id"), "rule id", seen) or rule_id
        elif rule_id in seen:
            r.problem("K222", f"rule id '{rule_id}' is used twice", base)
        seen.add(rule_id)
        when = _row(r, (*base, "when"), n_in, "'when' (one unary test per input)")
        then = _row(r, (*base, "then"), n_out, "'then' (one value per output)")
        if when is not None and then is not None:
            annotation = str(entry.get("annotation", entry.get("description", "")) or "")
            out.append(TableRuleSpec(rule_id, when, then, annotation, r.loc(base)))
    return out


def _row(r: Reader, path: PathKey, size: int, what: str) -> tuple[Cell, ...] | None:
    raw = r.get(path)
    if not isinstance(raw, list):
        raw = [raw] if size == 1 and raw is not None else raw
    if not isinstance(raw, list) or len(raw) != size:
        got = len(raw) if isinstance(raw, list) else "no list"
        r.problem("K221", f"{what} needs {size} cell(s), got {got}", path)
        return None
    cells: list[Cell] = []
    for j, value in enumerate(raw):
        text = cell_text(value)
        if text is None or not text.strip():
            r.problem("K221", f"cell {j + 1} of {what} is empty", (*path, j))
            return None
        cells.append(Cell(text.strip(), r.loc((*path, j))))
    return tuple(cells)


def _csv_rules(
    path: Path,
    shown: str,
    r: Reader,
    inputs: list[TableInputSpec],
    outputs: list[TableOutputSpec],
) -> list[TableRuleSpec]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        r.problem("K226", f"cannot read the rules file {shown}: {exc}", ("rules",))
        return []
    rows = list(csv.reader(text.splitlines()))
    lines = [i + 1 for i, row in enumerate(rows) if any(c.strip() for c in row)]
    rows = [row for row in rows if any(c.strip() for c in row)]
    if not rows:
        r.problem("K226", f"the rules file {shown} is empty", ("rules",))
        return []
    header = [c.strip() for c in rows[0]]
    grid = [i.id for i in inputs] + [o.id for o in outputs]
    extra = header[len(grid) :]
    if header[: len(grid)] != grid or any(e not in _CSV_EXTRA for e in extra):
        r.problems.append(
            Problem(
                "K226",
                f"the header of {shown} must be the input ids, the output ids, then "
                f"optionally 'annotation' and 'id': {', '.join(grid)}",
                Location(shown, lines[0], 1, r.component),
                f"it is: {', '.join(header)}",
            )
        )
        return []
    out: list[TableRuleSpec] = []
    seen: set[str] = set()
    for n, (row, line) in enumerate(zip(rows[1:], lines[1:], strict=True), start=1):
        loc = Location(shown, line, 1, r.component)
        if len(row) != len(header):
            r.problems.append(
                Problem("K221", f"row has {len(row)} cells, the header {len(header)}", loc)
            )
            continue
        cells = [c.strip() for c in row]
        named = dict(zip(header, cells, strict=True))
        rule_id = named.get("id") or f"r{n}"
        if not _IDENT.match(rule_id):
            r.problems.append(
                Problem("K222", f"rule id '{rule_id}' must be letters, digits and _", loc)
            )
            continue
        if rule_id in seen:
            r.problems.append(Problem("K222", f"rule id '{rule_id}' is used twice", loc))
            continue
        seen.add(rule_id)
        empty = [header[j] for j, c in enumerate(cells[: len(grid)]) if not c]
        if empty:
            r.problems.append(
                Problem("K221", f"empty cell(s) {', '.join(empty)}; write '-' for any", loc)
            )
            continue
        when = tuple(
            Cell(c, Location(shown, line, _column(row, j), r.component))
            for j, c in enumerate(cells[: len(inputs)])
        )
        then = tuple(
            Cell(c, Location(shown, line, _column(row, len(inputs) + j), r.component))
            for j, c in enumerate(cells[len(inputs) : len(grid)])
        )
        out.append(TableRuleSpec(rule_id, when, then, named.get("annotation", ""), loc))
    return out


def _column(row: list[str], j: int) -> int:
    """The 1-based column of cell ``j`` of a CSV row (exact when no cell is quoted)."""
    return sum(len(c) + 1 for c in row[:j]) + 1
