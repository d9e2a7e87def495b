"""``kaskad run`` streams, prints and records its summary; ``kaskad runs`` lists runs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tests.cli.test_cli import kaskad

GOLDEN = Path(__file__).resolve().parent.parent / "execute" / "golden" / "aml_unknowns"
PIPELINE = str(GOLDEN / "pipeline.yaml")


def test_run_records_its_summary_and_runs_lists_it(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    folder = tmp_path / "in"
    folder.mkdir()
    lines = (GOLDEN / "input.jsonl").read_text().splitlines()
    (folder / "part-0.jsonl").write_text("\n".join(lines[:5]) + "\n")
    (folder / "part-1.jsonl").write_text("\n".join(lines[5:]) + "\n")
    out = tmp_path / "out.parquet"
    args = ["-i", str(folder), "-o", str(out), "--store", store, "--chunk-size", "2"]
    result = kaskad("run", PIPELINE, *args)
    assert result.returncode == 0, result.stderr
    assert "aml_unknowns: 8 records in" in result.stderr
    assert "kind" in result.stderr and "not an allowed value" in result.stderr
    assert "aml.cash_1m" in result.stderr
    assert pl.read_parquet(out).height == 8

    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines[:4], '{"id": "x", "day": "tomorrow"}', *lines[4:]]) + "\n")
    args = ["-i", str(bad), "-o", str(tmp_path / "f.csv"), "--store", store]
    failed = kaskad("run", PIPELINE, *args, "--max-rejected", "1")
    assert failed.returncode == 3, failed.stderr
    assert "2 of 9 records so far were rejected, more than --max-rejected 1 allows" in failed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "in", "out.parquet", "store"]
    kept = kaskad("run", PIPELINE, *args, "--no-record", "-q")  # the bad record is rejected
    assert kept.returncode == 0, kept.stderr
    errors = pl.read_csv(tmp_path / "f.csv").filter(pl.col("id") == "x")["errors"].to_list()
    expected = "line 5: day: expected a date as YYYY-MM-DD, got text 'tomorrow'"
    assert [json.loads(e) for e in errors] == [[expected]]

    listed = kaskad("runs", "--store", store, "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["status"] for r in runs] == ["failed", "completed"]
    assert "--max-rejected 1" in runs[0]["error"] and runs[0]["rows_in"] == 9
    done = runs[1]
    assert (done["rows_in"], done["decided"], done["rejected"]) == (8, 7, 1)
    assert done["input"] == str(folder) and done["output"] == str(out)
    assert done["rejections"] == {"kind": {"not an allowed value": 1}}
    table = kaskad("runs", "--store", store)
    assert "aml_unknowns" in table.stdout and "completed" in table.stdout
    shown = kaskad("runs", str(done["id"]), "--store", store)
    assert "aml_unknowns: 8 records in" in shown.stdout


def test_no_record_leaves_the_store_alone(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = kaskad(
        "run", PIPELINE, "-i", str(GOLDEN / "input.jsonl"), "-o", str(out), "--no-record", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no .kaskad
