"""A structural check of kaskad's decision-table format (/docs/decision-tables.md), for the
importer's tests only: keys and shapes, names, hit policies, one test per input and one
expression per output in every rule, and every expression and unary test written in valid
kaskad syntax (parsed by kaskad's own expression parser)."""

from __future__ import annotations

import re
from typing import Any

from kaskad.compile.expr.parser import parse

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
RULE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HIT_POLICIES = {
    "UNIQUE",
    "ANY",
    "PRIORITY",
    "FIRST",
    "RULE ORDER",
    "OUTPUT ORDER",
    "COLLECT",
    "COLLECT SUM",
    "COLLECT MIN",
    "COLLECT MAX",
    "COLLECT COUNT",
}
TYPES = {"string", "integer", "float", "boolean"}
RESERVED = {"matched", "unknown"}  # every table gives TABLE.matched and TABLE.unknown
TOP_KEYS = {
    "table",
    "description",
    "hit_policy",
    "on_missing",
    "inputs",
    "outputs",
    "default",
    "rules",
}
_INTERVAL = re.compile(r"^([\[\(\]])(.+)\.\.(.+)([\]\)\[])$")
_COMPARE = re.compile(r"^(<=|>=|<|>|=)\s*(.+)$")


def _split_list(text: str) -> list[str]:
    """``'a', 'b,c', 3`` → its items (commas inside quotes and parentheses kept)."""
    items, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return items


def check_unary(test: str) -> None:
    """Raise when ``test`` is not a unary test of the table format."""
    assert isinstance(test, str), f"unary test {test!r} is not text"
    text = test.strip()
    if text == "-":
        return
    if "?" in text:
        parse(text.replace("?", "input_value"))
        return
    if text.startswith("not(") and text.endswith(")"):
        check_unary(text[4:-1])
        return
    for item in _split_list(text):
        if item.startswith("not(") and item.endswith(")"):
            check_unary(item[4:-1])
            continue
        interval = _INTERVAL.match(item)
        compare = _COMPARE.match(item)
        if interval:
            parse(interval.group(2))
            parse(interval.group(3))
        elif compare:
            parse(f"input_value {compare.group(1)} {compare.group(2)}")
        else:
            node = parse(item)
            assert type(node).__name__ == "Literal" or item.startswith("-"), item


def check_table(data: Any) -> None:
    """Raise AssertionError (or the parser's syntax error) when ``data`` is not a table."""
    assert isinstance(data, dict)
    assert set(data) <= TOP_KEYS, set(data) - TOP_KEYS
    assert NAME.match(data["table"]), data["table"]
    assert data.get("hit_policy", "UNIQUE") in HIT_POLICIES
    assert data.get("on_missing", "unknown") in {"unknown", "pass", "hit"}
    inputs, outputs = data["inputs"], data["outputs"]
    ids = [i["id"] for i in inputs] + [o["id"] for o in outputs]
    assert len(ids) == len(set(ids)), ids
    for item in inputs:
        assert set(item) <= {"id", "label", "expr"}
        assert NAME.match(item["id"]), item["id"]
        parse(item["expr"])
    for item in outputs:
        assert set(item) <= {"id", "label", "type", "values"}
        assert NAME.match(item["id"]), item["id"]
        assert item["id"] not in RESERVED, item["id"]
        assert item["type"] in TYPES
        for value in item.get("values", []):
            assert isinstance(value, str if item["type"] == "string" else (int, float))
    for key in data.get("default", {}):
        assert key in {o["id"] for o in outputs}
    assert data["rules"], "a table without rules"
    rule_ids: set[str] = set()
    output_ids = {o["id"] for o in outputs}
    for rule in data["rules"]:
        assert set(rule) <= {"when", "then", "annotation", "id"}
        assert len(rule["when"]) == len(inputs), rule
        assert len(rule["then"]) == len(outputs), rule
        for test in rule["when"]:
            check_unary(test)
        for value in rule["then"]:
            if isinstance(value, str):
                parse(value)
            else:
                assert isinstance(value, int | float)
        if "id" in rule:
            assert RULE_ID.match(rule["id"]), rule["id"]
            assert rule["id"] not in rule_ids
            assert rule["id"] not in output_ids | RESERVED, rule["id"]
            rule_ids.add(rule["id"])
