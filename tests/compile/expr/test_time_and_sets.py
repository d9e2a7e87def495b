"""Time arithmetic, intervals, count_distinct and IN against fields: types, errors and values
(the same values from both executors)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from kaskad import BatchExecutor, RecordExecutor, compile_pipeline
from kaskad.compile.expr import typed as t
from kaskad.compile.expr.check import Scope, check_expression
from kaskad.compile.expr.parser import ExprSyntaxError, parse
from kaskad.compile.serial import plan_from_json, plan_to_json
from kaskad.spec.types import BOOLEAN, DATE, DATETIME, FLOAT, INTEGER, STRING, DType, Field
from tests.conftest import frame_of

ITEM = DType("object", fields=(Field("ts", DATETIME), Field("payee", STRING)))
COLUMNS = {
    "ts": DATETIME,
    "day": DATE,
    "amount": FLOAT,
    "country": STRING,
    "home": STRING,
    "tags": DType("list", item=STRING),
    "transactions": DType("list", item=ITEM),
}


def check(text: str) -> tuple[t.TExpr, list[str]]:
    expr, issues = check_expression(parse(text), Scope(COLUMNS))
    return expr, [f"{i.code} {i.message} | {i.hint}" for i in issues]


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("hours_between(day, ts)", FLOAT),
        ("seconds_between(ts, ts)", FLOAT),
        ("hour(ts)", INTEGER),
        ("weekday(day)", INTEGER),
        ("ts - INTERVAL '1 hour'", DATETIME),
        ("day + INTERVAL '2 weeks'", DATE),
        ("day - INTERVAL '1 day 1 second'", DATETIME),
        ("INTERVAL '30 minutes' + ts", DATETIME),
        ("count_distinct(transactions.payee WHERE ts > TIMESTAMP '2025-01-01 00:00:00')", INTEGER),
        ("country IN (home, 'CY')", BOOLEAN),
        ("country NOT IN tags", BOOLEAN),
    ],
)
def test_types(text: str, dtype: DType) -> None:
    expr, issues = check(text)
    assert issues == [] and expr.dtype == dtype


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("INTERVAL '1 hour' > 5", "K203", "added to or subtracted from"),
        ("amount + INTERVAL '1 hour'", "K203", "moves a date or datetime"),
        ("INTERVAL '1 hour' - ts", "K203", "subtracted from"),
        ("hour(day)", "K203", "needs a datetime"),
        ("count_distinct(transactions)", "K208", "needs a value"),
        ("amount IN tags", "K203", "cannot compare"),
        ("country IN transactions", "K203", "list of values"),
        ("country IN amount", "K208", "not a list"),
        ("count(transactions WHERE payee IN tags)", "K208", "inside an aggregate"),
    ],
)
def test_misuse_is_reported(text: str, code: str, words: str) -> None:
    _, issues = check(text)
    assert len(issues) == 1 and issues[0].startswith(code) and words in issues[0], issues


def test_bad_interval_text_is_a_syntax_error_with_the_units() -> None:
    with pytest.raises(ExprSyntaxError) as exc:
        parse("ts - INTERVAL '1 month'")
    assert "invalid interval '1 month'" in exc.value.message
    assert exc.value.hint is not None and "week, day, hour" in exc.value.hint


SCHEMA = """\
schema: velocity
fields:
  id: {type: string, required: true, key: true}
  ts: datetime
  amount: float
  transactions:
    type: list
    items:
      type: object
      fields:
        ts: datetime
        amount: float
        payee: string
"""
FEATURES = """\
featureset: velocity
features:
  - name: near_threshold_24h
    expr: >-
      count(transactions WHERE amount BETWEEN 900000 AND 999999.99
            AND ts >= operation_ts - INTERVAL '24 hours')
  - name: payees_today
    expr: "count_distinct(transactions.payee WHERE to_date(ts) = to_date(operation_ts))"
  - {name: operation_ts, expr: "ts"}
  - {name: cash_1m, expr: "amount >= 1000000"}
"""
PIPELINE = """\
pipeline: velocity
input: schema.yaml
steps:
  - features: features.yaml
decision:
  - otherwise: ok
"""


def run_both(tmp_path: Path, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for name, text in (
        ("schema.yaml", SCHEMA),
        ("features.yaml", FEATURES),
        ("pipeline.yaml", PIPELINE),
    ):
        (tmp_path / name).write_text(text)
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    batch = BatchExecutor(plan).run(frame_of(recs, plan.schema)).to_dicts()
    one = [RecordExecutor(plan).decide(r).output for r in recs]
    for b, o in zip(batch, one, strict=True):
        assert {k: b[k] for k in o} == o
    return one


def test_boundaries_exactly_n_hours_and_one_second_more(tmp_path: Path) -> None:
    txs = [
        {"ts": "2025-03-01T10:00:00", "amount": 999999.99, "payee": "A"},  # exactly 24 h
        {"ts": "2025-03-01T09:59:59", "amount": 999999.99, "payee": "B"},  # 24 h + 1 s
        {"ts": "2025-03-02T09:00:00", "amount": 1000000.00, "payee": "a"},  # at the threshold
        {"ts": "2025-03-02T09:30:00", "amount": 950000.0, "payee": "A"},
        {"ts": "2025-03-02T09:45:00", "amount": 950000.0, "payee": None},
    ]
    out = run_both(
        tmp_path,
        [
            {"id": "1", "ts": "2025-03-02T10:00:00", "amount": 999999.99, "transactions": txs},
            {"id": "2", "ts": "2025-03-02T10:00:00", "amount": 1000000.00, "transactions": []},
            {"id": "3"},
        ],
    )
    assert [r["near_threshold_24h"] for r in out] == [3, 0, None]
    assert [r["payees_today"] for r in out] == [2, 0, None]
    assert [r["cash_1m"] for r in out] == [False, True, None]


CLOCK_FEATURES = """\
featureset: clock
features:
  - {name: night, expr: "hour(decision_time) < 6"}
  - {name: age_hours, expr: "hours_between(ts, decision_time)"}
"""


def test_decision_time_comes_from_the_record_or_the_clock_and_is_reported(
    tmp_path: Path,
) -> None:
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "features.yaml").write_text(CLOCK_FEATURES)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    assert plan.clock and plan.schema.field("decision_time") is not None
    assert plan_from_json(plan_to_json(plan)) == plan
    given = {"id": "1", "ts": "2025-03-02T01:00:00", "decision_time": "2025-03-02T03:30:00"}
    clocked = {"id": "2", "ts": "2025-03-02T01:00:00"}
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    batch = BatchExecutor(plan).run(frame_of([given, clocked], plan.schema)).to_dicts()
    one = [RecordExecutor(plan).decide(r).output for r in (given, clocked)]
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for rows in (batch, one):
        assert rows[0]["decision_time"] == dt.datetime(2025, 3, 2, 3, 30)
        assert rows[0]["night"] is True and rows[0]["age_hours"] == 2.5
        assert before <= rows[1]["decision_time"] <= after
    # replaying a result's decision time gives the same decision
    replay = {**clocked, "decision_time": one[1]["decision_time"].isoformat()}
    assert RecordExecutor(plan).decide(replay).output == one[1]
    assert list(batch[0]) == list(one[0])  # same fields, same order


def test_a_declared_decision_time_is_an_ordinary_input(tmp_path: Path) -> None:
    (tmp_path / "schema.yaml").write_text(
        SCHEMA + "  decision_time: {type: datetime, required: true}\n"
    )
    (tmp_path / "features.yaml").write_text(CLOCK_FEATURES)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    plan = compile_pipeline(tmp_path / "pipeline.yaml")
    assert not plan.clock and "decision_time" not in dict(plan.output_fields())
    result = RecordExecutor(plan).decide({"id": "1"})
    assert result.output["status"] == "rejected"
