"""Several servers on one PostgreSQL store need no shared file system: the release's
artifacts come from the database; each server writes them into its own working folder.

Also: moving the artifacts of a store that kept them in a folder into its database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kaskad.registry.releases import create_release, load_release
from kaskad.store import ArtifactMissingError, DatabaseArtifactStore, LocalArtifactStore, Store
from tests.cli.test_cli import kaskad
from tests.serve.conftest import ROOT, _free_port

pytestmark = pytest.mark.slow


def start_kaskad_serve(workdir: Path, store: str, ref: str) -> tuple[subprocess.Popen[bytes], str]:
    """``kaskad serve REF --store STORE`` started in ``workdir``, once ``/ready``."""
    port = _free_port()
    command = [sys.executable, "-m", "kaskad.cli.main", "serve", ref, "--store", store]
    command += ["--port", str(port), "--allow-anonymous", "--log-level", "warning"]
    command += ["--unkeyed-masking"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = workdir.parent / f"{workdir.name}.log"
    with log.open("ab") as errors:
        proc = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


def test_two_servers_on_one_postgresql_store(
    example_dir: Path, pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maker = tmp_path / "release-maker"
    maker.mkdir()
    monkeypatch.chdir(maker)
    data = example_dir / "data" / "applications.jsonl"
    with Store.open(pg_database) as store:
        assert isinstance(store.artifacts, DatabaseArtifactStore)
        release = create_release(
            store, example_dir / "pipeline.yaml", actor="tests", golden_input=data, golden_count=20
        )
    assert list(maker.iterdir()) == []  # the artifacts went to the database

    records = [json.loads(line) for line in data.read_text().splitlines()[:25]]
    servers: list[subprocess.Popen[bytes]] = []
    answers: list[list[dict[str, object]]] = []
    try:
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()  # empty: nothing shared with the other server or the maker
            proc, url = start_kaskad_serve(workdir, pg_database, release.ref)
            servers.append(proc)
            with httpx.Client(base_url=url, timeout=10) as client:
                replies = [
                    client.post("/v1/pipelines/loan_decision/decide", json=r) for r in records
                ]
            assert all(r.status_code == 200 for r in replies), replies[0].text
            bodies = [r.json() for r in replies]
            assert {b["release"] for b in bodies} == {release.ref}
            assert {b["plan_hash"] for b in bodies} == {release.plan_hash}
            for body in bodies:  # what differs by design between two replies
                del body["decision_id"], body["duration_ms"]
            answers.append(bodies)
            # each server wrote the release into its own folder, and no artifact folder
            assert (workdir / ".kaskad" / "releases" / "loan_decision").is_dir()
            assert not (workdir / ".kaskad" / "artifacts").exists()
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(15)
    assert answers[0] == answers[1]
    assert len({str(b["decision"]) for b in answers[0]}) > 1  # several outcomes reached


def test_migrate_artifacts_from_a_folder(
    example_dir: Path, pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL store whose artifacts were in ``./.kaskad/artifacts`` (before kaskad
    kept them in the database): its release loads once ``kaskad store migrate-artifacts``
    copied them."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / ".kaskad" / "artifacts"
    with Store.open(pg_database, artifacts=LocalArtifactStore(folder)) as store:
        release = create_release(store, example_dir / "pipeline.yaml", actor="tests")
    with Store.open(pg_database) as store, pytest.raises(ArtifactMissingError):
        load_release(store, release.ref, actor="tests", cache_root=tmp_path / "cache")

    moved = kaskad("store", "migrate-artifacts", "--from", str(folder), "--store", pg_database)
    assert moved.returncode == 0, moved.stderr
    files = len(release.manifest["files"])
    assert f"{files} artifact(s) copied, 0 already present in the database" in moved.stdout
    again = kaskad("store", "migrate-artifacts", "--from", str(folder), "--store", pg_database)
    assert f"0 artifact(s) copied, {files} already present" in again.stdout

    with Store.open(pg_database) as store:
        loaded = load_release(store, release.ref, actor="tests", cache_root=tmp_path / "cache2")
        assert loaded.plan.hash == release.plan_hash
        entries = store.audit_log(action="artifacts.migrate")  # newest first
    assert [e.detail["copied"] for e in entries] == [0, files]
    assert entries[1].target == str(folder) and entries[1].detail["damaged"] == []
