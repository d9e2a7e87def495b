"""``kaskad audit verify`` from the shell: an untouched chain passes, an edited one fails."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from kaskad.store import Store
from tests.cli.test_cli import kaskad


def test_audit_verify_finds_an_edited_entry(tmp_path: Path) -> None:
    location = tmp_path / "store"
    with Store.open(location) as store:
        for i in range(3):
            store.record_audit("ops", "environment.override", f"loan_decision@{i}")
    ok = kaskad("audit", "verify", "--store", str(location))
    assert ok.returncode == 0, ok.stderr
    assert "audit trail verified: 3 entries, head " in ok.stdout
    listed = json.loads(kaskad("audit", "--json", "--store", str(location)).stdout)
    assert [e["target"] for e in listed] == [f"loan_decision@{i}" for i in (2, 1, 0)]

    with sqlite3.connect(location / "kaskad.db") as db:
        db.execute("UPDATE audit SET target = 'loan_decision@9' WHERE id = 2")
    broken = kaskad("audit", "verify", "--store", str(location))
    assert broken.returncode == 1
    assert "K608 audit entry 2: its content does not match its hash" in broken.stderr
    as_json = json.loads(kaskad("audit", "verify", "--json", "--store", str(location)).stdout)
    assert as_json["ok"] is False and as_json["breaks"] == [
        {"id": 2, "reason": "its content does not match its hash"}
    ]
