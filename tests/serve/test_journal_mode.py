"""The server's journal mode: configuration errors, and a killed server replayed.

The journal itself (fsync, shipping, replay, limits) is tested in tests/store/test_journal.py.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest

from kaskad.serve import PipelineFile, ServeConfig, ServeConfigError, create_app
from kaskad.store import JournaledLog, JournalSettings, read_decision_plans, read_decisions
from tests.serve.conftest import AML, CASH, _free_port, kill_mid_load, start_server


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


def test_journal_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ServeConfigError, match="unknown decision log mode 'async'"):
        ServeConfig(pipelines={}, decision_log="x", decision_log_mode="async")
    with pytest.raises(ServeConfigError, match="needs a decision log store"):
        ServeConfig(pipelines={}, decision_log_mode="journal")
    with pytest.raises(ServeConfigError, match="set decision log mode 'journal'"):
        ServeConfig(pipelines={}, decision_log="x", journal="j")
    url_store = ServeConfig(
        pipelines={"aml": PipelineFile(AML)},
        allow_anonymous=True,
        decision_log=f"sqlite:///{tmp_path / 'kaskad.db'}",
        decision_log_mode="journal",
    )
    with pytest.raises(ServeConfigError, match="needs a journal folder"):
        create_app(url_store)
    # the store's journal errors reach the server's user as configuration errors
    store = str(tmp_path / "store")
    log = JournaledLog(store, JournalSettings(tmp_path / "store" / "journal"))
    in_use = ServeConfig(
        pipelines={"aml": PipelineFile(AML)},
        allow_anonymous=True,
        decision_log=store,
        decision_log_mode="journal",
    )
    try:
        with pytest.raises(ServeConfigError, match="in use by another process"):
            create_app(in_use)
    finally:
        log.close()


@pytest.mark.slow
def test_sigkill_mid_load_then_replay_keeps_every_answered_decision(tmp_path: Path) -> None:
    store = tmp_path / "store"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    journal_mode = ("--decision-log-mode", "journal")
    proc = start_server(store, port, *journal_mode)
    try:
        ok = kill_mid_load(url, proc)

        proc = start_server(store, port, *journal_mode)  # replays the journal
        with httpx.Client(base_url=url, timeout=5) as client:
            for _ in range(20):
                r = client.post("/v1/pipelines/aml/decide", json=CASH)
                assert r.status_code == 200
                ok.append(r.json()["decision_id"])
            backlog = [
                line
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("kaskad_journal_backlog_bytes ")
            ]
            assert len(backlog) == 1 and float(backlog[0].split()[1]) >= 0
        proc.send_signal(signal.SIGTERM)  # a clean stop ships what is left
        assert proc.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises it after shutdown
    finally:
        proc.kill()
        proc.wait(10)

    logged = Counter(row["decision_id"] for row in read_decisions(str(store)))
    assert not [i for i, n in logged.items() if n > 1]
    assert len(set(ok)) == len(ok)
    missing = set(ok) - set(logged)
    assert not missing, f"{len(missing)} answered decisions have no record"
    assert not segments(store / "journal")
    # the plan's components came through the journal too, once
    plans = read_decision_plans(str(store))
    assert set(plans) == {row["plan_hash"] for row in read_decisions(str(store))}
