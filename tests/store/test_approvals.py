"""Four eyes in the store: a stage that requires approval takes only a release approved
by an identity other than its creator; approvals and policies are in the audit trail."""

from __future__ import annotations

import pytest

from kaskad.store import ApprovalError, NotFoundError, Store
from tests.store.test_store import add_release

CREATOR = "alice@host1 (as data science)"


def test_a_stage_without_policy_takes_any_release(store: Store) -> None:
    release = add_release(store, actor=CREATOR)
    assert not store.requires_approval("loan_decision", "production")
    store.set_stage("loan_decision", "production", release.number, actor=CREATOR)
    assert store.stages("loan_decision") == {"production": 1}


def test_promotion_needs_an_approval_by_another_identity(store: Store) -> None:
    release = add_release(store, actor=CREATOR)
    store.require_approval("loan_decision", "production", actor="bob@host2")
    assert store.requires_approval("loan_decision", "production")

    with pytest.raises(ApprovalError, match="requires approval") as refused:
        store.set_stage("loan_decision", "production", release.number, actor=CREATOR)
    assert refused.value.code == "K607"
    assert store.stages("loan_decision") == {}

    # the creator under another --actor is still the creator
    with pytest.raises(ApprovalError, match="its creator cannot approve it"):
        store.approve("loan_decision", 1, "production", actor="alice@host1 (as risk)")
    assert store.approvers("loan_decision", 1, "production") == []

    store.approve("loan_decision", 1, "production", actor="bob@host2 (as model risk)")
    assert store.approvers("loan_decision", 1, "production") == ["bob@host2"]
    # an approval is for one stage only
    store.require_approval("loan_decision", "shadow", actor="bob@host2")
    with pytest.raises(ApprovalError):
        store.set_stage("loan_decision", "shadow", 1, actor=CREATOR)

    store.set_stage("loan_decision", "production", 1, actor=CREATOR)
    assert store.stages("loan_decision") == {"production": 1}
    actions = [(e.action, e.actor) for e in store.audit_log()]
    assert ("release.approve", "bob@host2 (as model risk)") in actions
    assert ("stage.policy", "bob@host2") in actions
    assert store.verify_audit().ok


def test_the_policy_can_be_lifted(store: Store) -> None:
    release = add_release(store, actor=CREATOR)
    store.require_approval("loan_decision", "production", actor="bob@host2")
    store.require_approval("loan_decision", "production", actor="bob@host2", required=False)
    store.set_stage("loan_decision", "production", release.number, actor=CREATOR)
    assert store.stages("loan_decision") == {"production": 1}


def test_approving_a_missing_release_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.approve("loan_decision", 7, "production", actor="bob@host2")


def test_a_policy_for_an_unknown_pipeline_is_refused(store: Store) -> None:
    add_release(store, actor=CREATOR)
    with pytest.raises(NotFoundError, match="loan_decison has no releases") as refused:
        store.require_approval("loan_decison", "production", actor="bob@host2")
    assert "loan_decision" in str(refused.value)  # what exists, to correct the name
    assert not store.requires_approval("loan_decison", "production")
    assert [e.action for e in store.audit_log()].count("stage.policy") == 0
