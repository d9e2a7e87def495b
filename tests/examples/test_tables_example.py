"""examples/tables: the commands docs/decision-tables.md tells an analyst to run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from kaskad.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "decision-tables.md"


def run(cwd: Path, *args: str) -> tuple[int, str]:
    import contextlib

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def test_every_documented_command_works(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "tables", tmp_path / "examples" / "tables")
    commands = [
        line.split()[1:] for line in DOC.read_text().splitlines() if line.startswith("kaskad ")
    ]
    assert len(commands) == 3
    for args in commands:
        code, out = run(tmp_path, *args, "--store", str(tmp_path / "store"))
        assert code == 0, out
    rows = [json.loads(line) for line in (tmp_path / "triaged.jsonl").read_text().splitlines()]
    assert [r["decision"] for r in rows] == ["investigate", "review", "pay", "pay", "review"]
    assert rows[2]["triage.unknown"] == ["r2"] and rows[2]["triage.action"] is None
    assert rows[4]["triage.matched"] == ["r3"] and rows[4]["bonus.points"] == 5


def test_the_documented_tables_are_the_example_files() -> None:
    text = DOC.read_text()
    for name in ("triage.yaml", "bonus.yaml"):
        body = (ROOT / "examples" / "tables" / "tables" / name).read_text()
        # every line of the file is shown in the docs (comments aside)
        for line in body.splitlines():
            assert line.split("#")[0].rstrip() in text, line
    csv = (ROOT / "examples" / "tables" / "tables" / "bonus.csv").read_text()
    assert csv.strip() in text
