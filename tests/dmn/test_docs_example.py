"""The example of docs/dmn-import.md runs as written: every ``kaskad`` and ``cp`` command
of its code blocks, in order (``/tmp/loan`` replaced by a temporary folder), from the
repository's top folder, and prints what the page says it prints."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaskad.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "dmn-import.md"
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def commands() -> list[str]:
    blocks = re.findall(r"```\w*\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    lines = [line.strip().removeprefix("$ ") for block in blocks for line in block.splitlines()]
    return [
        line
        for line in lines
        if line.startswith(("kaskad import-dmn tests", "cp ", "kaskad validate", "kaskad decide"))
    ]


def test_the_page_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    found = commands()
    assert [c.split()[:2] for c in found] == [
        ["kaskad", "import-dmn"],
        ["cp", "examples/dmn_loan/pipeline.yaml"],
        ["kaskad", "validate"],
        ["kaskad", "decide"],
    ]
    printed: list[str] = []
    for line in found:
        args = [a.replace("/tmp/loan", str(tmp_path / "loan")) for a in shlex.split(line)]
        if args[0] == "cp":
            for source in args[1:-1]:
                shutil.copy(source, args[-1])
            continue
        result = CliRunner().invoke(app, args[1:], env=ENV)
        assert result.exit_code == 0, (line, result.stdout, result.stderr)
        printed.append(result.stdout + result.stderr)
    imported, validated, decided = printed
    page = PAGE.read_text(encoding="utf-8")
    for shown in re.findall(r"^(wrote /tmp/loan/.*|  input .*|  - table: .*)$", page, re.M):
        assert shown.replace("/tmp/loan", str(tmp_path / "loan")) in imported
    assert "ok pipeline loan_dmn" in validated and "K232" in validated
    assert "decision: manual_review" in decided
    for shown in (
        'risk_class.matched = ["DecisionRule_0f6t5yl"]',
        "risk_class.risk_class = medium",
        "loan_approval.approval = referred",
        "loan_approval.max_amount = 50000",
    ):
        assert shown in page and shown in decided
