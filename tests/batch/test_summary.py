"""The run summary, accumulated chunk by chunk, equals counting the whole output at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from kaskad import BatchExecutor, compile_pipeline
from kaskad.batch.summary import SummaryBuilder, run_batch
from kaskad.io.files import read_input
from kaskad.io.sinks import OutputError, Sink, open_sink
from kaskad.io.sources import Source, open_source

GOLDEN = Path(__file__).resolve().parent.parent / "execute" / "golden" / "aml_unknowns"
PLAN = compile_pipeline(GOLDEN / "pipeline.yaml")
REJECTED = [
    {"id": "a", "kind": "wire"},
    {"id": "b", "kind": "fax", "transactions": [{"counterparty_type": "alien"}]},
    {"kind": "cash_in"},
]


def test_summary_of_a_run(tmp_path: Path) -> None:
    lines = (GOLDEN / "input.jsonl").read_text().splitlines()
    lines += [json.dumps(r) for r in REJECTED]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    executor = BatchExecutor(PLAN)
    source = open_source(path, PLAN.schema, chunk_size=4)
    sink = open_sink(tmp_path / "out.parquet", executor.output_schema)
    chunks: list[int] = []
    summary = run_batch(executor, source, sink, on_chunk=chunks.append)

    assert chunks == [4, 4, 3]
    assert (summary.status, summary.error) == ("completed", None)
    assert (summary.rows_in, summary.decided, summary.rejected) == (11, 7, 4)
    assert summary.pipeline == "aml_unknowns" and summary.plan_hash == PLAN.hash
    assert summary.input == str(path) and summary.output == str(tmp_path / "out.parquet")
    output = pl.read_parquet(tmp_path / "out.parquet")
    decided = output.filter(pl.col("status") == "decided")
    assert summary.decisions == dict(decided["decision"].value_counts(sort=True).rows())
    assert sum(summary.decisions.values()) == 7
    assert summary.rejections == {
        "id": {"required field is missing": 1},
        "kind": {"not an allowed value": 3},
        "transactions[].counterparty_type": {"not an allowed value": 1},
    }
    assert list(summary.rules) == [
        "aml.cash_1m",
        "aml.p2p_same_day",
        "aml.large_missing_passes",
        "aml.large_missing_hits",
    ]
    for rule, counts in summary.rules.items():
        expected = decided[rule].value_counts().rows()
        assert {k: v for k, v in counts.items() if v} == dict(expected)
        assert sum(counts.values()) == 7
    assert summary.rules["aml.cash_1m"] == {"hit": 1, "pass": 5, "unknown": 1}
    assert summary.duration_s > 0 and summary.rows_per_s > 0
    as_dict = summary.to_dict()
    assert as_dict["rows_in"] == 11 and json.loads(json.dumps(as_dict)) == as_dict


def test_summary_counts_do_not_depend_on_chunking() -> None:
    records = [json.loads(x) for x in (GOLDEN / "input.jsonl").read_text().splitlines()]
    frame = read_input(GOLDEN / "input.jsonl", PLAN.schema)
    results = BatchExecutor(PLAN).run(frame)
    whole = SummaryBuilder(PLAN, "in", "out")
    whole.add(results)
    pieces = SummaryBuilder(PLAN, "in", "out")
    for offset in range(len(records)):
        pieces.add(results.slice(offset, 1))
    a, b = whole.finish(), pieces.finish()
    assert (a.decisions, a.rejections, a.rules) == (b.decisions, b.rejections, b.rules)
    assert a.rejections == {"kind": {"not an allowed value": 1}}


class CountingSource(Source):
    """Chunks of the golden input, counting how many were read and whether it was closed."""

    def __init__(self, chunks: int) -> None:
        self.name, self.schema, self.chunk_size = "counting", PLAN.schema, 8
        self.frame = read_input(GOLDEN / "input.jsonl", PLAN.schema)
        self.total, self.read, self.closed = chunks, 0, False

    def count_rows(self) -> int:
        return self.total * self.frame.height

    def chunks(self) -> Iterator[pl.DataFrame]:
        try:
            for _ in range(self.total):
                self.read += 1
                yield self.frame
        finally:
            self.closed = True


class FailingSink(Sink):
    def __init__(self, fail_at: int) -> None:
        self.name, self.fail_at, self.written, self.aborted = "failing", fail_at, 0, False

    def write(self, frame: pl.DataFrame) -> None:
        self.written += 1
        if self.written == self.fail_at:
            raise OutputError("disk full")

    def commit(self) -> None:
        self.state = "committed"

    def abort(self) -> None:
        self.state, self.aborted = "aborted", True


@pytest.mark.parametrize("decide_ahead", [True, False])
@pytest.mark.parametrize("read_ahead", [True, False])
def test_a_failing_run_stops_reading_and_closes_the_source(
    read_ahead: bool, decide_ahead: bool
) -> None:
    source, sink = CountingSource(100), FailingSink(fail_at=2)
    with pytest.raises(OutputError, match="disk full"):
        run_batch(
            BatchExecutor(PLAN), source, sink, read_ahead=read_ahead, decide_ahead=decide_ahead
        )
    assert sink.aborted and source.closed
    # the chunk written, the failing one, at most two read ahead and one decided ahead
    assert source.read <= 2 + 2 * read_ahead + decide_ahead
    running = [t.name for t in threading.enumerate()]
    assert not [n for n in running if n.startswith(("kaskad-read-ahead", "kaskad-run-ahead"))]
    ok = run_batch(BatchExecutor(PLAN), CountingSource(3), FailingSink(fail_at=0))
    assert ok.rows_in == 24 and ok.status == "completed"
