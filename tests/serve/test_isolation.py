"""No request can hurt another: values the store cannot hold are refused at the door
(422 naming the field), and one record the store still refuses fails alone."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import read_decisions
from tests.serve.conftest import AML, running

CASH = {"id": "cash-hit", "day": "2025-03-01", "kind": "cash_in", "amount_rub": 1e6}
DECIDE = "/v1/pipelines/aml/decide"


def _deep(n: int) -> str:
    return "[" * n + "]" * n


HOSTILE = {  # raw JSON body → the field the 422 names (None: the whole body)
    '{"id": "a", "extra": "\\ud800"}': "extra",
    '{"id": "a", "extra": {"x": ["ok", "nul\\u0000"]}}': "extra.x[1]",
    '{"id": "a", "\\udfff": 1}': "\\udfff",
    '{"id": "a", "extra": ' + _deep(40) + "}": "extra" + "[0]" * 31,
    '{"id": "a", "extra": ' + _deep(10_000) + "}": None,
}
# JSON in UTF-16 and UTF-32, which the parser reads too: an escape there is no "\\u" byte pair
ENCODED = {
    '{"id": "a", "extra": "nul\\u0000"}'.encode("utf-16"): "extra",
    '{"id": "a", "x": {"\\ud800": 1}}'.encode("utf-32-le"): "x.\\ud800",
}


@pytest.fixture
def served(tmp_path: Path) -> ServeConfig:
    return ServeConfig(
        pipelines={"aml": PipelineFile(AML)},
        allow_anonymous=True,
        decision_log=str(tmp_path / "store"),
    )


def test_values_no_store_can_hold_are_refused_at_the_door(served: ServeConfig) -> None:
    with running(served) as url, httpx.Client(base_url=url, timeout=30) as client:
        for body, field in [*HOSTILE.items(), *ENCODED.items()]:
            r = client.post(DECIDE, content=body, headers={"content-type": "application/json"})
            assert r.status_code == 422, (body[:60], r.text)
            assert r.json()["code"] == "S422"
            assert [e["field"] for e in r.json()["errors"]] == [field], r.text
            assert "cannot be stored" in r.json()["errors"][0]["problem"]
        big = client.post(DECIDE, json={**CASH, "extra": 2**70})  # read as text: stored
        assert big.status_code == 200, big.text
        batch = client.post(
            "/v1/pipelines/aml/decide-batch",
            content='[{"id": "a"}, {"id": "b", "x": "\\ud800"}]',
            headers={"content-type": "application/json"},
        )
        assert batch.status_code == 422 and batch.json()["errors"][0]["field"] == "[1].x"
        assert client.get("/ready").status_code == 200
    assert served.decision_log is not None
    # refusals logged
    assert len(read_decisions(served.decision_log)) == len(HOSTILE) + len(ENCODED) + 2


def test_the_depth_limit_is_configurable(tmp_path: Path) -> None:
    config = ServeConfig(pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True, max_depth=3)
    with running(config) as url:
        ok = httpx.post(url + DECIDE, json={**CASH, "x": {"y": [1]}})
        deep = httpx.post(url + DECIDE, json={**CASH, "x": {"y": [[1]]}})
    assert ok.status_code == 200, ok.text
    assert deep.status_code == 422 and deep.json()["errors"][0]["field"] == "x.y[0]"


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_one_poison_request_among_4000_hurts_no_other(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    store = (
        str(tmp_path / "store") if database == "sqlite" else request.getfixturevalue("pg_database")
    )
    served = ServeConfig(
        pipelines={"aml": PipelineFile(AML)}, allow_anonymous=True, decision_log=store
    )
    poison_at = 1_717
    hostile = next(iter(HOSTILE))

    def send(client: httpx.Client, i: int) -> tuple[int, int]:
        if i == poison_at:
            headers = {"content-type": "application/json"}
            return i, client.post(DECIDE, content=hostile, headers=headers).status_code
        return i, client.post(DECIDE, json={**CASH, "id": str(i)}).status_code

    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    with (
        running(served) as url,
        httpx.Client(base_url=url, timeout=60, limits=limits) as client,
        ThreadPoolExecutor(16) as pool,
    ):
        statuses = dict(pool.map(lambda i: send(client, i), range(4_000)))
    assert statuses.pop(poison_at) == 422
    assert Counter(statuses.values()) == {200: 3_999}
    assert len(read_decisions(store)) == 4_000  # the refusal is logged as well


def test_a_batch_beyond_the_log_queue_is_refused_whole_before_logging(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    config = ServeConfig(
        pipelines={"aml": PipelineFile(AML)},
        allow_anonymous=True,
        decision_log=store,
        queue_size=16,
    )
    batch = [{**CASH, "id": str(i)} for i in range(17)]
    with running(config) as url, httpx.Client(base_url=url, timeout=30) as client:
        refused = client.post("/v1/pipelines/aml/decide-batch", json=batch)
        assert refused.status_code == 413, refused.text
        assert refused.json()["code"] == "S413" and "at once (16)" in refused.json()["message"]
        rows = read_decisions(store)
        assert [r["status"] for r in rows] == ["rejected"]  # the refusal only, no decision
        accepted = client.post("/v1/pipelines/aml/decide-batch", json=batch[:15])
        assert accepted.status_code == 200, accepted.text
    assert len(read_decisions(store)) == 1 + 15
