"""``kaskad serve --workers 2``: two processes on one port, one decision log, one /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kaskad.serve import PipelineFile, ServeConfig
from kaskad.serve.workers import config_from_json, config_to_json
from kaskad.store import read_decisions
from tests.serve.conftest import AML, CASH, ROOT, _free_port, keys, start_server


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_two_workers_share_the_log_and_the_metrics(tmp_path: Path) -> None:
    store = tmp_path / "store"
    port = _free_port()
    proc = start_server(store, port, "--workers", "2")
    try:
        url = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=0)  # spread
        with httpx.Client(base_url=url, timeout=20, limits=limits) as client:
            with ThreadPoolExecutor(8) as pool:
                replies = list(
                    pool.map(
                        lambda _: client.post("/v1/pipelines/aml/decide", json=CASH), range(200)
                    )
                )
            assert [r.status_code for r in replies] == [200] * 200
            metrics = client.get("/metrics").text
        workers = [p for p in _children(proc.pid) if _is_worker(p)]
        assert len(workers) == 2, workers
    finally:
        proc.terminate()
        proc.wait(20)
    line = 'kaskad_requests_total{endpoint="decide",pipeline="aml",status="200"} 200.0'
    assert line in metrics, [m for m in metrics.splitlines() if "requests_total{" in m]
    logged = Counter(row["decision_id"] for row in read_decisions(str(store)))
    assert set(logged) == {r.json()["decision_id"] for r in replies}
    assert set(logged.values()) == {1}


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()  # not the tracker
    except OSError:
        return False


@pytest.mark.slow
def test_journal_mode_refuses_several_workers(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "kaskad.cli.serve", f"aml={AML}", "--store", str(tmp_path)]
    command += ["--allow-anonymous", "--workers", "2", "--decision-log-mode", "journal"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "--workers above 1 needs --decision-log-mode sync" in result.stderr


def test_the_configuration_passes_to_workers_unchanged(tmp_path: Path) -> None:
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)},
        api_keys=keys(),
        decision_log=str(tmp_path),
        queue_size=7,
        decide_threads=3,
    )
    assert config_from_json(config_to_json(config)) == config
