"""A real server for the serving tests: uvicorn in a background thread on a free port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from uvicorn.config import LifespanType

from kaskad.registry.releases import create_release
from kaskad.serve import ApiKey, PipelineFile, ServeConfig, create_app, hash_key
from kaskad.store import Release, Store

ROOT = Path(__file__).resolve().parents[2]
AML = ROOT / "tests" / "execute" / "golden" / "aml_unknowns" / "pipeline.yaml"
DECIDE_KEY = "decide-key-for-tests"
ADMIN_KEY = "admin-key-for-tests"
NAME = "aml_unknowns"  # the pipeline AML declares, as released in `store`
ACTOR = "release-manager"
INPUTS = [json.loads(line) for line in (AML.parent / "input.jsonl").read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running(config: ServeConfig | FastAPI, lifespan: LifespanType = "off") -> Iterator[str]:
    """The base URL of a live server for ``config`` (or an app already created); stopped
    on exit. ``lifespan="on"`` runs the app's startup and shutdown (background threads
    such as hot promotion)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            config if isinstance(config, FastAPI) else create_app(config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan=lifespan,
            ws="none",
            http="h11",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def three_paths(
    pipeline: Path, records: list[dict[str, Any]], alone: int
) -> tuple[list[Any], list[Any], list[Any]]:
    """The outputs of ``records`` decided one by one by the RecordExecutor, the first
    ``alone`` of them over HTTP one request each, and all of them in one ``decide-batch``
    request (the plan's output fields of each, as JSON values)."""
    from kaskad import RecordExecutor, compile_pipeline
    from kaskad.execute.convert import json_value

    plan = compile_pipeline(pipeline)
    executor = RecordExecutor(plan)
    direct = [json_value(executor.decide(r).output) for r in records]
    fields = [name for name, _ in plan.output_fields()]
    config = ServeConfig(  # a list of more than 8 is decided as one frame
        pipelines={"p": PipelineFile(pipeline)}, allow_anonymous=True, batch_threshold=8
    )
    with running(create_app(config)) as url, httpx.Client(base_url=url, timeout=60) as client:
        one = [client.post("/v1/pipelines/p/decide", json=r).json() for r in records[:alone]]
        many = client.post("/v1/pipelines/p/decide-batch", json=records).json()
    return (
        direct,
        [{f: o[f] for f in fields} for o in one],
        [{f: o[f] for f in fields} for o in many],
    )


def start_server(store: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """``python -m kaskad.cli.serve`` serving the AML pipeline on ``store``, once ready."""
    command = [sys.executable, "-m", "kaskad.cli.serve", f"aml={AML}", "--port", str(port)]
    command += ["--store", str(store), "--allow-anonymous", "--log-level", "warning", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = store.parent / "server.log"
    with log.open("ab") as errors:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    deadline = time.monotonic() + 60  # a loaded machine (shared CI cores) starts slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    proc.wait(10)  # reaped here, not reported against a later test
    raise RuntimeError("server did not start")


CASH = {"id": "cash-hit", "day": "2025-03-01", "kind": "cash_in", "amount_rub": 1e6}
PER_CLIENT = 300


def decide_until_gone(url: str, ok: list[str], started: threading.Event) -> None:
    """POST ``CASH`` up to ``PER_CLIENT`` times; the ids of the 200s go to ``ok`` (and
    ``started`` is set); stops when the server is gone (the crash tests)."""
    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(PER_CLIENT):
            try:
                r = client.post("/v1/pipelines/aml/decide", json=CASH)
            except httpx.TransportError:
                return  # the server is gone
            if r.status_code == 200:
                ok.append(r.json()["decision_id"])
                started.set()


def kill_mid_load(url: str, proc: subprocess.Popen[bytes], clients: int = 4) -> list[str]:
    """Load the server with ``clients`` threads, SIGKILL it once 200 decisions were
    answered; the ids of every 200 received (the kill must land mid-load)."""
    ok: list[str] = []
    started = threading.Event()
    threads = [
        threading.Thread(target=decide_until_gone, args=(url, ok, started)) for _ in range(clients)
    ]
    for t in threads:
        t.start()
    assert started.wait(10)
    while len(ok) < 200 and any(t.is_alive() for t in threads):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for t in threads:
        t.join(30)
    assert 0 < len(ok) < clients * PER_CLIENT, "the kill must land mid-load"
    return ok


def keys() -> tuple[ApiKey, ...]:
    return (
        ApiKey(hash_key(DECIDE_KEY), "decide", "tests"),
        ApiKey(hash_key(ADMIN_KEY), "admin", "monitoring"),
    )


@pytest.fixture(scope="module")
def aml_url() -> Iterator[str]:
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)}, api_keys=keys(), body_limit=64 * 1024
    )
    with running(config) as url:
        yield url


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """Releases 1 (cash threshold 1,000,000) and 2 (900,000); 1 is in production."""
    location = tmp_path / "store"
    store = Store.open(location)
    first = create_release(store, AML, actor=ACTOR)
    lowered = tmp_path / "lowered"
    shutil.copytree(AML.parent, lowered)
    rules = lowered / "rules.yaml"
    rules.write_text(rules.read_text().replace("amount_rub >= 1000000", "amount_rub >= 900000"))
    second = create_release(store, lowered / "pipeline.yaml", actor=ACTOR)
    assert (first.number, second.number) == (1, 2)
    store.set_stage(NAME, "production", 1, ACTOR)
    yield store, str(location)


def tampered_release(registry: Store, tmp_path: Path) -> tuple[Release, Path, bytes]:
    """Release 3 (cash threshold 800,000) with its stored rules file tampered with, so it
    fails verification: the release, the tampered artifact and its original bytes."""
    changed = tmp_path / "changed"
    shutil.copytree(AML.parent, changed)
    rules = changed / "rules.yaml"
    rules.write_text(rules.read_text().replace("amount_rub >= 1000000", "amount_rub >= 800000"))
    third = create_release(registry, changed / "pipeline.yaml", actor=ACTOR)
    artifact = registry.artifacts.path_of(third.manifest["files"]["rules.yaml"])  # type: ignore[attr-defined]
    original = artifact.read_bytes()
    artifact.chmod(0o644)
    artifact.write_bytes(original + b"\n# tampered\n")
    return third, artifact, original


@pytest.fixture
def client(aml_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=aml_url, headers={"Authorization": f"Bearer {DECIDE_KEY}"}, timeout=10
    ) as c:
        yield c
