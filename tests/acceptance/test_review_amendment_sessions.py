"""Review (issue 12, item 8): an amendment that narrows who may assume the role — another partner, a removed
principal — ends the sessions issued before it, at once. STS tokens cannot be revoked;
deleting the role invalidates them, and rolepact creates it again right away for whoever is still agreed.
The old partner's live session and its kill switch are tested through STS/ECS with the real SDKs."""
from __future__ import annotations

from datetime import timedelta

from timer_support import (B, C, T0, agreement, assume, clock, describe_instance, fake, partner_user,  # noqa: F401
                           provision, refused, seed_instance, stage, tick_at, titled)

EXPIRES = T0 + timedelta(days=30)


def role_deletions(stage) -> int:
    return stage.cloud.calls.count(service="ram", action="DeleteRole")


def working(creds, instance) -> bool:
    return describe_instance(creds, instance).status == "Running"


def test_changing_the_partner_ends_the_old_partners_live_session(stage, clock):
    provision(stage, agreement("shared-ops", expires=EXPIRES))
    instance = seed_instance(stage)
    b_session = assume(stage, partner_user(stage, "alice"), "shared-ops")
    assert working(b_session, instance)

    clock.move_to(T0 + timedelta(minutes=5))
    provision(stage, agreement("shared-ops", partner=C, expires=EXPIRES))  # the same file, now for company-c
    refused(lambda: describe_instance(b_session, instance), "Forbidden.RAM")  # B's token is dead now
    c_session = assume(stage, partner_user(stage, "carol", account=C), "shared-ops")
    assert working(c_session, instance)
    refused(lambda: assume(stage, partner_user(stage, "bob"), "shared-ops"))  # B cannot assume again
    [notice] = titled(stage, "Agreement shared-ops amended")
    assert "every session issued before this amendment stopped working" in notice["text"]
    assert f"partner changed from {B} to {C}" in notice["text"]

    # B's kill switch afterwards: nothing of B's is left to end, and C's agreement is not B's
    stage.upload(f"control/revoke-partner/{B}", b"{}")
    tick_at(stage, clock, T0 + timedelta(minutes=6))
    assert stage.status("shared-ops")["state"] == "active"
    refused(lambda: describe_instance(b_session, instance), "Forbidden.RAM")
    assert working(c_session, instance)


def test_removing_a_principal_ends_its_live_session(stage, clock):
    doc = agreement("named", expires=EXPIRES)
    doc["partner"]["principals"] = ["user/alice", "user/bob"]
    provision(stage, doc)
    instance = seed_instance(stage)
    alice = assume(stage, partner_user(stage, "alice"), "named")
    bob_user = partner_user(stage, "bob")
    assert working(alice, instance)

    doc["partner"]["principals"] = ["user/bob"]
    provision(stage, doc)
    refused(lambda: describe_instance(alice, instance), "Forbidden.RAM")
    assert working(assume(stage, bob_user, "named"), instance)  # bob assumes again and works


def test_widening_keeps_live_sessions_and_the_role(stage, clock):
    """user/alice -> root (the whole partner account) narrows nobody: no cut, no DeleteRole."""
    doc = agreement("widened", expires=EXPIRES)
    doc["partner"]["principals"] = ["user/alice"]
    provision(stage, doc)
    instance = seed_instance(stage)
    session = assume(stage, partner_user(stage, "alice"), "widened")
    deletions = role_deletions(stage)
    doc["partner"]["principals"] = ["root"]
    doc["expiresAt"] = (EXPIRES + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    provision(stage, doc)
    assert role_deletions(stage) == deletions
    assert working(session, instance)


def test_a_crash_between_the_cut_and_the_new_grant_converges_on_retry(stage, clock):
    """The instance dies right after DeleteRole: FC's retry creates the role for the new partner; the old
    partner's session stays dead and nothing of the old revision is granted back."""
    provision(stage, agreement("shared-ops", expires=EXPIRES))
    instance = seed_instance(stage)
    b_session = assume(stage, partner_user(stage, "alice"), "shared-ops")
    stage.cloud.faults.crash_after("DeleteRole", service="ram", nth=1)
    stage.upload("agreements/shared-ops.json", agreement("shared-ops", partner=C, expires=EXPIRES), deliver=False)
    stage.fc.run_pending(max_rounds=1)  # the first attempt dies after deleting the role
    stage.cloud.faults.clear()
    stage.deliver()  # FC's retry
    assert stage.status("shared-ops")["partnerAccountId"] == C
    refused(lambda: describe_instance(b_session, instance), "Forbidden.RAM")
    assert working(assume(stage, partner_user(stage, "carol", account=C), "shared-ops"), instance)
