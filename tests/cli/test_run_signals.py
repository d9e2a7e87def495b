"""``kaskad run`` leaves no partial output: removed on SIGINT and SIGTERM, and cleaned by
a later run after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "execute" / "golden" / "aml_unknowns"
ROW = {"id": "x", "day": "2025-03-01", "kind": "cash_in", "amount_rub": 1e6, "transactions": []}


def _input(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "in.jsonl"
    line = json.dumps(ROW) + "\n"
    path.write_text(line * rows)
    return path


def _start(source: Path, output: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "kaskad.cli.main", "run", str(GOLDEN / "pipeline.yaml")]
    command += [
        "-i",
        str(source),
        "-o",
        str(output),
        "--chunk-size",
        "50",
        "--quiet",
        "--no-record",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = output.parent.parent / "stderr.txt"
    with log.open("ab") as stderr:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def _partials(folder: Path) -> list[Path]:
    return list(folder.glob(".*.partial"))


def _once_writing(proc: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + 60
    while not _partials(folder):
        assert proc.poll() is None, (folder.parent / "stderr.txt").read_text()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.02)
    time.sleep(0.3)  # well inside the run


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_removes_the_partial_output(tmp_path: Path, sig: signal.Signals) -> None:
    source, out = _input(tmp_path, 200_000), tmp_path / "out"
    out.mkdir()
    for _ in range(3):
        proc = _start(source, out / "decisions.csv")
        _once_writing(proc, out)
        proc.send_signal(sig)
        assert proc.wait(60) != 0
        assert _partials(out) == [] and not (out / "decisions.csv").exists()


@pytest.mark.slow
def test_a_later_run_cleans_up_after_sigkill(tmp_path: Path) -> None:
    source, out = _input(tmp_path, 200_000), tmp_path / "out"
    out.mkdir()
    proc = _start(source, out / "decisions.csv")
    _once_writing(proc, out)
    proc.kill()
    proc.wait(60)
    [left] = _partials(out)
    other = out / f".other.csv.{os.getpid()}-0000.partial"  # a live process's file stays
    other.write_text("")
    (tmp_path / "small").mkdir()
    small = _input(tmp_path / "small", 10)
    again = _start(small, out / "decisions.csv")
    assert again.wait(60) == 0, (tmp_path / "stderr.txt").read_text()
    assert not left.exists() and other.exists()
    assert (out / "decisions.csv").read_text().count("\n") == 11
