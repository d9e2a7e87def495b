"""The native scorecard keeps the batch-size guarantee on every path: chunks of 1, 7,
1,000 and the whole file, per record, over HTTP (/decide and /decide-batch), in Spark,
and it is released with the default golden set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kaskad import BatchExecutor, compile_pipeline
from kaskad.execute.convert import json_value
from kaskad.io.files import read_input
from kaskad.registry.releases import create_release, load_release
from kaskad.store import Store
from tests.serve.conftest import three_paths

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scorecard"
PIPELINE = EXAMPLE / "pipeline.yaml"
ROWS = 5_000


@pytest.fixture(scope="module")
def applicants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scorecard")
    subprocess.run(
        [sys.executable, str(EXAMPLE / "build.py"), "--rows", str(ROWS), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out / "data" / "applicants.jsonl"


@pytest.fixture(scope="module")
def frame(applicants: Path) -> pl.DataFrame:
    return read_input(applicants, compile_pipeline(PIPELINE).schema)


@pytest.fixture(scope="module")
def reference(frame: pl.DataFrame) -> pl.DataFrame:
    return BatchExecutor(compile_pipeline(PIPELINE)).run(frame)


@pytest.mark.slow
@pytest.mark.parametrize("size", [1, 7, 1_000])
def test_chunk_sizes_give_bit_identical_scores(
    frame: pl.DataFrame, reference: pl.DataFrame, size: int
) -> None:
    rows = 70 if size == 1 else ROWS
    executor = BatchExecutor(compile_pipeline(PIPELINE))
    got = pl.concat([executor.run(frame.slice(i, size)) for i in range(0, rows, size)])
    assert got.equals(reference.head(rows))


def test_per_record_and_http_give_bit_identical_scores(
    frame: pl.DataFrame, reference: pl.DataFrame
) -> None:
    records = [json_value(r) for r in frame.head(40).to_dicts()]
    want = [json_value(r) for r in reference.head(40).to_dicts()]
    direct, one, many = three_paths(PIPELINE, records, alone=10)
    assert direct == want and one == want[:10] and many == want


@pytest.mark.slow
def test_spark_gives_bit_identical_scores(
    spark: Any, applicants: Path, reference: pl.DataFrame, tmp_path: Path
) -> None:
    from kaskad.batch.spark import run_spark

    out = tmp_path / "out.parquet"
    assert run_spark(spark, compile_pipeline(PIPELINE), str(applicants), str(out)) == ROWS
    remote = pl.read_parquet(out / "*.parquet").sort("applicant_id")
    assert remote.equals(reference.sort("applicant_id"))


def test_released_with_the_default_golden_set(applicants: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        release = create_release(store, PIPELINE, actor="tester", golden_input=applicants)
        assert release.golden_count == 200
        loaded = load_release(store, release.ref, actor="tester", cache_root=tmp_path / "c")
        assert all(c.ok for c in loaded.checks)
