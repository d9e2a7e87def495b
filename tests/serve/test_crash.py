"""Crash safety: SIGKILL the server under load; every 200 has its record, no id repeats.

The server runs as a subprocess (``python -m kaskad.cli.serve``) on a SQLite store.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from kaskad.store import read_decisions
from tests.serve.conftest import CASH, _free_port, kill_mid_load, start_server

pytestmark = pytest.mark.slow  # a long end-to-end test: pytest -m 'not slow' skips it


def test_sigkill_mid_load_keeps_every_answered_decision(tmp_path: Path) -> None:
    store = tmp_path / "store"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(store, port)
    try:
        ok = kill_mid_load(url, proc)

        proc = start_server(store, port)  # restart on the same store, then decide a bit more
        with httpx.Client(base_url=url, timeout=5) as client:
            for _ in range(20):
                r = client.post("/v1/pipelines/aml/decide", json=CASH)
                assert r.status_code == 200
                ok.append(r.json()["decision_id"])
    finally:
        proc.kill()
        proc.wait(10)

    rows = read_decisions(str(store))
    logged = Counter(row["decision_id"] for row in rows)
    assert not [i for i, n in logged.items() if n > 1]
    assert len(set(ok)) == len(ok)
    missing = set(ok) - set(logged)
    assert not missing, f"{len(missing)} answered decisions have no record"
