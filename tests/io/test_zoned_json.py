"""JSON Lines with zoned datetimes: Polars' fast read gives the frame the reading contract
gives record by record, and hands over to the contract when a value is not readable."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from kaskad import compile_pipeline
from kaskad.execute.contract import read_nested
from kaskad.io.zoned_json import read_zoned

PLAN = compile_pipeline(Path(__file__).resolve().parents[1] / "execute" / "zoned" / "pipeline.yaml")
RECORDS = [
    {
        "id": "a",
        "ts": "2026-01-01 23:59:59",
        "ts_ny": "2026-01-01T16:00:00-05:00",
        "ts_utc": "2026-01-01",
        "items": [{"at": "2026-01-01T21:00:00Z", "code": 1}, {"at": None}, None],
    },
    {"id": "b", "ts": None, "items": None},
    {"id": "c", "ts": "2026-01-02T00:00:00.250", "items": []},
]


def _lines(records: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_the_fast_read_equals_the_contract_record_by_record() -> None:
    fast = read_zoned(_lines(RECORDS), PLAN.schema)
    assert fast is not None
    rows = [read_nested(r, PLAN.schema.dtype, "")[0] for r in RECORDS]
    types = {f.name: fast.schema[f.name] for f in PLAN.schema.fields}
    assert fast.equals(pl.DataFrame(rows, schema=types))
    assert fast["ts"][0].isoformat() == "2026-01-01T20:59:59"  # a Moscow time, held in UTC
    assert fast["items"][0][0]["at"].isoformat() == "2026-01-01T21:00:00"


def test_an_unreadable_zoned_value_is_left_to_the_contract() -> None:
    skipped = {"id": "d", "items": [{"at": "2024-03-10T02:30:00"}], "ts_ny": "2024-03-10T02:30:00"}
    assert read_zoned(_lines([*RECORDS, skipped]), PLAN.schema) is None
    nested = {"id": "e", "items": [{"at": "1 March"}]}
    assert read_zoned(_lines([nested]), PLAN.schema) is None
