"""The reading contract's table: input texts and the one outcome every path must give.

A case is a field of ``contract/schema.yaml`` and a value *as JSON writes it*: JSON paths
send that literal; text paths (CSV, XML, Parquet and PostgreSQL text columns, Spark) send
its text: a JSON string's content (CSV quotes it), any other literal as written, ``null``
as no value at all (an unquoted empty CSV cell, an absent XML element, a SQL NULL).

Outcomes: ``("value", v)`` decided and read as ``v`` (None: missing); ``("refused", path,
code, expected)`` the contract cannot read it (a batch run stops on it); ``("rejected",
message)`` read, then rejected by the schema (a batch run gives a rejected row).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaskad.errors import FIELD_PROBLEM_TEXTS

PIPELINE = Path(__file__).parent / "contract" / "pipeline.yaml"
FIELDS = ("i", "f", "b", "d", "t", "s", "c", "amount", "code")

Outcome = tuple[Any, ...]


def value(v: Any) -> Outcome:
    return ("value", v)


def refused(path: str, code: str, expected: str) -> Outcome:
    return ("refused", path, code, expected)


def rejected(message: str) -> Outcome:
    return ("rejected", message)


def wrong(path: str, expected: str) -> Outcome:
    return refused(path, "wrong_type", expected)


DATE = "a date as YYYY-MM-DD"
DATETIME = "a date and time in ISO format"


@dataclass(frozen=True)
class Case:
    field: str
    literal: str  # the value as JSON writes it
    outcome: Outcome

    @property
    def id(self) -> str:
        return f"{self.field}={self.literal}"

    @property
    def json_value(self) -> Any:
        return json.loads(self.literal, parse_constant=str, parse_int=str, parse_float=str)

    @property
    def text(self) -> str | None:
        """The value as a text format carries it (None: no value)."""
        if self.literal == "null":
            return None
        if self.literal.startswith('"'):
            parsed: str = json.loads(self.literal)
            return parsed
        return self.literal

    @property
    def quoted(self) -> bool:
        return self.literal.startswith('"')


CASES = [
    # integers
    Case("i", "12", value(12)),
    Case("i", '"12"', value(12)),
    Case("i", '" 12 "', value(12)),
    Case("i", "-0", value(0)),
    Case("i", "11.0", wrong("i", "integer")),
    Case("i", '"11.0"', wrong("i", "integer")),
    Case("i", "1e3", wrong("i", "integer")),
    Case("i", "9223372036854775807", value(9223372036854775807)),
    Case("i", "9223372036854775808", refused("i", "out_of_range", "integer")),
    Case("i", "100000000000000000000000000", refused("i", "out_of_range", "integer")),
    Case("i", '"1,000"', wrong("i", "integer")),
    Case("i", '"1 000"', wrong("i", "integer")),
    Case("i", '"+5"', wrong("i", "integer")),
    Case("i", '"007"', wrong("i", "integer")),
    Case("i", "true", wrong("i", "integer")),
    Case("i", '""', value(None)),
    Case("i", '"  "', value(None)),
    Case("i", "null", value(None)),
    # floats
    Case("f", "1.5", value(1.5)),
    Case("f", '"1.5"', value(1.5)),
    Case("f", '" 2.5\\t"', value(2.5)),
    Case("f", "12", value(12.0)),
    Case("f", "-0.0", value(-0.0)),
    Case("f", "1E-400", value(0.0)),
    Case("f", "100000000000000000000000000", value(1e26)),
    Case("f", "1e309", refused("f", "out_of_range", "float")),
    Case("f", "-1e309", refused("f", "out_of_range", "float")),
    Case("f", "NaN", wrong("f", "float")),
    Case("f", "Infinity", wrong("f", "float")),
    Case("f", "-Infinity", wrong("f", "float")),
    Case("f", '"inf"', wrong("f", "float")),
    Case("f", '"nan"', wrong("f", "float")),
    Case("f", '"1,5"', wrong("f", "float")),
    Case("f", '"1,000.5"', wrong("f", "float")),
    Case("f", '".5"', wrong("f", "float")),
    Case("f", '"0x10"', wrong("f", "float")),
    Case("f", '""', value(None)),
    Case("f", "null", value(None)),
    # booleans
    Case("b", "true", value(True)),
    Case("b", '"TRUE"', value(True)),
    Case("b", '" false "', value(False)),
    Case("b", '"1"', wrong("b", "boolean")),
    Case("b", '"yes"', wrong("b", "boolean")),
    Case("b", '""', value(None)),
    # dates
    Case("d", '"2024-02-29"', value(dt.date(2024, 2, 29))),
    Case("d", '" 2024-01-05 "', value(dt.date(2024, 1, 5))),
    Case("d", '"2024-02-30"', wrong("d", DATE)),
    Case("d", '"2024-1-5"', wrong("d", DATE)),
    Case("d", '"05.01.2024"', wrong("d", DATE)),
    Case("d", '"2024-01-05T00:00:00"', wrong("d", DATE)),
    Case("d", '""', value(None)),
    # datetimes
    Case("t", '"2024-01-05T10:20:30"', value(dt.datetime(2024, 1, 5, 10, 20, 30))),
    Case("t", '"2024-01-05 10:20:30.5"', value(dt.datetime(2024, 1, 5, 10, 20, 30, 500000))),
    Case("t", '"2024-01-05T10:20:30+03:00"', value(dt.datetime(2024, 1, 5, 7, 20, 30))),
    Case("t", '"2024-01-05T10:20:30Z"', value(dt.datetime(2024, 1, 5, 10, 20, 30))),
    Case("t", '"2024-01-05"', value(dt.datetime(2024, 1, 5))),
    Case("t", '"2024-01-05T10:20"', wrong("t", DATETIME)),
    Case("t", '"2024-01-05T25:00:00"', wrong("t", DATETIME)),
    Case("t", '"2024-01-05T10:20:30.1234567"', wrong("t", DATETIME)),
    # text and categories: kept as written; empty text is no value
    Case("s", '"hello"', value("hello")),
    Case("s", '" padded "', value(" padded ")),
    Case("s", '""', value(None)),
    Case("c", '"wire"', value("wire")),
    Case("c", '"fax"', rejected("c: 'fax' is not an allowed value")),
    Case("c", '" wire"', rejected("c: ' wire' is not an allowed value")),
    Case("c", '""', value(None)),
    # constraints
    Case("amount", "0", value(0.0)),
    Case("amount", "1000000", value(1e6)),
    Case("amount", "-1", rejected("amount: must be at least 0")),
    Case("amount", '"1000000.01"', rejected("amount: must be at most 1000000")),
    Case("code", '"AB12"', value("AB12")),
    Case("code", '"ab12"', rejected("code: does not match the pattern [A-Z]{2}[0-9]+")),
    Case("code", '"AB12345"', rejected("code: must be at most 6 characters long")),
]


def message_outcome(status: str, errors: list[str], out: Any) -> Outcome:
    """The outcome of a result row known only by its messages (a batch row, the CLI)."""
    if status == "decided":
        return value(out)
    assert len(errors) == 1, errors
    return rejected(errors[0])


def matches(got: Outcome, want: Outcome) -> bool:
    """Whether an outcome is the wanted one; a refusal seen only as a message (the record
    path writes a refused value into the rejected record's errors) matches its code."""
    if got == want:
        return type(got[1]) is type(want[1]) or got[0] != "value"
    if got[0] == "rejected" and want[0] == "refused":
        _, path, code, expected = want
        head, tail = FIELD_PROBLEM_TEXTS[code].format(expected=expected, got="\0").split("\0")
        text: str = got[1]
        return text.startswith(f"{path}: {head}") and text.endswith(tail)
    return False
