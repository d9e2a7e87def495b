"""A real server for the serving tests: uvicorn in a background thread on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from uvicorn.config import LifespanType

from kaskad.serve import ApiKey, PipelineFile, ServeConfig, create_app, hash_key

ROOT = Path(__file__).resolve().parents[2]
AML = ROOT / "tests" / "execute" / "golden" / "aml_unknowns" / "pipeline.yaml"
DECIDE_KEY = "decide-key-for-tests"
ADMIN_KEY = "admin-key-for-tests"


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


def start_server(store: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """``python -m kaskad.cli.serve`` serving the AML pipeline on ``store``, once ready."""
    command = [sys.executable, "-m", "kaskad.cli.serve", f"aml={AML}", "--port", str(port)]
    command += ["--store", str(store), "--allow-anonymous", "--log-level", "warning", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = store.parent / "server.log"
    with log.open("ab") as errors:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


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
def client(aml_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=aml_url, headers={"Authorization": f"Bearer {DECIDE_KEY}"}, timeout=10
    ) as c:
        yield c
