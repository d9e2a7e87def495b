"""Promote and rollback over HTTP: the admin role moves the served stage, served at once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaskad.registry.releases import LoadedRelease, create_release, load_release
from kaskad.serve import PipelineFile, ReleaseRef, ServeConfig, create_app, promotion
from kaskad.store import Store
from tests.serve.conftest import (
    ACTOR,
    ADMIN_KEY,
    AML,
    DECIDE_KEY,
    INPUTS,
    NAME,
    keys,
    running,
    tampered_release,
)

JUST_BELOW = next(item for item in INPUTS if item["id"] == "cash-just-below")  # hit only in 2
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
DECIDE = {"Authorization": f"Bearer {DECIDE_KEY}"}


@pytest.fixture
def served(store: tuple[Store, str], tmp_path: Path) -> Iterator[tuple[Store, httpx.Client]]:
    """A server with ``aml`` on the production stage (polled only once a minute: a switch
    seen in a test is the endpoint's own), ``pinned`` on release 1 and ``draft`` from its
    file; and a client without a key."""
    registry, location = store
    cache = tmp_path / "cache"
    config = ServeConfig(
        pipelines={
            "aml": ReleaseRef(f"{NAME}@production", location, cache, ACTOR),
            "pinned": ReleaseRef(f"{NAME}@1", location, cache, ACTOR),
            "draft": PipelineFile(AML),
        },
        api_keys=keys(),
        promotion_poll_s=60,
    )
    with running(config, lifespan="on") as url, httpx.Client(base_url=url, timeout=10) as client:
        yield registry, client


def _served(client: httpx.Client) -> dict[str, Any]:
    ready: dict[str, Any] = client.get("/ready").json()["pipelines"]["aml"]
    return ready


def _decide(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/v1/pipelines/aml/decide", json=JUST_BELOW, headers=DECIDE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.slow
def test_promote_then_rollback(served: tuple[Store, httpx.Client]) -> None:
    registry, client = served
    assert _decide(client)["release"] == f"{NAME}@1"
    assert _decide(client)["decision"] != "report"

    response = client.post("/v1/pipelines/aml/promote", json={"release": 2}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "pipeline": "aml",
        "stage": "production",
        "release": f"{NAME}@2",
        "previous": f"{NAME}@1",
    }
    assert _served(client)["release"] == f"{NAME}@2"
    decided = _decide(client)
    assert (decided["release"], decided["decision"]) == (f"{NAME}@2", "report")
    assert registry.stages(NAME) == {"production": 2}
    move = registry.stage_history(NAME)[-1]
    assert (move.action, move.actor, move.to_release) == ("promote", "api-key:monitoring", 2)

    response = client.post(
        "/v1/pipelines/aml/rollback", json={"stage": "production"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "pipeline": "aml",
        "stage": "production",
        "release": f"{NAME}@1",
        "previous": f"{NAME}@2",
    }
    assert _served(client)["release"] == f"{NAME}@1"
    assert _decide(client)["release"] == f"{NAME}@1"
    move = registry.stage_history(NAME)[-1]
    assert (move.action, move.actor, move.to_release) == ("rollback", "api-key:monitoring", 1)

    # nothing before release 1: refused, nothing moves (an empty body is fine)
    response = client.post("/v1/pipelines/aml/rollback", headers=ADMIN)
    assert response.status_code == 409
    assert response.json()["code"] == "S409"
    assert "cannot roll back" in response.json()["message"]
    assert registry.stages(NAME) == {"production": 1}


@pytest.mark.slow
def test_only_the_admin_role_moves_a_stage(served: tuple[Store, httpx.Client]) -> None:
    registry, client = served
    history = registry.stage_history(NAME)
    for headers, status in (
        (DECIDE, 403),
        ({}, 401),
        ({"Authorization": "Bearer not-a-key"}, 401),
    ):
        for endpoint in ("promote", "rollback"):
            response = client.post(
                f"/v1/pipelines/aml/{endpoint}", json={"release": 2}, headers=headers
            )
            assert response.status_code == status, (headers, endpoint, response.text)
            assert response.json()["code"] == f"S{status}"
    assert registry.stage_history(NAME) == history
    assert registry.stages(NAME) == {"production": 1}
    assert _served(client)["release"] == f"{NAME}@1"


@pytest.mark.slow
def test_refusals(served: tuple[Store, httpx.Client]) -> None:
    registry, client = served
    history = registry.stage_history(NAME)

    def promote(name: str, body: Any) -> tuple[int, dict[str, Any]]:
        response = client.post(f"/v1/pipelines/{name}/promote", json=body, headers=ADMIN)
        return response.status_code, response.json()

    status, body = promote("nope", {"release": 2})
    assert (status, body["code"]) == (404, "S404")
    assert "aml" in body["message"]

    status, body = promote("draft", {"release": 2})
    assert (status, body["code"]) == (409, "S409")
    assert "served from its file" in body["message"]

    status, body = promote("pinned", {"release": 2})
    assert (status, body["code"]) == (409, "S409")
    assert f"{NAME}@1, a fixed release" in body["message"]

    status, body = promote("aml", {"release": 2, "stage": "shadow"})
    assert (status, body["code"]) == (409, "S409")
    assert "'shadow'" in body["message"]

    status, body = promote("aml", {"release": 9})
    assert (status, body["code"]) == (422, "S422")
    assert f"{NAME} has no release 9; releases: 1, 2" in body["message"]
    assert [e["field"] for e in body["errors"]] == ["release"]

    for bad, field in (
        ({}, "release"),
        ({"release": "2"}, "release"),
        ({"release": 0}, "release"),
        ({"release": True}, "release"),
        ({"release": 2, "stag": "production"}, "stag"),
        ([2], None),
    ):
        status, body = promote("aml", bad)
        assert (status, body["code"]) == (422, "S422"), bad
        assert [e["field"] for e in body.get("errors", [{"field": None}])] == [field], body

    for digits in (str(2**64), "9" * 5000):  # beyond the store's 64-bit column
        response = client.post(
            "/v1/pipelines/aml/promote",
            content=b'{"release": ' + digits.encode() + b"}",
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        assert (response.status_code, response.json()["code"]) == (422, "S422")
        errors = response.json()["errors"]
        assert [e["field"] for e in errors] == ["release"]
        assert "release numbers go up to 9223372036854775807" in errors[0]["problem"]

    response = client.post(
        "/v1/pipelines/aml/promote",
        content=b"{not json",
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "S422")

    assert registry.stage_history(NAME) == history
    assert _served(client)["release"] == f"{NAME}@1"


@pytest.mark.slow
def test_a_release_that_fails_verification_is_refused_and_the_stage_stays(
    served: tuple[Store, httpx.Client], tmp_path: Path
) -> None:
    registry, client = served
    third, _, _ = tampered_release(registry, tmp_path)
    response = client.post(
        "/v1/pipelines/aml/promote", json={"release": third.number}, headers=ADMIN
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "S409"
    assert f"{NAME}@{third.number} cannot be served" in body["message"]
    assert "rules.yaml" in body["message"]  # the verification problem
    assert registry.stages(NAME) == {"production": 1}
    assert _served(client)["release"] == f"{NAME}@1"
    assert _decide(client)["release"] == f"{NAME}@1"


@pytest.mark.slow
def test_a_stage_moved_to_an_unservable_release_keeps_the_old_one(
    served: tuple[Store, httpx.Client], tmp_path: Path
) -> None:
    """Moved behind the server's back (e.g. in the store), then rolled back over HTTP."""
    registry, client = served
    third, _, _ = tampered_release(registry, tmp_path)
    registry.set_stage(NAME, "production", third.number, ACTOR)
    response = client.post("/v1/pipelines/aml/rollback", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["release"] == f"{NAME}@1"
    assert registry.stages(NAME) == {"production": 1}
    assert "promotion_error" not in _served(client)


def test_anonymous_callers_may_decide_but_never_move_a_stage(
    store: tuple[Store, str], tmp_path: Path
) -> None:
    registry, location = store
    config = ServeConfig(
        pipelines={"aml": ReleaseRef(f"{NAME}@production", location, tmp_path / "c", ACTOR)},
        allow_anonymous=True,
        promotion_poll_s=0,
    )
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as client:
        for action, body in (("promote", {"release": 2}), ("rollback", {})):
            response = client.post(f"/v1/pipelines/aml/{action}", json=body)
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "S401"
            assert "anonymous callers may only decide" in response.text
        assert _served(client)["release"] == f"{NAME}@1"
    assert registry.stages(NAME) == {"production": 1}


def test_a_refresh_and_polls_load_a_release_once(
    store: tuple[Store, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, location = store
    config = ServeConfig(
        pipelines={"aml": ReleaseRef(f"{NAME}@production", location, tmp_path / "c", ACTOR)},
        allow_anonymous=True,
        promotion_poll_s=0,
    )
    watcher = create_app(config).state.promotion
    loads: list[str] = []

    def counted(store: Store, ref: str, **kwargs: Any) -> LoadedRelease:
        loads.append(ref)
        return load_release(store, ref, **kwargs)

    monkeypatch.setattr(promotion, "load_release", counted)
    registry.set_stage(NAME, "production", 2, ACTOR)
    threads = [threading.Thread(target=watcher.poll) for _ in range(3)]
    threads.append(threading.Thread(target=watcher.refresh, args=("aml",)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert loads == [f"{NAME}@2"]
    assert watcher.refresh("aml").release == f"{NAME}@2"


@pytest.mark.slow
def test_openapi_describes_the_release_served_after_a_promotion(
    served: tuple[Store, httpx.Client], tmp_path: Path
) -> None:
    registry, client = served
    widened = tmp_path / "widened"
    shutil.copytree(AML.parent, widened)
    schema = widened / "schema.yaml"
    schema.write_text(schema.read_text() + "  branch_code: string\n")
    third = create_release(registry, widened / "pipeline.yaml", actor=ACTOR)

    def fields() -> set[str]:
        document = client.get("/openapi.json").json()
        return set(document["components"]["schemas"]["amlInput"]["properties"])

    assert "branch_code" not in fields()
    response = client.post(
        "/v1/pipelines/aml/promote", json={"release": third.number}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert "branch_code" in fields()
