"""Issue #5, seed end to end: provision -> Alice works -> the guard denies at expiresAt -> the next
enforcer tick ends the agreement per onExpiry -> AssumeRole denied -> status, notice, ActionTrail."""
from __future__ import annotations

from datetime import timedelta

import pytest
from timer_support import (A, FC_ROLE, SEED_ID, SEED_ROLE, T0, assume, attached, describe_instance,  # noqa: F401
                           clock, fake, get_role, invocations, leftovers, partner_user, provision, refused,
                           rolepact_policies, seed_agreement, seed_instance, stage, start_instance, stop_instance,
                           tick_at, titled, trail_events, trust_of)

from shared.documents import closed_trust_policy, guard_policy_name


@pytest.mark.parametrize("mode", ["delete-role", "remove-trust"])
def test_seed_end_to_end_at_expiry(stage, clock, mode):
    expires = T0 + timedelta(hours=3)
    instance = seed_instance(stage)
    provision(stage, seed_agreement(expires=expires, on_expiry=mode))
    assert rolepact_policies(SEED_ID) <= leftovers(stage)[1]

    # Alice (company-b) assumes the role and works on A's ECS
    alice = partner_user(stage, "alice")
    session = assume(stage, alice)
    assert describe_instance(session, instance).status == "Running"
    stop_instance(session, instance)
    tick_at(stage, clock, T0 + timedelta(hours=1, minutes=1))  # ordinary ticks change nothing
    assert get_role(stage, SEED_ROLE) is not None
    clock.move_to(expires - timedelta(minutes=10))  # a fresh session shortly before the end
    session = assume(stage, alice)
    start_instance(session, instance)

    # at expiresAt, before any tick: her existing session is denied by the guard policy
    clock.move_to(expires)
    refused(lambda: stop_instance(session, instance), "Forbidden.RAM")
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")
    late = assume(stage, alice)  # the trust policy names no window: a new session is refused by the guard too
    refused(lambda: describe_instance(late, instance), "Forbidden.RAM")
    assert stage.status(SEED_ID)["state"] == "active"  # nothing ran yet: RAM alone denied

    # the next enforcer tick ends it
    ticks_before = len(invocations(stage, "expiry_enforcer"))
    tick_at(stage, clock, expires + timedelta(seconds=40))
    assert len(invocations(stage, "expiry_enforcer", ok=True)) == ticks_before + 1
    roles, policies = leftovers(stage)
    if mode == "delete-role":
        assert get_role(stage, SEED_ROLE) is None
        assert roles == set() and policies == set()
        refused(lambda: assume(stage, alice), "EntityNotExist.Role")
    else:
        assert roles == {SEED_ROLE}
        trust = trust_of(stage, SEED_ROLE)
        assert trust == closed_trust_policy(A)  # valid, only the owner account
        assert attached(stage, SEED_ROLE) == {("Custom", guard_policy_name(SEED_ID))}  # only the Deny guard
        assert policies == {guard_policy_name(SEED_ID)}
        refused(lambda: assume(stage, alice))
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")

    status = stage.status(SEED_ID)
    assert status["state"] == "ended"
    assert status["ended"]["reason"] == "expired"
    removed = status["ended"]["removed"]
    assert any("DetachPolicyFromRole" in r and "AliyunECSFullAccess" in r for r in removed)
    if mode == "delete-role":
        assert any(r.startswith("ram:DeleteRole") for r in removed)
        assert any(r.startswith("ram:DeletePolicy") and guard_policy_name(SEED_ID) in r for r in removed)
    else:
        assert any(r.startswith("ram:UpdateRole") and "NewAssumeRolePolicyDocument" in r for r in removed)
        assert not any(r.startswith("ram:DeleteRole") for r in removed)
    assert status["ended"]["at"] >= status["expiresAt"]

    [notice] = titled(stage, f"Agreement {SEED_ID} expired")
    assert "expired" in notice["text"] and SEED_ROLE in notice["text"]

    # A's ActionTrail (RAM events are global: looked up in cn-hangzhou) shows rolepact's calls
    window = (T0, expires + timedelta(minutes=5))
    detaches = trail_events(stage, stage.owner, "DetachPolicyFromRole", *window)
    assert detaches, "no DetachPolicyFromRole in ActionTrail"
    for event in detaches:
        identity = event["userIdentity"]
        assert identity["type"] == "assumed-role" and identity["accountId"] == A
        assert identity["userName"].startswith(f"{FC_ROLE}:")  # the FC service role's session
    if mode == "delete-role":
        [delete] = [e for e in trail_events(stage, stage.owner, "DeleteRole", *window)
                    if SEED_ROLE in str(e.get("requestParameters") or e)]
        assert delete["userIdentity"]["type"] == "assumed-role"
        assert delete["userIdentity"]["userName"].startswith(f"{FC_ROLE}:")
    else:
        updates = trail_events(stage, stage.owner, "UpdateRole", *window)
        assert updates and all(e["userIdentity"]["type"] == "assumed-role" for e in updates)

    # later ticks do nothing more
    writes = stage.cloud.calls.count(service="ram", write=True)
    for minutes in (2, 3, 70):
        tick_at(stage, clock, expires + timedelta(minutes=minutes))
    assert stage.cloud.calls.count(service="ram", write=True) == writes
    assert len(titled(stage, f"Agreement {SEED_ID} expired")) == 1
