"""The same plan on Spark (local mode) gives exactly the local engine's results."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kaskad import BatchExecutor, compile_pipeline
from kaskad.batch.spark import run_spark
from kaskad.io.files import read_input

pytestmark = pytest.mark.slow  # a long end-to-end test: pytest -m 'not slow' skips it

ROWS = 100_000


@pytest.fixture(scope="module")
def history(example_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100,000 applications: the example's 20,000 five times over, with fresh ids."""
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    base = read_input(example_dir / "data" / "applications.jsonl", plan.schema)
    copies = [
        base.with_columns(
            pl.format("{}-{}", pl.col("application_id"), pl.lit(i)).alias("application_id")
        )
        for i in range(ROWS // base.height)
    ]
    path = tmp_path_factory.mktemp("spark") / "history.parquet"
    pl.concat(copies).write_parquet(path, row_group_size=7_000)
    return path


def test_spark_and_local_engines_agree_on_100000_rows(
    spark: Any, history: Path, example_dir: Path, tmp_path: Path
) -> None:
    pipeline = example_dir / "pipeline.yaml"
    plan = compile_pipeline(pipeline)
    out = tmp_path / "decisions.parquet"
    rows = run_spark(spark, plan, str(history), str(out))
    assert rows == ROWS
    local = BatchExecutor(plan).run(pl.read_parquet(history)).sort("application_id")
    remote = pl.read_parquet(out / "*.parquet").sort("application_id")
    assert remote.columns == local.columns
    assert remote.schema == local.schema
    assert remote.equals(local)
    assert set(remote.get_column("decision").unique().to_list()) >= {"approve", "reject"}


def test_spark_reads_json_lines_and_writes_csv(
    spark: Any, example_dir: Path, tmp_path: Path
) -> None:
    pipeline = example_dir / "aml_screening.yaml"
    plan = compile_pipeline(pipeline)
    source = example_dir / "data" / "applications.jsonl"
    out = tmp_path / "aml.csv"
    rows = run_spark(spark, plan, str(source), str(out))
    assert rows == 20_000
    written = pl.read_csv(out / "*.csv", infer_schema=False)
    local = BatchExecutor(plan).run(read_input(source, plan.schema))
    assert sorted(written.get_column("decision").to_list()) == sorted(
        local.get_column("decision").to_list()
    )


def test_spark_runs_the_shipped_plan_without_the_pipeline_files(
    spark: Any, example_dir: Path, tmp_path: Path
) -> None:
    """Workers get the serialised plan and the models' bytes: once compiled, the pipeline's
    folder (rules, feature module, model files) can be gone and the output is the same."""
    copy = tmp_path / "credit"
    shutil.copytree(example_dir, copy, ignore=shutil.ignore_patterns("data"))
    source = example_dir / "data" / "applications.jsonl"
    plan = compile_pipeline(copy / "pipeline.yaml")
    assert plan.modules, "the example has a Python feature module"
    expected = BatchExecutor(plan).run(read_input(source, plan.schema))
    moved = tmp_path / "moved-away"
    copy.rename(moved)
    out = tmp_path / "decisions.parquet"
    try:
        assert run_spark(spark, plan, str(source), str(out)) == expected.height
    finally:
        moved.rename(copy)
    remote = pl.read_parquet(out / "*.parquet").sort("application_id")
    assert remote.equals(expected.sort("application_id"))
