"""A server whose models' trees get compiled to machine code while it serves: every answer,
before, during and after the compile, is the library-only pipeline's, and every decision is
logged. The pipeline is unlike the example: a random-forest severity model cascaded into a
LightGBM multiclass triage with a categorical split, missing values everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import kaskad.models.kernels as kernels
from kaskad import BatchExecutor, compile_pipeline
from kaskad.execute.loaded import Loaded
from kaskad.models.kernels import KernelAdapter, native
from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import read_decisions
from tests.models.test_kernels_pipeline import _claims, build
from tests.serve.conftest import running

FIELDS = ("decision", "severity", "p_fast", "p_review")


@pytest.fixture
def fresh_verdicts() -> Iterator[None]:
    """New verdicts and compile slots for the test's models, dropped after it: no other
    test's compiled trees here, and none of this test's (small stages) elsewhere."""
    kernels.forget()
    yield
    kernels.forget()


@pytest.mark.usefixtures("fresh_verdicts")
def test_answers_keep_the_library_s_bits_while_the_trees_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "STAGES", ((60, 0), (150, 2)))  # compile within the test
    pipeline = build(tmp_path / "kernels")
    library = compile_pipeline(build(tmp_path / "library", kernel="library"))
    frame = _claims(400, 11)
    want = BatchExecutor(library).run(frame).select("claim_id", *FIELDS).to_dicts()
    records = frame.to_dicts()
    config = ServeConfig(
        pipelines={"claims": PipelineFile(pipeline)},
        allow_anonymous=True,
        decision_log=str(tmp_path / "store"),
    )

    def post(client: httpx.Client, record: dict[str, Any]) -> dict[str, Any]:
        r = client.post("/v1/pipelines/claims/decide", json=record)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    with (
        running(config) as base,
        httpx.Client(base_url=base, timeout=60, limits=limits) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        # the first wave crosses both stages: the compiles start and land while it runs
        first = list(pool.map(lambda r: post(client, r), records))
        plan = compile_pipeline(pipeline)
        slots = []
        for node in plan.model_nodes():
            adapter = Loaded(plan).model(node)
            assert isinstance(adapter, KernelAdapter) and adapter.native is not None
            slots.append(adapter.native)
        assert all(slot.started for slot in slots)
        assert all(slot.wait(120) is not None for slot in slots), [s.reason for s in slots]
        assert all(slot.level == 2 for slot in slots)
        second = list(pool.map(lambda r: post(client, r), records))  # all on machine code
    for answers in (first, second):
        for got, expected in zip(answers, want, strict=True):
            assert got["claim_id"] == expected["claim_id"]
            for field in FIELDS:
                assert got[field] == expected[field], (expected["claim_id"], field)
    logged = {row["decision_id"]: row for row in read_decisions(str(tmp_path / "store"))}
    assert len(logged) == 2 * len(records)
    for got in first + second:  # each logged as answered
        output = logged[got["decision_id"]]["output"]
        assert [output[f] for f in FIELDS] == [got[f] for f in FIELDS]
