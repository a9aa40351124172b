"""Review: "never half-grants". A first grant that fails half-way (RAM throttling past every retry,
or a dead instance) must not leave the partner a role that nothing will ever take away."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from conftest import (FC_ROLE_POLICIES, FC_ROLES, SEED_ID, SEED_KEY, attached, custom_policy_names, get_role,
                      invoke, make_stage, oss_event, role_names, seed)

from shared.documents import custom_policy_name


def _half_granted(stage) -> None:
    """The seed is uploaded while RAM throttles its third attachment (the system policy) for good:
    FC retries intake, every attempt fails, the custom permission policy is attached already."""
    stage.cloud.faults.fail("AttachPolicyToRole", service="ram", nth=3, times=10_000, code="Throttling.User")
    stage.upload(SEED_KEY, seed())
    assert stage.status(SEED_ID)["state"] == "failed"
    assert ("Custom", custom_policy_name(SEED_ID, "ecs-restart-web")) in attached(stage)  # the half grant
    stage.cloud.faults.clear()


def test_review_deleting_the_file_of_a_failed_first_grant_removes_what_was_granted(stage):
    _half_granted(stage)
    stage.delete(SEED_KEY)
    assert get_role(stage) is None
    assert role_names(stage) == FC_ROLES
    assert custom_policy_names(stage) == FC_ROLE_POLICIES


def test_review_a_refused_retry_of_a_failed_first_grant_removes_what_was_granted(stage):
    """The same file, now refused (here: the partner was banned by the kill switch meanwhile)."""
    _half_granted(stage)
    stage.upload(f"control/revoke-partner/{seed()['partner']['accountId']}", {"reason": "breach"})
    invoke(stage, oss_event(stage, SEED_KEY))  # a redelivery of the upload's event
    assert stage.status(SEED_ID)["state"] == "rejected"
    assert get_role(stage) is None
    assert custom_policy_names(stage) == FC_ROLE_POLICIES


def test_review_a_crash_mid_grant_then_deletion_leaves_nothing(stage):
    """The instance dies after attaching the first permission; the file is deleted before FC's retry."""
    stage.cloud.faults.crash_after("AttachPolicyToRole", service="ram", nth=2)
    stage.upload(SEED_KEY, seed(), deliver=False)
    stage.fc.run_pending(max_rounds=1)  # the first attempt dies; FC's retry is queued
    assert ("Custom", custom_policy_name(SEED_ID, "ecs-restart-web")) in attached(stage)
    stage.delete(SEED_KEY)  # the retry and the removal event run now: the file is gone
    assert get_role(stage) is None
    assert custom_policy_names(stage) == FC_ROLE_POLICIES


def test_review_the_kill_switch_also_ends_a_failed_first_grant(cloud):
    """The emergency brake must stop everything of the partner, including a grant that failed half-way
    (its status is `failed`, not `active`)."""
    stage = make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])
    _half_granted(stage)
    stage.upload(f"control/revoke-partner/{seed()['partner']['accountId']}", {"reason": "breach"})
    assert stage.tick(datetime.now(timezone.utc) + timedelta(minutes=2))  # the enforcer's next minute
    assert get_role(stage) is None
    assert custom_policy_names(stage) == FC_ROLE_POLICIES
