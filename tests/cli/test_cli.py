"""The command line with real files and exit codes, run in-process (Typer's CliRunner);
the version and the start-up cost are checked in a real process, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from kaskad.cli.main import app

GOLDEN = Path(__file__).resolve().parent.parent / "execute" / "golden" / "aml_unknowns"
KASKAD = [sys.executable, "-m", "kaskad.cli.main"]
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


@dataclass(frozen=True)
class Outcome:
    """What a command printed and returned (the fields of ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def kaskad(*args: str, stdin: str | None = None, cwd: Path | None = None) -> Outcome:
    """Run ``kaskad ARGS`` in this process. An exception the command did not turn into a
    message and an exit code fails the test (a user would have seen a traceback)."""
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(app, list(args), input=stdin, env=ENV)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def kaskad_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``kaskad ARGS`` as a user does: a new Python process."""
    env = {**os.environ, **ENV}
    return subprocess.run([*KASKAD, *args], capture_output=True, text=True, env=env, timeout=120)


def test_version() -> None:
    result = kaskad_process("--version")
    assert result.returncode == 0
    assert result.stdout.strip().startswith("kaskad ")


def test_start_imports_no_heavy_library() -> None:
    """``import kaskad`` and the command's start load no database, web, Spark or Polars
    code: each command imports what it needs when it runs."""
    heavy = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "psycopg", "pyspark", "polars")
    code = (
        "import sys, kaskad, kaskad.cli.main\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_validate_ok_and_json() -> None:
    result = kaskad("validate", str(GOLDEN / "pipeline.yaml"))
    assert result.returncode == 0, result.stderr
    assert "ok pipeline aml_unknowns" in result.stdout
    data = json.loads(kaskad("validate", str(GOLDEN / "pipeline.yaml"), "--json").stdout)
    assert data["valid"] is True and len(data["plan_hash"]) == 64
    assert {c["kind"] for c in data["components"]} == {"pipeline", "schema", "features", "rules"}


def test_validate_reports_problems_with_nonzero_exit(tmp_path: Path) -> None:
    for name in ("schema.yaml", "features.yaml", "pipeline.yaml"):
        (tmp_path / name).write_text((GOLDEN / name).read_text())
    rules = (GOLDEN / "rules.yaml").read_text()
    rules = rules.replace("amount_rub >= 1000000", "amount_rbu >= 1000000")
    rules = rules.replace(
        "when: amount_rub > 500000\n    on_missing: pass",
        "when: amount_rub > 'big'\n    on_missing: pass",
    )
    (tmp_path / "rules.yaml").write_text(rules)
    result = kaskad("validate", "pipeline.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "2 problems found" in result.stderr
    assert "rules.yaml:6:" in result.stderr and "did you mean 'amount_rub'?" in result.stderr
    assert "rule cash_1m" in result.stderr and "rule large_missing_passes" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = json.loads(kaskad("validate", "pipeline.yaml", "--json", cwd=tmp_path).stdout)
    assert [p["code"] for p in as_json["problems"]] == ["K202", "K203"]


def test_decide_from_stdin_readable_and_json() -> None:
    record = (GOLDEN / "input.jsonl").read_text().splitlines()[3]
    readable = kaskad("decide", str(GOLDEN / "pipeline.yaml"), stdin=record)
    assert readable.returncode == 0, readable.stderr
    assert "decision: review" in readable.stdout
    assert "cash_1m" in readable.stdout and "unknown" in readable.stdout
    result = kaskad("decide", str(GOLDEN / "pipeline.yaml"), "--json", stdin=record)
    report = json.loads(result.stdout)
    expected = json.loads((GOLDEN / "expected.jsonl").read_text().splitlines()[3])
    assert report["result"] == expected
    rules = report["trace"]["steps"][1]["rules"]
    assert rules[0]["id"] == "cash_1m" and rules[0]["outcome"] == "unknown"
    assert rules[0]["description"].startswith("Cash operation")
    assert all(len(c["sha256"]) == 64 for c in report["trace"]["components"])


def test_decide_rejects_bad_input_and_bad_json(tmp_path: Path) -> None:
    rejected = kaskad("decide", str(GOLDEN / "pipeline.yaml"), stdin='{"kind": "wire"}')
    assert rejected.returncode == 3
    assert "id: required field is missing" in rejected.stdout
    assert "kind: 'wire' is not an allowed value" in rejected.stdout
    broken = kaskad("decide", str(GOLDEN / "pipeline.yaml"), stdin="<xml/>")
    assert broken.returncode == 2 and "not valid JSON" in broken.stderr
    missing = kaskad(
        "decide", str(GOLDEN / "pipeline.yaml"), "--input", str(tmp_path / "nope.json")
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_run_writes_same_fields_as_decide_in_every_format(tmp_path: Path) -> None:
    expected = [json.loads(x) for x in (GOLDEN / "expected.jsonl").read_text().splitlines()]
    for suffix in ("jsonl", "parquet", "csv"):
        out = tmp_path / f"out.{suffix}"
        result = kaskad(
            "run",
            str(GOLDEN / "pipeline.yaml"),
            "--input",
            str(GOLDEN / "input.jsonl"),
            "--output",
            str(out),
            "--chunk-size",
            "3",
            "--no-record",
        )
        assert result.returncode == 0, result.stderr
        assert "8 records" in result.stderr
        frame = {"jsonl": pl.read_ndjson, "parquet": pl.read_parquet, "csv": pl.read_csv}[suffix](
            out
        )
        assert frame.columns == list(expected[0])
        assert frame.get_column("decision").to_list() == [e["decision"] for e in expected]
    csv_hits = pl.read_csv(tmp_path / "out.csv").get_column("aml.hits").to_list()
    assert json.loads(csv_hits[0]) == expected[0]["aml.hits"]


def test_run_bad_input_leaves_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = (GOLDEN / "input.jsonl").read_text().splitlines()
    lines.insert(2, '{"id": "x", "amount_rub": "lots"}')
    bad.write_text("\n".join(lines))
    out = tmp_path / "out.parquet"
    result = kaskad(
        "run", str(GOLDEN / "pipeline.yaml"), "-i", str(bad), "-o", str(out), "--no-record",
        "--max-rejected", "0",
    )  # fmt: skip
    assert result.returncode == 3
    assert "more than --max-rejected 0" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("*.partial"))
