"""Spark reads the contract's table as ``kaskad run`` does: raw text (JSON Lines as lines,
CSV cells as text) read by kaskad's reading contract inside the partitions. One Spark
session for the module; every case in one job per format, each row read on its own so
that a refused value is an outcome, not the end of the job."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kaskad import BatchExecutor, compile_pipeline
from kaskad.batch.spark import read_batch, read_raw
from kaskad.io.reading import MalformedInputError
from tests.execute.contract_cases import CASES, FIELDS, PIPELINE, Case, matches, rejected, value

pytestmark = pytest.mark.slow


def outcomes(spark: Any, path: Path, fmt: str) -> dict[str, Any]:
    plan = compile_pipeline(PIPELINE)
    frame, raw = read_raw(spark, plan, str(path), fmt)

    def each_row(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        executor = BatchExecutor(plan)
        for batch in batches:
            for i in range(batch.num_rows):
                one = batch.slice(i, 1)
                try:
                    typed = read_batch(plan, one, raw)
                except MalformedInputError as exc:
                    p = exc.field_problem
                    assert p is not None
                    text = json.dumps(["refused", p.path, p.problem, p.expected])
                    key = "?"
                else:
                    [row] = executor.run(typed).to_dicts()
                    key = row["id"]
                    if row["status"] == "decided":
                        shown = {f: row[f"{f}_out"] for f in FIELDS}
                        text = json.dumps(["value", shown], default=str)
                    else:
                        text = json.dumps(["rejected", row["errors"][0]])
                yield pa.RecordBatch.from_pylist(
                    [{"n": _row_number(one, raw), "key": key, "outcome": text}]
                )

    result = frame.mapInArrow(each_row, "n long, key string, outcome string").collect()
    return {r["n"]: json.loads(r["outcome"]) for r in result}


def _row_number(one: Any, raw: str) -> int:
    if raw == "lines":
        return int(json.loads(one.column("value")[0].as_py())["id"])
    return int(one.column("id")[0].as_py())


def _outcome(case: Case, got: list[Any]) -> tuple[Any, ...]:
    if got[0] == "value":
        shown = got[1][case.field]
        want = case.outcome[1]
        if shown is not None and isinstance(want, float):
            shown = float(shown)
        elif shown is not None and isinstance(want, (dt.date, dt.datetime)):
            shown = type(want).fromisoformat(shown)
        return value(shown)
    if got[0] == "rejected":
        return rejected(got[1])
    return tuple(got)


def test_spark_json_lines_and_csv_follow_the_contract(spark: Any, tmp_path: Path) -> None:
    lines = tmp_path / "cases.jsonl"
    lines.write_text(
        "".join(f'{{"id": "{n}", "{c.field}": {c.literal}}}\n' for n, c in enumerate(CASES))
    )
    table = tmp_path / "cases.csv"
    with table.open("w", newline="", encoding="utf-8") as out:
        out.write(",".join(["id", *FIELDS]) + "\n")
        for n, c in enumerate(CASES):
            cells = []
            for f in FIELDS:
                text = c.text if f == c.field else None
                if text is None:
                    cells.append("")
                elif c.quoted:
                    cells.append('"' + text.replace('"', '""') + '"')
                else:
                    cells.append(text)
            out.write(",".join([str(n), *cells]) + "\n")
    for path, fmt in ((lines, "json"), (table, "csv")):
        got = outcomes(spark, path, fmt)
        assert len(got) == len(CASES), fmt
        for n, case in enumerate(CASES):
            outcome = _outcome(case, got[n])
            assert matches(outcome, case.outcome), f"{fmt} {case.id}: {outcome}"
