"""The credit example released into a store and served with a decision log: what the
audit tests replay, explain, export and backtest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kaskad.registry.releases import create_release
from kaskad.serve import ReleaseRef, ServeConfig
from kaskad.store import Store
from tests.serve.conftest import running

ACTOR = "model-risk-officer"
NAME = "loan_decision"


@dataclass(frozen=True)
class Served:
    store: Store
    location: str
    cache: Path
    ids: list[str]
    records: list[dict[str, object]]


def applications(example_dir: Path, n: int) -> list[dict[str, object]]:
    lines = (example_dir / "data" / "applications.jsonl").read_text().splitlines()[:n]
    return [json.loads(line) for line in lines]


def serve_and_decide(
    store: Store, location: str, cache: Path, records: list[dict[str, object]]
) -> list[str]:
    """Serve ``loan_decision@production`` with a decision log in ``location``; POST every
    record to /decide; the decision ids of the 200s."""
    config = ServeConfig(
        pipelines={"credit": ReleaseRef(f"{NAME}@production", location, cache, ACTOR)},
        allow_anonymous=True,
        decision_log=location,
        unkeyed_masking=True,  # replay reads the sha256 form of sensitive fields
    )
    ids = []
    with running(config, lifespan="on") as url, httpx.Client(base_url=url, timeout=30) as client:
        for record in records:
            reply = client.post("/v1/pipelines/credit/decide", json=record)
            assert reply.status_code == 200, reply.text
            ids.append(reply.json()["decision_id"])
    return ids


@pytest.fixture
def released(example_dir: Path, tmp_path: Path) -> Iterator[tuple[Store, str, Path]]:
    location = str(tmp_path / "store")
    store = Store.open(location)
    release = create_release(store, example_dir / "pipeline.yaml", actor=ACTOR)
    store.set_stage(NAME, "production", release.number, ACTOR)
    yield store, location, tmp_path / "cache"
    store.close()


@pytest.fixture
def served_200(example_dir: Path, released: tuple[Store, str, Path]) -> Served:
    store, location, cache = released
    records = applications(example_dir, 200)
    return Served(
        store, location, cache, serve_and_decide(store, location, cache, records), records
    )
