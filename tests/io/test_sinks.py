"""Streaming sinks: chunks appended, the output appearing only on commit, nothing left behind
by an abort or by a run that fails half-way."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from kaskad import BatchExecutor, compile_pipeline
from kaskad.batch.rejects import RejectLimit, TooManyRejectedError
from kaskad.batch.summary import SummaryBuilder, run_batch
from kaskad.io.files import read_input
from kaskad.io.sinks import CsvSink, OutputError, csv_ready, open_sink
from kaskad.io.sources import open_source

GOLDEN = Path(__file__).resolve().parent.parent / "execute" / "golden" / "aml_unknowns"
PLAN = compile_pipeline(GOLDEN / "pipeline.yaml")
EXECUTOR = BatchExecutor(PLAN)
RESULTS = EXECUTOR.run(read_input(GOLDEN / "input.jsonl", PLAN.schema))
READ = {"parquet": pl.read_parquet, "jsonl": pl.read_ndjson, "csv": pl.read_csv}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_chunks_appear_only_on_commit(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "out" / f"decisions.{fmt}"
    sink = open_sink(path, EXECUTOR.output_schema)
    for offset in (0, 3, 6):
        sink.write(RESULTS.slice(offset, 3))
        assert not path.exists()
    partial = leftovers(path.parent)
    assert len(partial) == 1 and partial[0].startswith(f".decisions.{fmt}.")
    assert partial[0].endswith(".partial")
    sink.commit()
    assert leftovers(path.parent) == [f"decisions.{fmt}"]
    assert sink.rows == RESULTS.height
    got = READ[fmt](path)
    assert got.columns == RESULTS.columns
    assert got["decision"].to_list() == RESULTS["decision"].to_list()
    if fmt == "parquet":
        assert got.equals(RESULTS)
        assert pq.ParquetFile(path).metadata.num_row_groups == 3  # one per chunk
    if fmt == "csv":
        hits = [None if x is None else json.loads(x) for x in got["aml.hits"].to_list()]
        assert hits == RESULTS["aml.hits"].to_list()


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_abort_removes_the_partial_output_and_keeps_the_old(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"decisions.{fmt}"
    path.write_text("yesterday's complete output")
    with pytest.raises(RuntimeError), open_sink(path, EXECUTOR.output_schema) as sink:
        sink.write(RESULTS)
        raise RuntimeError("the run failed")
    assert leftovers(tmp_path) == [f"decisions.{fmt}"]
    assert path.read_text() == "yesterday's complete output"
    sink.abort()  # again: nothing to do
    with pytest.raises(OutputError, match="already"):
        sink.write(RESULTS)


def test_empty_output_has_the_columns(tmp_path: Path) -> None:
    for fmt in ("parquet", "csv"):
        path = tmp_path / f"empty.{fmt}"
        with open_sink(path, EXECUTOR.output_schema) as sink:
            sink.commit()
        assert READ[fmt](path).columns == RESULTS.columns


def test_unknown_output_type_and_table_option(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"unknown file type '\.xlsx'"):
        open_sink(tmp_path / "out.xlsx", EXECUTOR.output_schema)
    with pytest.raises(OutputError, match="PostgreSQL URL only"):
        open_sink(tmp_path / "out.csv", EXECUTOR.output_schema, table="t")
    assert leftovers(tmp_path) == []


def test_csv_lists_and_objects_are_json_text() -> None:
    frame = pl.DataFrame(
        {
            "hits": [["a", 'quote " and \\ backslash'], [], None],
            "n": [[1, 2], None, []],
            "o": [{"x": 1, "y": "z"}, None, {"x": None, "y": None}],
        }
    )
    ready = csv_ready(frame)
    assert [json.loads(v) if v is not None else None for v in ready["hits"]] == frame[
        "hits"
    ].to_list()
    assert ready["n"].to_list() == ["[1,2]", None, "[]"]
    assert ready["o"].to_list() == ['{"x":1,"y":"z"}', None, '{"x":null,"y":null}']


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_run_failing_in_its_third_chunk_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    lines = (GOLDEN / "input.jsonl").read_text().splitlines()
    lines = lines + lines  # 16 records; chunks of 3: the 3rd chunk holds lines 7-9
    lines[7] = '{"id": "x", "amount_rub": "lots"}'
    source_path = tmp_path / "in.jsonl"
    source_path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    path = out / f"decisions.{fmt}"
    source = open_source(source_path, PLAN.schema, chunk_size=3)
    sink = open_sink(path, EXECUTOR.output_schema)
    summary = SummaryBuilder(PLAN, source.name, sink.name)
    with pytest.raises(TooManyRejectedError) as info:
        run_batch(EXECUTOR, source, sink, summary, max_rejected=RejectLimit(count=0))
    assert "1 of 9 records so far were rejected" in str(info.value)
    assert leftovers(out) == []
    failed = summary.finish(error=str(info.value))
    assert (failed.status, failed.rows_in, failed.error) == ("failed", 9, str(info.value))


def test_csv_sink_is_a_file_sink(tmp_path: Path) -> None:
    sink = open_sink(tmp_path / "x.csv", {"a": pl.Int64()})
    assert isinstance(sink, CsvSink)
    sink.write(pl.DataFrame({"a": [1, 2]}, schema={"a": pl.Int32}))  # cast to the schema
    with pytest.raises(OutputError, match="lack column"):
        sink.write(pl.DataFrame({"b": [1]}))
    sink.commit()
    assert (tmp_path / "x.csv").read_text() == "a\n1\n2\n"


def test_output_mode_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with open_sink(tmp_path / "out.jsonl", EXECUTOR.output_schema) as sink:
            sink.write(RESULTS)
            sink.commit()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.jsonl").stat().st_mode) == 0o640
