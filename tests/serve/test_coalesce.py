"""Micro-batching: concurrent /decide requests decided together answer exactly what they
answer one by one (a shadow, a sensitive field, a failing step, bad bodies), every one is
logged on its own, and the batch sizes are in the metrics."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaskad.serve import PipelineFile, ServeConfig
from kaskad.serve.coalesce import Coalescer
from kaskad.serve.errors import ServeConfigError
from kaskad.store import read_decisions
from tests.execute.failing_pipeline import build
from tests.serve.conftest import ROOT, running

CLAIMS = ROOT / "tests" / "execute" / "lean" / "pipeline.yaml"
VOLATILE = ("decision_id", "duration_ms")


def _claims(n: int) -> list[Any]:
    out: list[Any] = []
    for i in range(n):
        record: dict[str, Any] = {
            "claim_id": f"C{i}",
            "incident": f"2025-0{1 + i % 9}-1{i % 10}",
            "holder": {"age": 18 + i % 60, "segment": ["fleet", "retail", None][i % 3]},
        }
        if i % 2:
            record |= {"amount": 1000.0 * i, "vehicles": 1 + i % 3, "night": i % 4 == 1}
        if i % 3 == 0:
            record["parts"] = [{"name": "glass", "kind": "glass", "cost": 10.0 * i}] * (i % 4)
        if i % 5 == 0:
            record["policy_code"] = "P123" if i % 10 else "bad"  # sensitive: masked, or 422
        out.append(record)
    out.append({"claim_id": "C-bad", "incident": "soon", "holder": {"age": 3}})  # rejected
    out.append([1, 2])  # not an object
    return out


def _config(tmp_path: Path, name: str, pipeline: Path, wait_ms: float) -> ServeConfig:
    return ServeConfig(
        pipelines={name: PipelineFile(pipeline)},
        allow_anonymous=True,
        decision_log=str(tmp_path / f"store-{wait_ms}"),
        unkeyed_masking=True,
        batch_wait_ms=wait_ms,
        max_batch=16,
        batch_threshold=2,  # batches of three or more go through the batch executor
    )


def _post(client: httpx.Client, url: str, record: Any) -> tuple[int, dict[str, Any]]:
    r = client.post(url, content=json.dumps(record), headers={"content-type": "application/json"})
    body = r.json()
    return r.status_code, {k: v for k, v in body.items() if k not in VOLATILE}


def _answers(config: ServeConfig, name: str, records: list[Any], threads: int) -> list[Any]:
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with (
        running(config) as base,
        httpx.Client(base_url=base, timeout=60, limits=limits) as client,
        ThreadPoolExecutor(threads) as pool,
    ):
        url = f"/v1/pipelines/{name}/decide"
        answers = list(pool.map(lambda r: _post(client, url, r), records))
        metrics = client.get("/metrics").text
    return [answers, metrics]


@pytest.mark.slow
def test_coalesced_answers_are_the_sequential_ones(tmp_path: Path) -> None:
    records = _claims(60)
    alone, _ = _answers(_config(tmp_path, "claims", CLAIMS, 0), "claims", records, 1)
    together, metrics = _answers(_config(tmp_path, "claims", CLAIMS, 50), "claims", records, 24)
    assert together == alone
    statuses = sorted({status for status, _ in alone})
    assert statuses == [200, 422]
    assert any("shadow.whole_v2.decision" in body for _, body in alone)
    # decided together: some batches held several requests
    count = _metric(metrics, "kaskad_decide_batch_size_count")
    total = _metric(metrics, "kaskad_decide_batch_size_sum")
    assert total == len(records) and count < total
    # each request is logged on its own, the sensitive field masked
    logged = read_decisions(str(tmp_path / "store-50"))
    assert len(logged) == len(records)
    inputs = [d["input"] for d in logged if isinstance(d["input"], dict)]
    masked = [i["policy_code"] for i in inputs if i.get("policy_code")]
    assert masked and "P123" not in masked


def test_a_failing_record_fails_alone_in_a_batch(tmp_path: Path) -> None:
    path = build(tmp_path / "p", pipeline_fallback=False)
    records: list[Any] = [{"id": str(i), "amount": 10.0 * i, "income": 2.0} for i in range(30)]
    for i in (3, 17):
        records[i] = {"id": f"no-income-{i}", "amount": 5.0}  # the step raises for it
    alone, _ = _answers(_config(tmp_path, "card", path, 0), "card", records, 1)
    together, _ = _answers(_config(tmp_path, "card", path, 50), "card", records, 16)
    assert together == alone
    assert [status for status, _ in together].count(500) == 2
    assert [status for status, _ in together].count(200) == 28


def _metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_the_batching_settings_are_checked() -> None:
    pipelines = {"claims": PipelineFile(CLAIMS)}
    assert ServeConfig(pipelines, allow_anonymous=True).batch_wait_ms == 1.0
    with pytest.raises(ServeConfigError, match="batch_wait_ms is -1"):
        ServeConfig(pipelines, allow_anonymous=True, batch_wait_ms=-1)
    with pytest.raises(ServeConfigError, match="max_batch is 0"):
        ServeConfig(pipelines, allow_anonymous=True, max_batch=0)


def test_the_coalescer_bounds_batches_and_keeps_outcomes_apart() -> None:
    sizes: list[int] = []

    async def run(pipeline: Any, items: list[int]) -> list[int | BaseException]:
        if pipeline == "broken":
            raise OSError("the whole call failed")
        await asyncio.sleep(0)
        return [ValueError(f"bad {i}") if i % 7 == 0 else i * 10 for i in items]

    async def main() -> tuple[list[Any], list[Any]]:
        coalescer: Coalescer[int, int] = Coalescer(0.05, 8, run, sizes.append)
        one = [coalescer.submit("p", i) for i in range(1, 21)]
        other = [coalescer.submit("broken", i) for i in range(3)]
        done = await asyncio.gather(*one, return_exceptions=True)
        failed = await asyncio.gather(*other, return_exceptions=True)
        return done, failed

    done, failed = asyncio.run(main())
    # the first of each pipeline finds it idle and runs alone; the rest gather behind it
    # in batches of at most 8
    assert sorted(sizes) == [1, 1, 2, 3, 8, 8]
    for i, outcome in zip(range(1, 21), done, strict=True):
        if i % 7 == 0:
            assert isinstance(outcome, ValueError) and str(outcome) == f"bad {i}"
        else:
            assert outcome == i * 10
    assert all(isinstance(f, OSError) for f in failed)


def test_a_lone_request_does_not_wait_and_a_busy_pipeline_batches() -> None:
    sizes: list[int] = []
    release = asyncio.Event()

    async def run(pipeline: Any, items: list[int]) -> list[int | BaseException]:
        if items == [0]:
            await release.wait()  # the first batch is still being decided
        return [i for i in items]

    async def main() -> tuple[float, list[int]]:
        coalescer: Coalescer[int, int] = Coalescer(30.0, 64, run, sizes.append)
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(coalescer.submit("p", 0))
        await asyncio.sleep(0)
        behind = [asyncio.ensure_future(coalescer.submit("p", i)) for i in range(1, 6)]
        await asyncio.sleep(0.01)
        assert sizes == [1]  # the first ran at once; the others wait for it, not 30 s
        started = loop.time()
        release.set()
        got = await asyncio.gather(first, *behind)
        alone = loop.time()
        await coalescer.submit("p", 9)  # idle again: runs at once
        return loop.time() - started + (loop.time() - alone), got

    waited, got = asyncio.run(main())
    assert got == [0, 1, 2, 3, 4, 5]
    assert sizes == [1, 5, 1]
    assert waited < 5.0  # far below the 30 s window: nothing waited for the timer
