"""Four eyes over HTTP: promotion to a stage that requires approval is refused (409,
K607) until a key with the approve role, another identity than the creator, approves."""

from __future__ import annotations

from pathlib import Path

import httpx

from kaskad.serve import ApiKey, ReleaseRef, ServeConfig, hash_key
from kaskad.store import Store
from tests.serve.conftest import ACTOR, ADMIN_KEY, DECIDE_KEY, NAME, keys, running

APPROVER_KEY = "approver-key-for-tests"


def test_promotion_waits_for_an_approver_key(store: tuple[Store, str], tmp_path: Path) -> None:
    registry, location = store
    registry.require_approval(NAME, "production", actor="risk-committee")
    config = ServeConfig(
        pipelines={"aml": ReleaseRef(f"{NAME}@production", location, tmp_path / "c", ACTOR)},
        api_keys=(*keys(), ApiKey(hash_key(APPROVER_KEY), "approve", "model-risk")),
        promotion_poll_s=0,
    )
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    approver = {"Authorization": f"Bearer {APPROVER_KEY}"}
    with running(config) as url, httpx.Client(base_url=url, timeout=10) as client:
        refused = client.post("/v1/pipelines/aml/promote", json={"release": 2}, headers=admin)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "S409" and "K607" in refused.text
        assert registry.stages(NAME) == {"production": 1}

        anonymous = client.post("/v1/pipelines/aml/approve", json={"release": 2})
        assert anonymous.status_code == 401
        decider = {"Authorization": f"Bearer {DECIDE_KEY}"}
        wrong_role = client.post("/v1/pipelines/aml/approve", json={"release": 2}, headers=decider)
        assert wrong_role.status_code == 403
        missing = client.post("/v1/pipelines/aml/approve", json={"release": 99}, headers=approver)
        assert missing.status_code == 422

        approved = client.post("/v1/pipelines/aml/approve", json={"release": 2}, headers=approver)
        assert approved.status_code == 200, approved.text
        assert approved.json() == {
            "pipeline": "aml",
            "stage": "production",
            "release": 2,
            "approvers": ["api-key:model-risk"],
        }
        promoted = client.post("/v1/pipelines/aml/promote", json={"release": 2}, headers=admin)
        assert promoted.status_code == 200, promoted.text
    assert registry.stages(NAME) == {"production": 2}
    entry = registry.audit_log(action="release.approve")[0]
    assert (entry.actor, entry.target) == ("api-key:model-risk", f"{NAME}@2")
