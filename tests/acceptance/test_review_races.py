"""Review: races between two intake runs, and between intake and the kill switch.

Interleavings are made deterministic with the fake's own ActionTrail stream: a subscriber sees
each RAM write as it happens (before rolepact gets the answer) and, once, does what a concurrent
actor would do at that moment — upload a new revision and let FC run its intake, or drop the
kill switch and let the enforcer tick. Everything still goes through the SDKs.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from conftest import (A, FC_ROLE_POLICIES, SEED_ID, SEED_KEY, attached, custom_policy_names, expected_policies,
                      make_stage, seed)

from shared.documents import guard_policy_name


def once_on_write(stage, event_name: str, action) -> list:
    """Run `action()` once, right after rolepact's first RAM write named `event_name`."""
    fired: list = []

    def deliver(account_id, event):
        if fired or account_id != A or event.get("eventName") != event_name or event.get("errorCode"):
            return
        if not str((event.get("userIdentity") or {}).get("userName", "")).startswith("rolepact-fc-role"):
            return
        fired.append(event)
        action()

    stage.cloud.trail.subscribe(deliver)
    return fired


def test_review_a_revision_uploaded_while_the_previous_one_is_applied_wins_alone(stage):
    """rev1 grants ECS full access and a custom policy; while its intake is half-way, rev2 (read-only)
    is uploaded and applied. The slower rev1 run must not leave RAM holding the union of both."""
    rev1 = seed()
    rev2 = seed(policies=[{"type": "System", "name": "AliyunECSReadOnlyAccess"}])
    fired = once_on_write(stage, "AttachPolicyToRole", lambda: stage.upload(SEED_KEY, rev2))
    stage.upload(SEED_KEY, rev1)
    assert fired

    guard = guard_policy_name(SEED_ID)
    assert attached(stage) == {("Custom", guard), ("System", "AliyunECSReadOnlyAccess")}
    assert custom_policy_names(stage) == FC_ROLE_POLICIES | expected_policies(SEED_ID)
    status = stage.status(SEED_ID)
    assert status["state"] == "active"
    assert '"AliyunECSReadOnlyAccess"' in status["agreementText"] and "ecs-restart-web" not in status["agreementText"]


def test_review_a_kill_switch_dropped_during_a_grant_still_ends_it(cloud):
    """The enforcer processes the kill switch while intake is granting (so the status is not yet
    active when the enforcer looks): the agreement must still end."""
    stage = make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])
    partner = seed()["partner"]["accountId"]

    def drop_and_tick():
        stage.upload(f"control/revoke-partner/{partner}", {"reason": "breach"}, deliver=False)
        assert stage.tick(datetime.now(timezone.utc) + timedelta(minutes=2))  # the enforcer runs now
        assert stage.read_json(f"state/kill-switch/{partner}.json")  # ... and marks the drop as handled

    fired = once_on_write(stage, "AttachPolicyToRole", drop_and_tick)
    stage.upload(SEED_KEY, seed())
    assert fired
    stage.tick(datetime.now(timezone.utc) + timedelta(minutes=3))  # the next minute
    assert stage.status(SEED_ID)["state"] == "ended"
    assert custom_policy_names(stage) == FC_ROLE_POLICIES
