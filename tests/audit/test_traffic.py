"""Real traffic into backtests: the decision log as input, and its Parquet export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from kaskad.registry.releases import create_release
from tests.audit.conftest import ACTOR, Served
from tests.cli.test_cli import kaskad


@pytest.mark.slow
def test_backtest_from_the_log_equals_backtest_from_its_export(
    served_200: Served, example_dir: Path, tmp_path: Path
) -> None:
    candidate = tmp_path / "candidate"
    shutil.copytree(example_dir, candidate, ignore=shutil.ignore_patterns("__pycache__", "data"))
    pipeline = candidate / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("when: pd > 0.2", "when: pd > 0.1"))
    assert create_release(served_200.store, pipeline, actor=ACTOR).number == 2
    common = ("--store", served_200.location, "--baseline", "loan_decision@1")
    common += ("--candidate", "loan_decision@2")

    from_log = tmp_path / "from_log.json"
    result = kaskad(
        "backtest", str(pipeline), *common, "--input", "decisions:credit",
        "--since", "2000-01-01", "--summary", str(from_log),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    exported = tmp_path / "decisions.parquet"
    result = kaskad("decisions", "export", "--out", str(exported), "--store", served_200.location)
    assert result.returncode == 0, result.stderr
    assert "200 decisions written" in result.stdout
    frame = pl.read_parquet(exported)
    assert frame.height == 200 and set(frame["log_status"]) == {"decided"}
    assert {"log_record_sha256", "application_id", "applicant"} <= set(frame.columns)

    from_file = tmp_path / "from_file.json"
    result = kaskad(
        "backtest", str(pipeline), *common, "--input", str(exported),
        "--summary", str(from_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    log, file = json.loads(from_log.read_text()), json.loads(from_file.read_text())
    assert log["rows"] == file["rows"] == 200
    assert log["flips"] == file["flips"]
    assert any(c["baseline"] != c["candidate"] for c in log["flips"]), "the candidate flips some"
