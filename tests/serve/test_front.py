"""The decide requests' short way (kaskad.serve.front) answers exactly as the app's routes
do: the same requests, hostile ones included, sent to a server with it and to one without
it (the same app with the middleware removed) give the same status, content type and
body, apart from the per-decision id, duration and error id."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.middleware import Middleware

from kaskad.serve import PipelineFile, ServeConfig, create_app
from kaskad.serve.front import DecideFront

from .conftest import AML, DECIDE_KEY, INPUTS, _free_port, keys, running

VARYING = ("decision_id", "duration_ms", "error_id")
AUTH = {"Authorization": f"Bearer {DECIDE_KEY}"}
JSON = {**AUTH, "Content-Type": "application/json"}
RECORD = json.dumps(INPUTS[0]).encode()
EXPECTED_DECISION = json.loads((AML.parent / "expected.jsonl").read_text().splitlines()[0])[
    "decision"
]

# (method, path, headers, body)
CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("POST", "/v1/pipelines/aml/decide", JSON, RECORD),
    ("POST", "/v1/pipelines/aml/decide-batch", JSON, json.dumps(INPUTS[:3]).encode()),
    ("POST", "/v1/pipelines/aml/decide", JSON, b'{"amount": "lots"}'),
    ("POST", "/v1/pipelines/aml/decide", JSON, b'{"amount": '),
    ("POST", "/v1/pipelines/aml/decide", JSON, b"[" * 5000 + b"]" * 5000),
    ("POST", "/v1/pipelines/aml/decide", {**AUTH, "Content-Type": "text/csv"}, RECORD),
    ("POST", "/v1/pipelines/aml/decide", JSON, b" " * (70 * 1024)),
    ("POST", "/v1/pipelines/aml/decide", {"Content-Type": "application/json"}, RECORD),
    ("POST", "/v1/pipelines/aml/decide", {**JSON, "Authorization": "Bearer wrong"}, RECORD),
    ("POST", "/v1/pipelines/nope/decide", JSON, RECORD),
    ("POST", "/v1/pipelines/a%6Dl/decide", JSON, RECORD),  # the decoded name is 'aml'
    ("POST", "/v1/pipelines/a%2Fml/decide", JSON, RECORD),  # an encoded slash: no route
    ("POST", "/v1/pipelines/aml/decide?release=abc", JSON, RECORD),
    ("GET", "/v1/pipelines/aml/decide", AUTH, b""),
    ("PUT", "/v1/pipelines/aml/decide-batch", JSON, RECORD),
    ("POST", "/v1/pipelines/aml/decide/", JSON, RECORD),  # the router redirects it
    ("POST", "/v1/pipelines//decide", JSON, RECORD),
    ("POST", "/v1/pipelines/aml/decide-more", JSON, RECORD),
]


def _config() -> ServeConfig:
    return ServeConfig(pipelines={"aml": PipelineFile(AML)}, api_keys=keys(), body_limit=64 * 1024)


def _without_front(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not DecideFront]
    return app


@pytest.fixture(scope="module")
def urls() -> Iterator[tuple[str, str]]:
    with running(_config()) as short, running(_without_front(create_app(_config()))) as routed:
        yield short, routed


def _answer(url: str, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
    with httpx.Client(base_url=url, timeout=10, follow_redirects=False) as client:
        r = client.request(method, path, headers=headers, content=body or None)
    kind = r.headers.get("content-type", "")
    payload: Any = r.text
    if kind.startswith("application/json"):
        payload = r.json()
        for item in payload if isinstance(payload, list) else [payload]:
            for name in VARYING:
                item.pop(name, None)
    location = r.headers.get("location", "").split("://", 1)[-1].partition("/")[2]
    named = {h: r.headers.get(h) for h in ("allow", "www-authenticate", "retry-after")}
    return r.status_code, kind, named, location, payload


@pytest.mark.parametrize(("method", "path", "headers", "body"), CASES)
def test_the_short_way_answers_as_the_routes_do(
    urls: tuple[str, str], method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    short, routed = urls
    assert _answer(short, method, path, headers, body) == _answer(
        routed, method, path, headers, body
    )


def _spied(app: FastAPI) -> list[str]:
    """The paths of the requests that get past the short way into the app (filled as they
    do): a probe placed as the innermost middleware, in front of the router."""
    reached: list[str] = []

    class Probe:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                reached.append(scope["path"])
            await self.app(scope, receive, send)

    app.user_middleware.append(Middleware(Probe))
    return reached


@contextmanager
def _served(app: FastAPI, root_path: str = "") -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            root_path=root_path,
            log_level="warning",
            lifespan="off",
            ws="none",
            http="h11",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("root_path", ["", "/kaskad"])
def test_the_short_way_takes_the_decide_requests(root_path: str) -> None:
    """The routes are not reached for a decide, also behind a proxy that strips a prefix
    (uvicorn's root_path: the app sees it in front of the path, as the router does)."""
    app = create_app(_config())
    reached = _spied(app)
    with _served(app, root_path) as url:
        one = httpx.post(f"{url}/v1/pipelines/aml/decide", content=RECORD, headers=JSON)
        slash = httpx.post(f"{url}/v1/pipelines/aml/decide/", content=RECORD, headers=JSON)
    assert one.status_code == 200, one.text
    assert one.json()["decision"] == EXPECTED_DECISION
    assert slash.status_code == 307  # not taken: the router redirects it, as without
    assert reached == [f"{root_path}/v1/pipelines/aml/decide/"]


def test_without_the_short_way_the_routes_decide() -> None:
    """What the comparison above runs against: the app's own routes."""
    app = _without_front(create_app(_config()))
    reached = _spied(app)
    with _served(app) as url:
        r = httpx.post(f"{url}/v1/pipelines/aml/decide", content=RECORD, headers=JSON)
    assert r.status_code == 200 and r.json()["decision"] == EXPECTED_DECISION
    assert reached == ["/v1/pipelines/aml/decide"]


def test_an_unexpected_error_is_a_500_problem_with_an_error_id() -> None:
    app = create_app(_config())

    async def broken(*args: Any) -> Any:
        raise RuntimeError("a defect")

    app.state.service.handle = broken
    with _served(app) as url:
        r = httpx.post(f"{url}/v1/pipelines/aml/decide", content=RECORD, headers=JSON)
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "S500" and "a defect" not in r.text and len(body["error_id"]) == 16
