"""A batch run rejects records, not runs: unreadable and invalid records become rejected
rows with their line, the run goes on, and ``--max-rejected`` fails it writing nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kaskad.batch.rejects import RejectLimit, TooManyRejectedError
from kaskad.errors import InputError
from tests.cli.test_cli import kaskad
from tests.execute.failing_pipeline import build

ROWS = 100_000
SPARK_ROWS = 20_000  # several partitions of Spark's reader still: the lines stay the file's
BAD = [  # (line text, the problem in the rejected row's errors)
    ('{"id": "%s", "amount": "a lot", "income": 5}', "amount: expected float"),
    ('{"id": "%s", "amount": 1e309, "income": 5}', "amount: "),
    ('{"id": "%s", "amount": ', "not valid JSON"),
    ('["%s"]', "expected a JSON object, got a list"),
    ('{"id": "%s", "income": 5}', "amount: required field is missing"),
    ('{"id": "%s", "amount": 10, "income": "many"}', "income: expected float"),
]


def _input(path: Path, rows: int = ROWS, bad: int = 37) -> dict[int, str]:
    """JSON Lines with ``bad`` bad records scattered through it: their line → problem."""
    rng = random.Random(11)
    lines = sorted(rng.sample(range(1, rows + 1), bad))
    wrong = {line: BAD[i % len(BAD)] for i, line in enumerate(lines)}
    with path.open("w") as file:
        for line in range(1, rows + 1):
            if line in wrong:
                file.write(wrong[line][0].replace("%s", f"r{line}") + "\n")
            else:
                record = {"id": f"r{line}", "amount": line % 3000, "income": 1 + line % 7}
                file.write(json.dumps(record) + "\n")
    return {line: problem for line, (_, problem) in wrong.items()}


def _check(rejected: pl.DataFrame, wrong: dict[int, str]) -> None:
    assert rejected.height == len(wrong)
    pairs = zip(rejected["errors"].to_list(), sorted(wrong.items()), strict=True)
    for errors, (line, problem) in pairs:
        assert errors[0].startswith(f"line {line}: "), (errors, line)
        assert problem in errors[0], (errors, problem)


@pytest.mark.slow
def test_100000_records_with_37_bad_ones(tmp_path: Path) -> None:
    pipeline = build(tmp_path / "p")
    data = tmp_path / "in.jsonl"
    wrong = _input(data)
    out = tmp_path / "out.parquet"
    done = kaskad("run", str(pipeline), "-i", str(data), "-o", str(out), "--no-record")
    assert done.returncode == 0, done.stderr
    result = pl.read_parquet(out)
    assert result.height == ROWS
    assert (result["status"] == "decided").sum() == ROWS - 37
    _check(result.filter(pl.col("status") == "rejected"), wrong)
    assert "(rejected)" in done.stderr and "amount" in done.stderr

    # to a rejects file instead, with the record's index
    out2, rejects = tmp_path / "out2.parquet", tmp_path / "rejects.jsonl"
    args = ["-i", str(data), "-o", str(out2), "--rejects", str(rejects), "--no-record", "-q"]
    assert kaskad("run", str(pipeline), *args).returncode == 0
    assert pl.read_parquet(out2).height == ROWS - 37
    kept = pl.read_ndjson(rejects)
    _check(kept, wrong)
    assert kept["record"].to_list() == [line - 1 for line in sorted(wrong)]

    # past the limit: nothing written at all
    out3, rejects3 = tmp_path / "out3.parquet", tmp_path / "rejects3.jsonl"
    args = ["-i", str(data), "-o", str(out3), "--rejects", str(rejects3), "--no-record", "-q"]
    failed = kaskad("run", str(pipeline), *args, "--max-rejected", "10")
    assert failed.returncode == 3, failed.stderr
    assert "more than --max-rejected 10 allows; nothing was written" in failed.stderr
    assert not out3.exists() and not rejects3.exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_a_small_run_with_a_percentage_limit(tmp_path: Path) -> None:
    pipeline = build(tmp_path / "p")
    data = tmp_path / "in.csv"
    data.write_text("id,amount,income\na,10,1\nb,lots,2\nc,30,3\nd,,4\n")
    out = tmp_path / "out.jsonl"
    done = kaskad("run", str(pipeline), "-i", str(data), "-o", str(out), "--no-record", "-q")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["decided", "rejected", "decided", "rejected"]
    assert rows[1]["errors"][0].startswith("line 3: amount: ")
    assert rows[3]["errors"] == ["row 3: amount: required field is missing"]
    args = ["-i", str(data), "-o", str(tmp_path / "o2.jsonl"), "--no-record", "-q"]
    assert kaskad("run", str(pipeline), *args, "--max-rejected", "50%").returncode == 0
    assert (tmp_path / "o2.jsonl").exists()
    args = ["-i", str(data), "-o", str(tmp_path / "o3.jsonl"), "--no-record", "-q"]
    over = kaskad("run", str(pipeline), *args, "--max-rejected", "49.9%")
    assert over.returncode == 3 and not (tmp_path / "o3.jsonl").exists()
    assert kaskad("run", str(pipeline), *args, "--max-rejected", "ten").returncode == 2


def test_reject_limits() -> None:
    assert RejectLimit.parse("10") == RejectLimit(count=10)
    assert RejectLimit.parse("2.5%") == RejectLimit(percent=2.5)
    for text in ("x", "1.5", "101%", "-1"):
        with pytest.raises(InputError):
            RejectLimit.parse(text)
    RejectLimit(count=2).check(2, 10, final=False)
    with pytest.raises(TooManyRejectedError):
        RejectLimit(count=2).check(3, 10, final=False)
    RejectLimit(percent=10).check(5, 10, final=False)  # a share is judged at the end
    with pytest.raises(TooManyRejectedError):
        RejectLimit(percent=10).check(2, 10, final=True)


@pytest.mark.slow
def test_spark_rejects_the_same_37_records_with_their_lines(spark: Any, tmp_path: Path) -> None:
    from kaskad import compile_pipeline
    from kaskad.batch.spark import run_spark

    plan = compile_pipeline(build(tmp_path / "p"))
    data = tmp_path / "in.jsonl"
    rows = SPARK_ROWS
    wrong = _input(data, rows)
    out = tmp_path / "out.parquet"
    assert run_spark(spark, plan, str(data), str(out)) == rows
    result = pl.read_parquet(out / "*.parquet")
    assert (result["status"] == "decided").sum() == rows - 37
    rejected = result.filter(pl.col("status") == "rejected")
    lines = [int(e[0].split(":")[0].removeprefix("line ")) for e in rejected["errors"].to_list()]
    _check(rejected.with_columns(pl.Series("n", lines)).sort("n"), wrong)


def test_the_summary_counts_rejections_by_reason_and_failures_by_step(tmp_path: Path) -> None:
    from kaskad import BatchExecutor, compile_pipeline
    from kaskad.batch.summary import run_batch
    from kaskad.io.sinks import open_sink
    from kaskad.io.sources import open_source

    plan = compile_pipeline(build(tmp_path / "p"))
    data = tmp_path / "in.jsonl"
    data.write_text(
        '{"id": "a", "amount": 1, "income": 2}\n'
        '{"id": "b", "amount": "x", "income": 2}\n'
        '{"id": "c", "amount": "y", "income": 2}\n'
        '{"id": "d", "income": 2}\n'
        '{"id": "e", "amount": 3}\n'
    )
    executor = BatchExecutor(plan)
    source = open_source(data, plan.schema, chunk_size=2)
    summary = run_batch(executor, source, open_sink(tmp_path / "o.jsonl", executor.output_schema))
    assert (summary.rows_in, summary.decided, summary.rejected, summary.failed) == (5, 1, 3, 1)
    assert summary.rejections == {"amount": {"expected float": 2, "required field is missing": 1}}
    assert summary.failures == {"feature log_income": 1}
    assert summary.to_dict()["failure_rate"] == 0.2
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e"]  # keys read where they can be


def test_a_postgres_source_rejects_rows_with_their_index(tmp_path: Path, pg_database: str) -> None:
    import psycopg

    from kaskad import BatchExecutor, compile_pipeline
    from kaskad.batch.summary import run_batch
    from kaskad.io.sinks import open_sink
    from kaskad.io.sources import open_source

    plan = compile_pipeline(build(tmp_path / "p"))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE payments (id text, amount text, income float8)")
        conn.execute("INSERT INTO payments VALUES ('a', '1', 2), ('b', 'lots', 2), ('c', '3', 4)")
    executor = BatchExecutor(plan)
    source = open_source(pg_database, plan.schema, table="payments", chunk_size=2)
    out = tmp_path / "o.jsonl"
    summary = run_batch(executor, source, open_sink(out, executor.output_schema))
    assert (summary.decided, summary.rejected) == (2, 1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[1]["id"] == "b" and rows[1]["errors"][0].startswith("row 1: amount: ")


def test_a_folder_names_the_file_of_a_rejected_line(tmp_path: Path) -> None:
    pipeline = build(tmp_path / "p")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"id": "a", "amount": 1, "income": 2}\n')
    (folder / "b.jsonl").write_text(
        '{"id": "b", "amount": 1, "income": 2}\n{"id": "c", "amount": "x", "income": 2}\n'
        '{"id": "d", "income": 2}\n'
    )
    out = tmp_path / "out.jsonl"
    done = kaskad("run", str(pipeline), "-i", str(folder), "-o", str(out), "--no-record", "-q")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[2]["errors"][0].startswith("line 2 of b.jsonl: amount: ")
    assert rows[3]["errors"] == ["line 3 of b.jsonl: amount: required field is missing"]


def test_spark_refuses_the_local_only_options(tmp_path: Path) -> None:
    pipeline = build(tmp_path / "p")
    args = ["-i", str(tmp_path / "x.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--engine", "spark"]
    refused = kaskad("run", str(pipeline), *args, "--max-rejected", "1")
    assert refused.returncode == 2 and "--engine local only" in refused.stderr
