"""The same plan on Spark: the vectorized executor runs inside every partition.

Spark reads the input with a schema derived from the pipeline's, hands each partition to
Python as Arrow record batches (``mapInArrow``), and kaskad's batch executor decides each
batch; the results come back as Arrow with the same fields as ``kaskad run`` writes.
The plan is compiled once per Python worker from the pipeline file, which every executor
must be able to read (a shared folder, or a release written out on each node).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaskad.compile.plan import Plan
from kaskad.errors import InputError, KaskadError
from kaskad.spec.types import DType

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DataType, StructType

_PLANS: dict[str, Plan] = {}  # per Python worker: pipeline path → compiled plan


def spark_type(dtype: DType) -> DataType:
    """The Spark SQL type that holds values of ``dtype``."""
    from pyspark.sql import types as st

    kind = dtype.kind
    if kind in ("string", "category"):
        return st.StringType()
    if kind == "integer":
        return st.LongType()
    if kind == "float":
        return st.DoubleType()
    if kind == "boolean":
        return st.BooleanType()
    if kind == "date":
        return st.DateType()
    if kind == "datetime":
        return st.TimestampNTZType()
    if kind == "object":
        return st.StructType([st.StructField(f.name, spark_type(f.dtype)) for f in dtype.fields])
    if kind == "list":
        assert dtype.item is not None
        return st.ArrayType(spark_type(dtype.item))
    raise KaskadError(f"no Spark type for {dtype}")


def spark_schema(fields: list[tuple[str, DType]]) -> StructType:
    from pyspark.sql import types as st

    return st.StructType([st.StructField(name, spark_type(d)) for name, d in fields])


def _plan(pipeline: str) -> Plan:
    plan = _PLANS.get(pipeline)
    if plan is None:
        from kaskad.compile.compiler import compile_pipeline

        plan = _PLANS[pipeline] = compile_pipeline(Path(pipeline))
    return plan


def decide_batches(
    pipeline: str, batches: Iterator[pa.RecordBatch], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Run the plan over a partition's Arrow batches (this runs on the Spark executors);
    results are cast to the Arrow types Spark expects (Polars writes large lists)."""
    import polars as pl

    from kaskad.execute.batch import BatchExecutor

    executor = BatchExecutor(_plan(pipeline))
    for batch in batches:
        if batch.num_rows == 0:
            continue
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        result = executor.run(frame, source="spark partition")
        yield from result.to_arrow().cast(schema).to_batches()


def session(master: str, app_name: str = "kaskad", batch_rows: int = 10_000) -> SparkSession:
    """A Spark session whose Python workers use this interpreter (and its kaskad)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # stay on loopback
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    if master.startswith("local"):  # keep the driver on loopback
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config(
            "spark.driver.host", "127.0.0.1"
        )
    spark = (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".csv": "csv",
}


def _format(path: str, given: str | None) -> str:
    if given:
        return given
    fmt = _FORMATS.get(Path(path.rstrip("/")).suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: cannot tell the format; pass --input-format/--output-format "
            "(parquet, json, csv)"
        )
    return fmt


def run_spark(
    spark: SparkSession,
    pipeline: Path,
    plan: Plan,
    input: str,
    output: str,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    mode: str = "errorifexists",
) -> int:
    """Decide every record of a Spark data source; write the results; return the row count."""
    in_fmt, out_fmt = _format(input, input_format), _format(output, output_format)
    read_schema = spark_schema([(f.name, f.dtype) for f in plan.schema.fields])
    reader = spark.read.schema(read_schema)
    if in_fmt == "csv":
        reader = reader.option("header", "true")
    frame = reader.format(in_fmt).load(input)
    path = str(pipeline.resolve())
    result_schema = spark_schema(plan.output_fields())
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(result_schema)

    def decide(batches: Iterator[Any]) -> Iterator[Any]:
        return decide_batches(path, batches, arrow_schema)

    result = frame.mapInArrow(decide, result_schema)
    if out_fmt == "csv":
        from pyspark.sql import functions as sf

        result = result.select(
            [
                sf.to_json(sf.col(f"`{f.name}`")).alias(f.name)
                if f.dataType.typeName() in ("array", "struct")
                else sf.col(f"`{f.name}`")
                for f in result_schema.fields
            ]
        )
    writer = result.write.mode(mode).format(out_fmt)
    if out_fmt == "csv":
        writer = writer.option("header", "true")
    writer.save(output)
    return int(spark.read.format(out_fmt).option("header", "true").load(output).count())
