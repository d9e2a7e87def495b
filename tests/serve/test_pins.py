"""``?release=N``: decide with a release other than the one served, verified the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaskad.serve import PipelineFile, ReleaseRef, ServeConfig
from kaskad.store import Store, read_decisions
from tests.serve.conftest import ACTOR, AML, INPUTS, NAME, running, tampered_release

JUST_BELOW = next(item for item in INPUTS if item["id"] == "cash-just-below")  # hit only in 2


@pytest.fixture
def served(store: tuple[Store, str], tmp_path: Path) -> Iterator[tuple[Store, httpx.Client]]:
    """``aml`` on the production stage (release 1) with a decision log; ``draft`` from its
    file."""
    registry, location = store
    config = ServeConfig(
        pipelines={
            "aml": ReleaseRef(f"{NAME}@production", location, tmp_path / "cache", ACTOR),
            "draft": PipelineFile(AML),
        },
        allow_anonymous=True,
        decision_log=str(tmp_path / "log"),
        promotion_poll_s=0,
    )
    with running(config) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield registry, client


def _decide(client: httpx.Client, query: str = "") -> dict[str, Any]:
    response = client.post(f"/v1/pipelines/aml/decide{query}", json=JUST_BELOW)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_pinned_release_decides_and_is_logged_as_itself(
    served: tuple[Store, httpx.Client], tmp_path: Path
) -> None:
    _, client = served
    default = _decide(client)
    pinned = _decide(client, "?release=2")
    again = _decide(client, f"?release={NAME}@2")
    assert default["release"] == f"{NAME}@1" and default["decision"] == "clear"
    assert pinned["release"] == again["release"] == f"{NAME}@2"
    assert pinned["decision"] == "report"  # release 2 lowered the cash threshold
    assert pinned["plan_hash"] != default["plan_hash"]
    batch = client.post("/v1/pipelines/aml/decide-batch?release=2", json=[JUST_BELOW] * 3)
    assert [item["release"] for item in batch.json()] == [f"{NAME}@2"] * 3
    assert _decide(client)["release"] == f"{NAME}@1"  # the served release is unchanged

    rows = {r["decision_id"]: r for r in read_decisions(str(tmp_path / "log"))}
    assert rows[pinned["decision_id"]]["release"] == f"{NAME}@2"
    assert rows[pinned["decision_id"]]["plan_hash"] == pinned["plan_hash"]
    assert rows[default["decision_id"]]["release"] == f"{NAME}@1"


def test_pins_that_cannot_be_served(served: tuple[Store, httpx.Client], tmp_path: Path) -> None:
    registry, client = served
    cases = {
        "/v1/pipelines/aml/decide?release=9": (404, "S404", f"{NAME}@9"),
        "/v1/pipelines/aml/decide?release=latest": (422, "S422", "release number"),
        "/v1/pipelines/draft/decide?release=1": (409, "S409", "served from its file"),
        # beyond what the store's 64-bit column holds, and digits that are not ASCII
        f"/v1/pipelines/aml/decide?release={2**64}": (422, "S422", "release number"),
        "/v1/pipelines/aml/decide?release=" + "9" * 5000: (422, "S422", "release number"),
        "/v1/pipelines/aml/decide?release=%C2%B2": (422, "S422", "release number"),
    }
    for path, (status, code, text) in cases.items():
        response = client.post(path, json=JUST_BELOW)
        assert response.status_code == status, (path, response.text)
        assert response.json()["code"] == code and text in response.json()["message"]

    third, _, _ = tampered_release(registry, tmp_path)
    response = client.post(f"/v1/pipelines/aml/decide?release={third.number}", json=JUST_BELOW)
    assert response.status_code == 409, response.text
    assert "cannot be served" in response.json()["message"]
    assert "rules.yaml" in response.json()["message"]
    assert str(tmp_path) not in response.text  # no absolute store or cache paths
