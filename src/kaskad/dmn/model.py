"""What an imported DMN file becomes: decision tables in kaskad's table format, as data."""

from __future__ import annotations

import re
from dataclasses import dataclass

Value = str | int | float | bool

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def sanitise(text: str, fallback: str = "table") -> str:
    """A kaskad name ``[a-z_][a-z0-9_]*`` from a DMN name or id: ``Loan Approval`` →
    ``loan_approval``, ``riskClass`` → ``risk_class``, ``2nd check`` → ``_2nd_check``."""
    snake = _CAMEL.sub("_", text.strip())
    name = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    if not name:
        return fallback
    return f"_{name}" if name[0].isdigit() else name


def rule_id(text: str) -> str:
    """A rule id kaskad accepts (letters, digits, _; not starting with a digit)."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not name:
        return "r"
    return f"r_{name}" if name[0].isdigit() else name


@dataclass(frozen=True)
class TableInput:
    id: str
    expr: str
    label: str | None = None

    def to_data(self) -> dict[str, object]:
        data: dict[str, object] = {"id": self.id}
        if self.label:
            data["label"] = self.label
        data["expr"] = self.expr
        return data


@dataclass(frozen=True)
class TableOutput:
    id: str
    type: str  # string | integer | float | boolean
    label: str | None = None
    values: tuple[Value, ...] | None = None
    default: Value | None = None

    def to_data(self) -> dict[str, object]:
        data: dict[str, object] = {"id": self.id}
        if self.label:
            data["label"] = self.label
        data["type"] = self.type
        if self.values is not None:
            data["values"] = list(self.values)
        return data


@dataclass(frozen=True)
class TableRule:
    id: str
    when: tuple[str, ...]
    then: tuple[str | int | float, ...]
    annotation: str | None = None

    def to_data(self) -> dict[str, object]:
        data: dict[str, object] = {"when": list(self.when), "then": list(self.then)}
        if self.annotation:
            data["annotation"] = self.annotation
        data["id"] = self.id
        return data


@dataclass(frozen=True)
class Borrowed:
    """An input of a table that reads the result of another decision of the file."""

    input: str  # the input's id in this table
    decision: str  # the DMN decision it comes from (its name, else its id)
    field: str  # the kaskad field it reads: TABLE.OUTPUT


@dataclass(frozen=True)
class Table:
    """One decision table, ready to be written as ``tables/NAME.yaml``."""

    name: str
    decision_id: str
    decision_name: str | None
    line: int
    hit_policy: str
    inputs: tuple[TableInput, ...]
    outputs: tuple[TableOutput, ...]
    rules: tuple[TableRule, ...]
    description: str | None = None
    requires: tuple[str, ...] = ()  # names of the tables this one reads
    borrowed: tuple[Borrowed, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # FEEL names with spaces → field names

    def to_data(self) -> dict[str, object]:
        """The table in kaskad's table format (docs/decision-tables.md). DMN rules do not
        match an input that is null unless they test ``-`` or ``null``: ``on_missing:
        pass`` keeps that meaning."""
        data: dict[str, object] = {"table": self.name}
        if self.description:
            data["description"] = self.description
        data["hit_policy"] = self.hit_policy
        data["on_missing"] = "pass"
        data["inputs"] = [i.to_data() for i in self.inputs]
        data["outputs"] = [o.to_data() for o in self.outputs]
        defaults = {o.id: o.default for o in self.outputs if o.default is not None}
        if defaults:
            data["default"] = defaults
        data["rules"] = [r.to_data() for r in self.rules]
        return data


@dataclass(frozen=True)
class DmnModel:
    """Every decision table of one DMN file, in an order where a table comes after the
    tables it reads."""

    file: str
    version: str  # 1.1 … 1.5
    exporter: str | None
    tables: tuple[Table, ...]
