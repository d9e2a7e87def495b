"""Hot promotion: a stage reference follows promote and rollback under load."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaskad.serve import ReleaseRef, ServeConfig, create_app
from kaskad.store import Store
from tests.serve.conftest import ACTOR, INPUTS, NAME, running, tampered_release

THREADS = 4
PER_THREAD = 150  # at least; a thread goes on (bounded) until it saw the switch settle
MAX_PER_THREAD = 1500


def _wait_ready(client: httpx.Client, release: str, timeout: float = 5.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ready").json()["pipelines"][NAME]["release"] == release:
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"/ready never showed {release}")


@pytest.mark.slow
def test_promotion_and_rollback_under_load(store: tuple[Store, str], tmp_path: Path) -> None:
    registry, location = store
    config = ServeConfig(
        pipelines={NAME: ReleaseRef(f"{NAME}@production", location, tmp_path / "cache", ACTOR)},
        allow_anonymous=True,
        promotion_poll_s=0.2,
    )
    with running(config, lifespan="on") as url, httpx.Client(base_url=url, timeout=10) as admin:
        assert admin.get("/ready").json()["pipelines"][NAME]["release"] == f"{NAME}@1"
        # what each input gets: the status never depends on the release
        expected = {
            item["id"]: admin.post(f"/v1/pipelines/{NAME}/decide", json=item).status_code
            for item in INPUTS
        }
        assert set(expected.values()) == {200, 422}

        done = threading.Semaphore(0)
        settled: list[float] = []  # when /ready first showed release 2
        results: list[list[tuple[float, float, int, Any]]] = [[] for _ in range(THREADS)]
        failures: list[str] = []

        def load(index: int) -> None:
            seen_after = 0
            with httpx.Client(base_url=url, timeout=10) as client:
                for i in range(MAX_PER_THREAD):
                    item = INPUTS[(i + index) % len(INPUTS)]
                    start = time.monotonic()
                    try:
                        response = client.post(f"/v1/pipelines/{NAME}/decide", json=item)
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                        continue
                    body = response.json()
                    if response.status_code != expected[item["id"]]:
                        failures.append(f"{item['id']}: {response.status_code} {body}")
                    results[index].append(
                        (start, time.monotonic(), response.status_code, (item["id"], body))
                    )
                    if i + 1 == PER_THREAD // 3:
                        done.release()
                    if settled and start > settled[0]:
                        seen_after += 1
                    if i + 1 >= PER_THREAD and seen_after >= 20:
                        break

        threads = [threading.Thread(target=load, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for _ in range(THREADS):  # every thread is a third of the way through
            assert done.acquire(timeout=30)
        promoted_at = time.monotonic()
        registry.set_stage(NAME, "production", 2, ACTOR)
        settled.append(_wait_ready(admin, f"{NAME}@2"))
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)

        assert failures == []
        for per_thread in results:
            assert len(per_thread) >= PER_THREAD
            releases = [body["release"] for *_, (_, body) in per_thread]
            # one switch per thread, never back: running requests keep their pipeline
            switch = releases.index(f"{NAME}@2")
            assert set(releases[:switch]) == {f"{NAME}@1"}
            assert set(releases[switch:]) == {f"{NAME}@2"}
            for start, end, _, (item_id, body) in per_thread:
                if end < promoted_at:
                    assert body["release"] == f"{NAME}@1"
                if start > settled[0]:
                    assert body["release"] == f"{NAME}@2"
                if item_id == "cash-just-below":  # 999,999.99 is a hit only for release 2
                    hit = body["release"] == f"{NAME}@2"
                    assert (body["decision"] == "report") is hit, body

        registry.rollback(NAME, "production", ACTOR)
        _wait_ready(admin, f"{NAME}@1")
        for item in INPUTS:
            response = admin.post(f"/v1/pipelines/{NAME}/decide", json=item)
            assert response.status_code == expected[item["id"]]
            assert response.json()["release"] == f"{NAME}@1"


def test_a_release_that_fails_verification_is_not_served(
    store: tuple[Store, str], tmp_path: Path
) -> None:
    registry, location = store
    third, artifact, original = tampered_release(registry, tmp_path)
    config = ServeConfig(
        pipelines={NAME: ReleaseRef(f"{NAME}@production", location, tmp_path / "cache", ACTOR)},
        allow_anonymous=True,
        promotion_poll_s=0,  # no thread: poll by hand
    )
    app = create_app(config)
    watcher = app.state.promotion
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        registry.set_stage(NAME, "production", third.number, ACTOR)
        watcher.poll()
        ready = client.get("/ready").json()["pipelines"][NAME]
        assert ready["release"] == f"{NAME}@1"
        assert f"{NAME}@production" in ready["promotion_error"]
        assert str(tmp_path) not in ready["promotion_error"]  # no paths without a key
        decided = client.post(f"/v1/pipelines/{NAME}/decide", json=INPUTS[0]).json()
        assert decided["release"] == f"{NAME}@1"

        artifact.write_bytes(original)  # repaired: the next poll serves release 3
        watcher.poll()
        ready = client.get("/ready").json()["pipelines"][NAME]
        assert ready == {"release": f"{NAME}@3", "plan_hash": third.plan_hash}
        decided = client.post(f"/v1/pipelines/{NAME}/decide", json=INPUTS[0]).json()
        assert decided["release"] == f"{NAME}@3"
