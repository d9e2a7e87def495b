"""Streaming sources: typed chunks of bounded size, identical results whatever the chunking,
and malformed input reported with file, line or row, and column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kaskad import BatchExecutor, compile_pipeline
from kaskad.compile.plan import Plan
from kaskad.errors import InputError
from kaskad.io.files import read_input
from kaskad.io.sources import (
    CsvSource,
    FolderSource,
    JsonLinesSource,
    MalformedInputError,
    ParquetSource,
    first_failure,
    open_source,
    rebatch,
)

GOLDEN = Path(__file__).resolve().parent.parent / "execute" / "golden" / "aml_unknowns"
PLAN = compile_pipeline(GOLDEN / "pipeline.yaml")
# The golden records, and some the schema rejects (unknown kind, a bad list element, no id).
EXTRA = [
    {"id": "bad-tx-kind", "day": "2025-03-02", "kind": "cash_in", "amount_rub": 5.0,
     "transactions": [{"day": "2025-03-02", "counterparty_type": "alien"}]},
    {"day": "2025-03-03", "kind": "transfer", "amount_rub": 7.5, "transactions": []},
    {"id": "late", "day": "2025-03-04", "kind": "cash_out", "amount_rub": 2_000_000.0},
]  # fmt: skip
RECORDS = [json.loads(line) for line in (GOLDEN / "input.jsonl").read_text().splitlines()]
RECORDS = [*RECORDS, *EXTRA, *RECORDS]  # 19 records: more than one chunk of 7


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def flat(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without their list (CSV holds no lists)."""
    return [{k: v for k, v in r.items() if k != "transactions"} for r in records]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """The same records as JSON Lines, Parquet (row groups of 5) and CSV (flat)."""
    jsonl = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    parquet = tmp_path / "in.parquet"
    read_input(jsonl, PLAN.schema).write_parquet(parquet, row_group_size=5)
    csv = tmp_path / "in.csv"
    flat_jsonl = write_jsonl(tmp_path / "flat.jsonl", flat(RECORDS))
    read_input(flat_jsonl, PLAN.schema).drop("transactions").write_csv(csv)
    return {"jsonl": jsonl, "parquet": parquet, "csv": csv, "flat": flat_jsonl}


def decide_streamed(plan: Plan, path: Path, chunk_size: int) -> pl.DataFrame:
    executor = BatchExecutor(plan)
    source = open_source(path, plan.schema, chunk_size=chunk_size)
    results = [executor.run(chunk, source.name) for chunk in source.chunks()]
    return pl.concat(results)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_chunked_results_equal_the_whole_input(
    inputs: dict[str, Path], fmt: str, chunk_size: int
) -> None:
    whole = inputs["flat" if fmt == "csv" else "jsonl"]
    expected = BatchExecutor(PLAN).run(read_input(whole, PLAN.schema))
    got = decide_streamed(PLAN, inputs[fmt], chunk_size)
    assert got.equals(expected)
    rejected = 3 if fmt == "csv" else 4  # without its list, bad-tx-kind is fine
    assert got.get_column("status").value_counts().sort("status").rows() == [
        ("decided", 19 - rejected),
        ("rejected", rejected),
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_chunks_are_bounded_and_typed(inputs: dict[str, Path], fmt: str) -> None:
    source = open_source(inputs[fmt], PLAN.schema, chunk_size=7)
    sizes = [chunk.height for chunk in source.chunks()]
    assert sizes == [7, 7, 5]  # the Parquet file's row groups hold 5 rows each
    expected = read_input(inputs["jsonl"], PLAN.schema)
    first = next(iter(source))
    assert first.schema == expected.schema
    assert source.count_rows() == 19


@pytest.mark.slow
def test_credit_example_in_chunks_equals_whole(example_dir: Path, tmp_path: Path) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    lines = (example_dir / "data" / "applications.jsonl").read_text().splitlines()[:300]
    path = tmp_path / "apps.jsonl"
    path.write_text("\n".join(lines) + "\n")
    parquet = tmp_path / "apps.parquet"
    whole = read_input(path, plan.schema)
    whole.write_parquet(parquet, row_group_size=64)
    expected = BatchExecutor(plan).run(whole)
    for source, chunk_size in ((path, 7), (parquet, 1000), (parquet, 7)):
        assert decide_streamed(plan, source, chunk_size).equals(expected)
    head = tmp_path / "head.jsonl"
    head.write_text("\n".join(lines[:12]) + "\n")
    assert decide_streamed(plan, head, 1).equals(expected.head(12))


def test_folder_reads_files_in_name_order(inputs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write_jsonl(folder / "b.jsonl", RECORDS[10:])
    write_jsonl(folder / "a.jsonl", RECORDS[:10])
    (folder / "_SUCCESS").write_text("")
    (folder / ".a.jsonl.partial").write_text("not json")
    source = open_source(folder, PLAN.schema, chunk_size=4)
    assert isinstance(source, FolderSource)
    assert [p.height for p in source.chunks()] == [4, 4, 2, 4, 4, 1]
    assert source.count_rows() == 19
    got = pl.concat(list(source.chunks()))
    assert got.equals(read_input(inputs["jsonl"], PLAN.schema))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no \.parquet, \.csv or \.jsonl files"):
        open_source(tmp_path / "empty", PLAN.schema)


def test_opening_checks_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        open_source(tmp_path / "nope.jsonl", PLAN.schema)
    with pytest.raises(InputError, match=r"unknown file type '\.xml'"):
        open_source(tmp_path / "in.xml", PLAN.schema)
    nested = tmp_path / "nested.csv"
    nested.write_text("id,transactions\nx,[]\n")
    with pytest.raises(InputError, match=r"CSV cannot hold nested fields \(transactions\)"):
        open_source(nested, PLAN.schema)


def test_rebatch_and_first_failure() -> None:
    frames = [pl.DataFrame({"a": list(range(i * 10, i * 10 + n))}) for i, n in enumerate([3, 0, 9])]
    out = list(rebatch(frames, 4))
    assert [f.height for f in out] == [4, 4, 4]
    assert pl.concat(out)["a"].to_list() == [0, 1, 2, 20, 21, 22, 23, 24, 25, 26, 27, 28]
    bad = {5, 9}
    assert first_failure(12, lambda lo, hi: any(i in bad for i in range(lo, hi))) == 5
    assert first_failure(12, lambda lo, hi: False) is None
    assert first_failure(0, lambda lo, hi: True) is None


# ---- malformed input ----------------------------------------------------------------------


def read_all(path: Path, chunk_size: int = 4) -> MalformedInputError:
    with pytest.raises(MalformedInputError) as info:
        for _ in open_source(path, PLAN.schema, chunk_size=chunk_size).chunks():
            pass
    assert str(path) in str(info.value)
    return info.value


def test_jsonl_bad_value_names_line_and_column(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in RECORDS[:10]]
    lines[5] = '{"id": "x", "amount_rub": "lots"}'
    error = read_all(write_lines(tmp_path / "bad.jsonl", lines))
    assert (error.line, error.row, error.column) == (6, None, "amount_rub")
    assert "bad.jsonl: line 6, column amount_rub: cannot read 'lots' as float" in str(error)


def test_jsonl_bad_nested_value_names_its_path(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in RECORDS[:9]]
    lines.insert(6, '{"id": "y", "transactions": [{"day": "2025-03-01"}, {"day": "1 March"}]}')
    error = read_all(write_lines(tmp_path / "bad.jsonl", lines))
    assert (error.line, error.column) == (7, "transactions[].day")
    assert "cannot read '1 March' as date" in str(error)


def test_jsonl_broken_line_in_the_middle(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in RECORDS[:10]]
    lines[6] = '{"id": "z", "kind": "cash_in",'
    lines.insert(3, "")  # a blank line still counts as a line
    error = read_all(write_lines(tmp_path / "bad.jsonl", lines))
    assert error.line == 8 and error.column is None
    assert "line 8: not valid JSON at character 31" in str(error)
    lines[7] = "[1, 2]"
    assert "line 8: expected a JSON object, got a list" in str(
        read_all(write_lines(tmp_path / "bad.jsonl", lines))
    )


def test_csv_bad_value_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,day,kind,amount_rub\n"
        "a,2025-03-01,cash_in,10\n"
        '"b\nsecond line",2025-03-01,cash_in,11\n'  # a value over two lines
        "\n"
        "c,2025-03-01,cash_in,12\n"
        "d,2025-03-01,cash_in,ten\n"
    )
    error = read_all(path, chunk_size=2)
    assert (error.line, error.column) == (7, "amount_rub")
    assert "bad.csv: line 7, column amount_rub: cannot read 'ten' as float" in str(error)
    path.write_text("id,day,kind,amount_rub\na,2025-03-01,cash_in,10\nb,2025-31-01,cash_in,1\n")
    error = read_all(path)
    assert (error.line, error.column) == (3, "day")


def test_csv_row_with_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    rows = [f"r{i},2025-03-01,cash_in,{i}" for i in range(10)]
    rows[4] = "r4,2025-03-01"
    path.write_text("id,day,kind,amount_rub\n" + "\n".join(rows) + "\n")
    error = read_all(path)
    assert (error.line, error.column) == (6, "kind")
    assert "line 6, column kind: 2 values where the header has 4" in str(error)


def test_missing_required_column(tmp_path: Path) -> None:
    csv = tmp_path / "noid.csv"
    csv.write_text("day,kind\n2025-03-01,cash_in\n")
    with pytest.raises(MalformedInputError, match=r"noid\.csv: line 1, column id: required column"):
        open_source(csv, PLAN.schema)
    parquet = tmp_path / "noid.parquet"
    pl.DataFrame({"day": ["2025-03-01"], "kind": ["cash_in"]}).write_parquet(parquet)
    with pytest.raises(MalformedInputError, match=r"noid\.parquet: column id: required column id"):
        open_source(parquet, PLAN.schema)


def test_parquet_bad_value_names_row_index_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    amounts = [str(i) for i in range(12)]
    amounts[9] = "lots"  # text where the schema says float
    pl.DataFrame({"id": [f"r{i}" for i in range(12)], "amount_rub": amounts}).write_parquet(
        path, row_group_size=5
    )
    error = read_all(path)
    assert (error.line, error.row, error.column) == (None, 9, "amount_rub")
    assert "bad.parquet: row index 9, column amount_rub: cannot read 'lots' as float" in str(error)


def test_parquet_text_columns_are_read_and_bad_nested_values_found(
    example_dir: Path, tmp_path: Path
) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    frame = read_input(example_dir / "data" / "applications.jsonl", plan.schema).head(10)
    as_text = frame.with_columns(pl.col("application_date").cast(pl.String))  # dates as text
    path = tmp_path / "text.parquet"
    as_text.write_parquet(path)
    assert pl.concat(list(open_source(path, plan.schema, chunk_size=3))).equals(frame)

    incomes = pl.col("applicant").struct.field("income").cast(pl.String)
    bad = as_text.with_columns(
        pl.col("applicant").struct.with_fields(
            pl.when(pl.int_range(pl.len()) == 7)
            .then(pl.lit("n/a"))
            .otherwise(incomes)
            .alias("income")
        )
    )
    bad.write_parquet(path)
    with pytest.raises(MalformedInputError) as info:
        list(open_source(path, plan.schema, chunk_size=4))
    assert (info.value.row, info.value.column) == (7, "applicant.income")
    assert "row index 7, column applicant.income: cannot read 'n/a' as float" in str(info.value)


def test_source_classes_by_suffix(inputs: dict[str, Path]) -> None:
    kinds = {fmt: type(open_source(path, PLAN.schema)) for fmt, path in inputs.items()}
    assert kinds == {
        "jsonl": JsonLinesSource,
        "parquet": ParquetSource,
        "csv": CsvSource,
        "flat": JsonLinesSource,
    }


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('id,day,kind,amount_rub\na,2025-03-01,cash_in,10\nb,2025-03-01,"cash_in,11\n', 3),
        (
            "id,day,kind,amount_rub\n"
            'a,2025-03-01,cash_in,10\n"b\nc",2025-03-01,cash_in,1\n'
            'd,2025-03-01,cash_in,"12\ne,2025-03-01,cash_in,13\nf,2025-03-01,cash_in,14\n',
            5,
        ),
    ],
)
def test_csv_unterminated_quote_names_its_line(tmp_path: Path, text: str, line: int) -> None:
    """The rest of the file would otherwise be read as one value, its records lost."""
    path = tmp_path / "open.csv"
    path.write_text(text)
    error = read_all(path)
    assert error.line == line
    assert f'open.csv: line {line}: a quote (") is opened and never closed' in str(error)
