"""A real server for the serving tests: uvicorn in a background thread on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

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
def running(config: ServeConfig) -> Iterator[str]:
    """The base URL of a live server for ``config``; stopped on exit."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
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
