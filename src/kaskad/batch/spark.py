"""The same plan on Spark: the vectorized executor runs inside every partition.

Spark reads the input raw (JSON Lines as lines of text, CSV as text cells, Parquet as
stored), hands each partition to Python as Arrow record batches (``mapInArrow``), and
kaskad reads each batch by its reading contract (exactly as ``kaskad run`` reads the same
file) before its batch executor decides it; the results come back as Arrow with the same
fields as ``kaskad run`` writes.
The driver ships the compiled plan (serialised, with its feature modules' source) and the
bytes of every model artifact it names in one broadcast; each Python worker reads them
once, so executors need neither the pipeline's files nor a compiler.
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

# what the driver ships: the serialised plan, and each model artifact's framework and bytes
Shipment = tuple[str, tuple[tuple[str, str, bytes], ...]]

_EXECUTORS: dict[str, Any] = {}  # per Python worker: plan hash → batch executor


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


def shipment(plan: Plan) -> Shipment:
    """The serialised plan and its models' bytes, from the model cache (which read each
    artifact once, when the plan was compiled) or, failing that, from the artifact files
    (checked against the plan's sha256)."""
    from kaskad.compile.serial import plan_to_json
    from kaskad.models import default_cache

    blobs: list[tuple[str, str, bytes]] = []
    for node in plan.model_nodes():
        adapter = default_cache().get(node.framework, node.artifact_sha256, node.component.path)
        blobs.append((node.framework, node.component.source, adapter.artifact))
    return plan_to_json(plan), tuple(blobs)


def _executor(shipped: Shipment) -> Any:
    """The batch executor for a shipped plan, built once per Python worker."""
    from kaskad.compile.serial import plan_from_json
    from kaskad.execute.batch import BatchExecutor
    from kaskad.models import default_cache

    text, blobs = shipped
    plan = plan_from_json(text)
    executor = _EXECUTORS.get(plan.hash)
    if executor is None:
        for framework, origin, data in blobs:
            default_cache().add(framework, data, origin)
        executor = _EXECUTORS[plan.hash] = BatchExecutor(plan)
    return executor


def read_batch(plan: Plan, batch: pa.RecordBatch, raw: str) -> Any:
    """A partition's Arrow batch as a frame in the plan's schema, read by the reading
    contract: ``raw`` is ``'lines'`` (a ``value`` column of JSON Lines text, and the
    ``line`` of each) or ``'table'`` (columns of text or of stored types). Raises
    :class:`~kaskad.io.reading.MalformedInputError` as ``kaskad run`` does."""
    return read_chunk(plan, batch, raw, tolerant=False).frame


def read_chunk(plan: Plan, batch: pa.RecordBatch, raw: str, tolerant: bool = True) -> Any:
    """:func:`read_batch` as a :class:`~kaskad.io.reading.Chunk`: records that cannot be
    read are set aside with their problems and lines (``kaskad run``'s rejected rows)."""
    import polars as pl

    from kaskad.io.reading import Chunk, Unread, conform, json_lines_frame

    source = "spark partition"
    unread: list[Unread] | None = [] if tolerant else None
    if raw == "lines":
        lines = [(v or "").encode() + b"\n" for v in batch.column("value").to_pylist()]
        names = batch.schema.names
        first = int(batch.column("line")[0].as_py()) if "line" in names and len(lines) else 1
        frame = json_lines_frame(lines, plan.schema, source, first, unread)
        numbers = tuple(first + i for i, line in enumerate(lines) if line.strip())
        return Chunk(frame, tuple(unread or ()), numbers if "line" in names else None)
    table = pl.from_arrow(batch)
    assert isinstance(table, pl.DataFrame)
    typed = conform(table, plan.schema, source, unread=unread, naive_local=True)
    return Chunk(typed, tuple(unread or ()))


def decide_batches(
    shipped: Shipment, batches: Iterator[pa.RecordBatch], schema: pa.Schema, raw: str = "table"
) -> Iterator[pa.RecordBatch]:
    """Run the shipped plan over a partition's Arrow batches (this runs on the Spark
    executors), each read by :func:`read_chunk`: a record that cannot be read is a
    rejected row, as in ``kaskad run``. Results are cast to the Arrow types Spark expects
    (Polars writes large lists)."""
    from kaskad.batch.rejects import with_unread

    executor = _executor(shipped)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        chunk = read_chunk(executor.plan, batch, raw)
        result = executor.run(chunk.frame, source="spark partition")
        result = with_unread(result, chunk, executor.output_schema, 0)
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


def read_raw(spark: SparkSession, plan: Plan, input: str, fmt: str) -> tuple[Any, str]:
    """The input as Spark reads it before kaskad's reading contract: JSON Lines as lines
    of text with their numbers (``'lines'``; counted across the files of a folder), CSV
    cells as text by header name and Parquet as stored (``'table'``), with only the
    schema's columns."""
    if fmt == "json":  # each line with its number, for rejected records' places
        numbered = spark.sparkContext.textFile(input).zipWithIndex()
        rows = numbered.map(lambda pair: (pair[0], pair[1] + 1))
        return spark.createDataFrame(rows, "value string, line long"), "lines"
    reader = spark.read
    if fmt == "csv":  # every cell as text; kaskad reads it, not Spark
        reader = reader.option("header", "true").option("inferSchema", "false")
    frame = reader.format(fmt).load(input)
    names = [f.name for f in plan.schema.fields if f.name in frame.columns]
    return frame.select([f"`{n}`" for n in names]), "table"


def run_spark(
    spark: SparkSession,
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
    frame, raw = read_raw(spark, plan, input, in_fmt)
    shipped = spark.sparkContext.broadcast(shipment(plan))
    result_schema = spark_schema(plan.output_fields())
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(result_schema)

    def decide(batches: Iterator[Any]) -> Iterator[Any]:
        return decide_batches(shipped.value, batches, arrow_schema, raw)

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
