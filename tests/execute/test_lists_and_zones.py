"""Reference lists and time zones: both executors give the same results (hypothesis), and
the day-level functions turn at local midnight (Moscow: 21:00 UTC)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.errors import SpecError
from kaskad.io.reading import MalformedInputError
from kaskad.io.sources import file_source
from tests.conftest import frame_of

HERE = Path(__file__).parent / "zoned"
PLAN = compile_pipeline(HERE / "pipeline.yaml")
RECORD = RecordExecutor(PLAN)
BATCH = BatchExecutor(PLAN)

countries = st.one_of(st.none(), st.sampled_from(["IR", "KP", "RU", "σς", "x,y", "ir", ""]))
codes = st.one_of(st.none(), st.sampled_from([0, 1, -5, 7995, 2, 10**12]), st.integers(-10, 10))
floats = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.0, -5.0, 7995.0, 0.5, 1e300]))
moments = st.one_of(
    st.sampled_from(
        [
            dt.datetime(2026, 1, 1, 20, 59, 59),
            dt.datetime(2026, 1, 1, 21, 0, 0),
            dt.datetime(2024, 3, 10, 2, 30),  # not a New York time (clocks moved forward)
            dt.datetime(2024, 11, 3, 1, 30),  # twice a New York time (clocks moved back)
            dt.datetime(2011, 3, 27, 2, 30),  # not a Moscow time (the last summer time)
        ]
    ),
    st.datetimes(dt.datetime(1950, 1, 1), dt.datetime(2090, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
)
offsets = st.sampled_from(["", "Z", "+03:00", "-05:00", "+05:45"])
stamps = st.one_of(st.none(), st.tuples(moments, offsets).map(lambda p: p[0].isoformat() + p[1]))
items = st.fixed_dictionaries({"at": stamps, "code": codes, "country": countries})
records = st.fixed_dictionaries(
    {
        "country": countries,
        "code": codes,
        "x": floats,
        "ts": stamps,
        "ts_ny": stamps,
        "ts_utc": stamps,
        "items": st.one_of(st.none(), st.lists(items, max_size=4)),
    }
)


def both(recs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Batch and per-record results of the records; a record whose time cannot be read
    (a local time the zone skips) is refused by the batch reader too, and left out."""
    recs = [{"id": str(i), **r} for i, r in enumerate(recs)]
    one = [RECORD.decide(r).output for r in recs]
    readable = []
    for rec, out in zip(recs, one, strict=True):
        if out["status"] == "rejected":
            with pytest.raises(MalformedInputError):
                frame_of([rec], PLAN.schema)
        else:
            readable.append(rec)
    batch = BATCH.run(frame_of(readable, PLAN.schema)).to_dicts()
    return batch, [o for o in one if o["status"] != "rejected"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(records, min_size=1, max_size=8))
def test_lists_and_zones_agree_in_both_executors(recs: list[dict[str, Any]]) -> None:
    batch, one = both(recs)
    assert batch == one


def test_in_and_lookup_follow_three_valued_logic() -> None:
    batch, one = both(
        [
            {"country": "IR", "code": 7995, "x": 1.0},
            {"country": "RU", "code": 2, "x": -0.0},
            {"country": None, "code": None, "x": None},
            {"country": "x,y", "code": -5, "x": 2.0},
        ]
    )
    assert batch == one
    got = [(r["in_hr"], r["not_in"], r["grp"], r["weight"], r["flag"]) for r in one]
    assert got == [
        (True, False, "gambling", -1.0, True),
        (False, True, None, 0.5, None),
        (None, None, None, None, None),
        (True, False, "minus five", None, None),
    ]
    assert [r["decision"] for r in one] == ["alert", "clear", "clear", "alert"]


@pytest.mark.parametrize(
    ("text", "hour", "day", "date"),
    [
        ("2026-01-01T20:59:59Z", 23, 1, dt.date(2026, 1, 1)),
        ("2026-01-01T21:00:00Z", 0, 2, dt.date(2026, 1, 2)),
        ("2026-01-01 23:59:59", 23, 1, dt.date(2026, 1, 1)),  # a Moscow time
        ("2026-01-02T00:00:00", 0, 2, dt.date(2026, 1, 2)),
        ("2026-01-02T00:00:00+03:00", 0, 2, dt.date(2026, 1, 2)),
        ("2026-01-01T23:59:59+03:00", 23, 1, dt.date(2026, 1, 1)),
    ],
)
def test_moscow_midnight(text: str, hour: int, day: int, date: dt.date) -> None:
    batch, one = both([{"ts": text, "ts_utc": text}])
    assert batch == one
    out = one[0]
    assert (out["h"], out["d"], out["dd"]) == (hour, day, date)
    assert out["wd"] == date.isoweekday()


def test_a_field_in_its_own_zone_and_hours_between_zones() -> None:
    # the same instant in three zones: 21:00 UTC = 00:00 Moscow = 16:00 New York (winter)
    batch, one = both(
        [
            {
                "ts": "2026-01-02T00:00:00",
                "ts_ny": "2026-01-01 16:00:00",
                "ts_utc": "2026-01-01 21:00:00",
            }
        ]
    )
    assert batch == one
    out = one[0]
    assert (out["h"], out["h_ny"], out["h_utc"], out["hb"], out["db"]) == (0, 16, 21, 0.0, 1)
    assert out["shifted"] == 21  # three hours before Moscow midnight


def test_a_local_time_that_does_not_exist_is_refused_by_both() -> None:
    skipped = {"id": "1", "ts_ny": "2024-03-10T02:30:00"}  # clocks moved from 02:00 to 03:00
    out = RECORD.decide(skipped).output
    assert out["status"] == "rejected" and "ts_ny" in out["errors"][0]
    with pytest.raises(MalformedInputError, match="ts_ny"):
        frame_of([skipped], PLAN.schema)
    batch, one = both([{"ts_ny": "2024-03-10T02:30:00Z"}, {"ts_ny": "2024-11-03T01:30:00"}])
    assert batch == one
    assert [r["h_ny"] for r in one] == [21, 1]


def test_items_on_the_moscow_day() -> None:
    items = [
        {"at": "2026-01-01T20:59:59Z"},  # 23:59:59 Moscow, the day before
        {"at": "2026-01-01T21:00:00Z"},  # Moscow midnight
        {"at": "2026-01-02 12:00:00"},
        {"at": None},
    ]
    batch, one = both([{"ts": "2026-01-02T23:59:59", "items": items}])
    assert batch == one
    assert one[0]["same_day"] == 2


def test_csv_input_reads_naive_times_in_the_zone(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "ts", "ts_ny", "country"])
        w.writerow(["a", "2026-01-01 23:59:59", "2026-01-01 16:00:00", "IR"])
        w.writerow(["b", "2026-01-01T21:00:00Z", "", "RU"])
    frame = pl.concat(list(file_source(path, PLAN.schema)))
    batch = BATCH.run(frame).to_dicts()
    one = [
        RECORD.decide(
            {
                "id": "a",
                "ts": "2026-01-01 23:59:59",
                "ts_ny": "2026-01-01 16:00:00",
                "country": "IR",
            }
        ).output,
        RECORD.decide({"id": "b", "ts": "2026-01-01T21:00:00Z", "country": "RU"}).output,
    ]
    assert batch == one
    assert [(r["h"], r["h_ny"], r["in_hr"]) for r in batch] == [(23, 16, True), (0, None, False)]


@pytest.mark.parametrize(
    ("pipeline_tz", "field", "code"),
    [
        ("Europe/Mosow", "ts: datetime", "K258"),
        ("UTC", "ts: {type: datetime, timezone: Mars/Olympus}", "K258"),
        ("UTC", "ts: {type: date, timezone: Europe/Moscow}", "K259"),
    ],
)
def test_bad_time_zones_are_refused(
    tmp_path: Path, pipeline_tz: str, field: str, code: str
) -> None:
    (tmp_path / "schema.yaml").write_text(f"schema: s\nfields:\n  id: string\n  {field}\n")
    (tmp_path / "pipeline.yaml").write_text(
        f"pipeline: p\ninput: schema.yaml\ntimezone: {pipeline_tz}\nsteps: []\n"
        "decision:\n  - otherwise: ok\n"
    )
    with pytest.raises(SpecError) as info:
        compile_pipeline(tmp_path / "pipeline.yaml")
    assert [p.code for p in info.value.problems] == [code]


def test_a_timestamp_constant_is_a_local_time_of_the_field_it_is_compared_with(
    tmp_path: Path,
) -> None:
    (tmp_path / "schema.yaml").write_text(
        "schema: s\nfields:\n  id: string\n  ts: datetime\n"
        "  ts_utc: {type: datetime, timezone: UTC}\n"
    )
    (tmp_path / "features.yaml").write_text(
        "featureset: f\nfeatures:\n"
        "  - {name: new_year, description: x, expr: \"ts >= TIMESTAMP '2026-01-01 00:00:00'\"}\n"
        "  - {name: new_year_utc, description: x,"
        " expr: \"ts_utc >= TIMESTAMP '2026-01-01 00:00:00'\"}\n"
        "  - {name: in_window, description: x, expr: \"ts BETWEEN TIMESTAMP '2026-01-01 00:00:00'"
        " AND TIMESTAMP '2026-01-01 06:00:00'\"}\n"
    )
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: p\ninput: schema.yaml\ntimezone: Europe/Moscow\nsteps:\n"
        "  - features: features.yaml\ndecision:\n  - otherwise: ok\n"
    )
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    recs = [
        {"id": "a", "ts": "2025-12-31T20:59:59Z", "ts_utc": "2025-12-31T20:59:59Z"},
        {"id": "b", "ts": "2025-12-31T21:00:00Z", "ts_utc": "2025-12-31T21:00:00Z"},
        {"id": "c", "ts": "2026-01-01T03:00:01Z", "ts_utc": "2026-01-01T03:00:01Z"},
    ]
    batch = BatchExecutor(plan).run(frame_of(recs, plan.schema)).to_dicts()
    one = [RecordExecutor(plan).decide(r).output for r in recs]
    assert batch == one
    got = [(r["new_year"], r["new_year_utc"], r["in_window"]) for r in one]
    assert got == [(False, False, False), (True, False, True), (True, True, False)]


def test_the_date_of_decision_time_is_the_moscow_date(tmp_path: Path) -> None:
    (tmp_path / "schema.yaml").write_text("schema: s\nfields:\n  id: string\n")
    (tmp_path / "features.yaml").write_text(
        "featureset: f\nfeatures:\n"
        "  - {name: today, description: x, expr: to_date(decision_time)}\n"
        "  - {name: at_night, description: x, expr: hour(decision_time) < 6}\n"
    )
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: p\ninput: schema.yaml\ntimezone: Europe/Moscow\nsteps:\n"
        "  - features: features.yaml\ndecision:\n  - otherwise: ok\n"
    )
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    recs = [
        {"id": "a", "decision_time": "2026-01-01T20:59:59Z"},
        {"id": "b", "decision_time": "2026-01-01T21:00:00Z"},
        {"id": "c", "decision_time": "2026-01-02 05:59:59"},
    ]
    batch = BatchExecutor(plan).run(frame_of(recs, plan.schema)).to_dicts()
    one = [RecordExecutor(plan).decide(r).output for r in recs]
    assert batch == one
    assert [(r["today"], r["at_night"]) for r in one] == [
        (dt.date(2026, 1, 1), False),
        (dt.date(2026, 1, 2), True),
        (dt.date(2026, 1, 2), True),
    ]
    # reported in UTC, as every datetime in a result
    assert [r["decision_time"] for r in one][1] == dt.datetime(2026, 1, 1, 21, 0, 0)


def test_parquet_timestamps_without_a_zone_are_local_times(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "ts": [dt.datetime(2026, 1, 1, 23, 59, 59), dt.datetime(2026, 1, 2), None],
            "ts_ny": [dt.datetime(2026, 1, 1, 16), None, dt.datetime(2024, 3, 10, 2, 30)],
        }
    ).write_parquet(path)
    aware = tmp_path / "aware.parquet"
    pl.DataFrame({"id": ["d"], "ts": [dt.datetime(2026, 1, 1, 21)]}).with_columns(
        pl.col("ts").dt.replace_time_zone("UTC")
    ).write_parquet(aware)
    chunks = list(file_source(path, PLAN.schema).read_chunks())
    frame = pl.concat([c.frame for c in chunks])
    unread = [u for c in chunks for u in c.unread]
    assert len(unread) == 1 and "ts_ny" in str(unread[0].problems)  # skipped in New York
    batch = BATCH.run(frame).to_dicts()
    one = [
        RECORD.decide({"id": "a", "ts": "2026-01-01 23:59:59", "ts_ny": "2026-01-01 16:00:00"}),
        RECORD.decide({"id": "b", "ts": "2026-01-02 00:00:00"}),
    ]
    assert batch == [r.output for r in one]
    assert [(r["h"], r["dd"], r["h_ny"]) for r in batch] == [
        (23, dt.date(2026, 1, 1), 16),
        (0, dt.date(2026, 1, 2), None),
    ]
    (row,) = BATCH.run(pl.concat(list(file_source(aware, PLAN.schema)))).to_dicts()
    assert (row["h"], row["dd"]) == (0, dt.date(2026, 1, 2))  # an instant: Moscow midnight
