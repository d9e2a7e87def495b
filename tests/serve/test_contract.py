"""Contract test of the HTTP API against its own ``/openapi.json`` with schemathesis.

The credit example is served from a release stage of a temporary SQLite store (so
promote, rollback and approve really move the stage) with a decision log, on a live
server (uvicorn, in a thread). For every operation of the document, generated requests
(valid ones and ones that break the schema, with every role's key and without one) must
never get a 5xx and never a status the document does not list, with a body of the
documented content type and shape. Bounded and
deterministic: a few examples per operation, derandomized.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kaskad.registry.releases import create_release
from kaskad.serve import ApiKey, ReleaseRef, ServeConfig, hash_key
from kaskad.store import Store
from tests.serve.conftest import running

ADMIN_KEY = "admin-key-for-the-contract-test"
DECIDE_KEY = "decide-key-for-the-contract-test"
EXAMPLES = 10  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(example_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("contract")
    location = str(root / "store")
    with Store.open(location) as store:
        release = create_release(store, example_dir / "pipeline.yaml", actor="data-science")
        store.set_stage(release.pipeline, "production", release.number, "release-manager")
    keys = (
        ApiKey(hash_key(ADMIN_KEY), "admin", "operations"),
        ApiKey(hash_key(DECIDE_KEY), "decide", "scoring-gateway"),
    )
    config = ServeConfig(
        {"credit": ReleaseRef(f"{release.pipeline}@production", location, root / "cache")},
        api_keys=keys,
        decision_log=location,
        unkeyed_masking=True,
        promotion_poll_s=0,
    )
    with running(config) as url:
        yield url


def _operations(url: str) -> list[Any]:
    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in api.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_documented(served: str, mode: GenerationMode) -> None:
    operations = _operations(served)
    labels = {operation.label for operation in operations}
    assert {"POST /v1/pipelines/credit/promote", "POST /v1/pipelines/credit/approve"} <= labels
    checked: set[str] = set()
    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            for key in (ADMIN_KEY, DECIDE_KEY, None):  # every role, and no key at all
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                case.call_and_validate(base_url=served, headers=headers, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:  # negative mode: nothing to break in a call without input
            no_input = operation.method.upper() == "GET"
            assert mode == GenerationMode.NEGATIVE and no_input, operation.label
            continue
        checked.add(operation.label)
    assert {label for label in labels if label.startswith("POST")} <= checked
