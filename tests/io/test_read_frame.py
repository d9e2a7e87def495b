"""``kaskad.read_frame`` reads as ``kaskad run`` does, on every format; a Parquet file
written by Polars from JSON Lines (dates inside lists as text) is read as the JSON Lines
are; ``kaskad.release_plan`` gives a release's verified plan. Batch and per-record
executors agree on what was read. Pipeline: operations with lists of transactions and
missing values everywhere (not the credit example)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kaskad
from kaskad.errors import InputError, NotFoundError
from kaskad.execute.record import RecordExecutor
from kaskad.registry.releases import create_release
from kaskad.store import Store

GOLDEN = Path(__file__).resolve().parents[1] / "execute" / "golden" / "aml_unknowns"
PIPELINE = GOLDEN / "pipeline.yaml"

days = st.one_of(st.none(), st.dates().map(lambda d: d.isoformat()))
transaction = st.fixed_dictionaries(  # a day always: Parquet holds no struct without fields
    {"day": days},
    optional={"counterparty_type": st.sampled_from([None, "individual", "legal_entity"])},
)
operation = st.fixed_dictionaries(
    {"id": st.text(alphabet="abcxyz-0123", min_size=1, max_size=8)},
    optional={
        "day": days,
        "kind": st.sampled_from([None, "cash_in", "cash_out", "transfer"]),
        "amount_rub": st.one_of(st.none(), st.floats(0, 5e6, allow_nan=False)),
        "transactions": st.one_of(st.none(), st.lists(transaction, max_size=4)),
    },
)


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(operation, min_size=1, max_size=30))
def test_polars_parquet_reads_as_its_json_lines_and_both_executors_agree(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]
) -> None:
    folder = tmp_path_factory.mktemp("frames")
    plan = kaskad.compile_pipeline(PIPELINE)
    jsonl = folder / "ops.jsonl"
    _write_jsonl(jsonl, records)
    raw = pl.read_ndjson(jsonl, infer_schema_length=None)
    parquet = folder / "ops.parquet"
    raw.write_parquet(parquet)  # what an analyst does: dates inside lists stay text
    from_json = kaskad.read_frame(jsonl, plan)
    from_parquet = kaskad.read_frame(parquet, plan)
    assert from_parquet.schema == from_json.schema
    assert from_parquet.to_dicts() == from_json.to_dicts()
    batch = kaskad.BatchExecutor(plan).run(from_parquet).to_dicts()
    record = RecordExecutor(plan)
    for row, original in zip(batch, records, strict=True):
        single = record.decide(original).output
        for name, value in single.items():
            if name.endswith("_ms"):
                continue
            assert _same(row[name], value), (name, row[name], value, original)


def test_read_frame_takes_a_plan_or_a_schema_and_says_where_input_is_wrong(
    tmp_path: Path,
) -> None:
    plan = kaskad.compile_pipeline(PIPELINE)
    frame = kaskad.read_frame(str(GOLDEN / "input.jsonl"), plan.schema)
    assert frame.height == 8 and frame.schema["day"] == pl.Date
    assert frame.schema["transactions"] == pl.List(
        pl.Struct({"day": pl.Date, "counterparty_type": pl.String})
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert kaskad.read_frame(empty, plan).columns == [f.name for f in plan.schema.fields]
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"id": ["x"], "transactions": [[{"day": "1 March"}]]}).write_parquet(bad)
    with pytest.raises(InputError) as caught:
        kaskad.read_frame(bad, plan)
    assert "transactions[].day" in str(caught.value) and "row index 0" in str(caught.value)


def test_release_plan_by_stage_number_and_reference(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir) as store:
        made = create_release(store, PIPELINE, actor="a test", cache_root=store_dir / "releases")
        store.set_stage("aml_unknowns", "production", made.number, actor="a test")
    compiled = kaskad.compile_pipeline(PIPELINE)
    for args in (("aml_unknowns",), ("aml_unknowns", 1), ("aml_unknowns@latest",)):
        plan = kaskad.release_plan(*args, store=store_dir)  # type: ignore[arg-type]
        assert plan.hash == compiled.hash == made.plan_hash
    with pytest.raises(NotFoundError):
        kaskad.release_plan("aml_unknowns", 7, store=store_dir)


def test_release_plan_finds_the_store_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / ".kaskad"
    with Store.open(store_dir) as store:
        create_release(store, PIPELINE, actor="a test", cache_root=store_dir / "releases")
    deep = tmp_path / "notebooks" / "q3"
    deep.mkdir(parents=True)
    (tmp_path / ".git").mkdir()  # the project's root
    monkeypatch.chdir(deep)
    monkeypatch.delenv("KASKAD_STORE", raising=False)
    assert kaskad.release_plan("aml_unknowns", "latest").name == "aml_unknowns"
    assert not (deep / ".kaskad").exists()
    monkeypatch.setenv("KASKAD_STORE", str(tmp_path / "another"))  # as --store reads it
    with pytest.raises(NotFoundError):
        kaskad.release_plan("aml_unknowns", "latest")


def test_a_run_sets_aside_only_the_records_whose_nested_text_cannot_be_read(
    tmp_path: Path,
) -> None:
    from kaskad.io.sources import open_source

    plan = kaskad.compile_pipeline(PIPELINE)
    rows = [
        {"id": "a", "day": "2025-03-01", "transactions": [{"day": "2025-02-01"}]},
        {"id": "b", "day": "bad day", "transactions": [{"day": "2025-02-02"}]},
        {"id": "c", "day": "2025-03-02", "transactions": [{"day": "1 March"}]},
        {"id": "d", "day": None, "transactions": [{"day": None}, {"day": "2025-02-03"}]},
    ]
    path = tmp_path / "ops.parquet"
    pl.DataFrame(rows).write_parquet(path)
    chunks = list(open_source(path, plan.schema, chunk_size=10).read_chunks())
    assert len(chunks) == 1
    chunk = chunks[0]
    assert chunk.frame["id"].to_list() == ["a", "d"]
    assert chunk.frame["transactions"].to_list()[1][1]["day"].isoformat() == "2025-02-03"
    set_aside = {u.row: [p.path for p in u.problems] for u in chunk.unread}
    assert set_aside == {1: ["day"], 2: ["transactions[].day"]}
    assert [dict(u.keys) for u in chunk.unread] == [{"id": "b"}, {"id": "c"}]
