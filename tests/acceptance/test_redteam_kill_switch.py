"""Red team: the kill switch under other spellings, half-way through an ending, and racing the timers.

The owner drops `control/revoke-partner/<uid>` to end every agreement of a partner at once. The safe
outcome of each attack: the partner's agreements end (and stay ended), or the owner is told at once
that the object was not understood — never a ban that silently does nothing, and never a timer that
gives back what the kill switch took.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from alibabacloud_ram20150501 import models as ram_models
from test_review_races import once_on_write
from timer_support import (B, T0, agreement, attached, clock, fake, get_role, provision, ram, stage,  # noqa: F401
                           tick_at, titled, use_settings)

from shared.documents import custom_policy_name

EXPIRES = T0 + timedelta(days=30)
CUSTOM = custom_policy_name("b-ecs", "ecs-restart-web")


@pytest.mark.parametrize("key", [
    f"Control/revoke-partner/{B}",          # the folder in another letter case (consoles keep what you type)
    f"CONTROL/REVOKE-PARTNER/{B}",
    f"control/revoke-partner/{B}-company-b",  # the uid, then a note
    f"control/revoke-partner/{B} company-b.txt",
    f"control/revoke-partner/{B}_2026-12-05",
])
def test_a_ban_in_another_spelling_ends_the_partners_agreements_and_refuses_new_ones(stage, clock, key):
    provision(stage, agreement("b-ecs", expires=EXPIRES))
    clock.move_to(T0 + timedelta(minutes=5))
    stage.upload(key, b"{}")
    tick_at(stage, clock, T0 + timedelta(minutes=6))
    status = stage.status("b-ecs")
    assert status["state"] == "ended" and status["ended"]["reason"] == "revoked", status.get("state")
    assert get_role(stage, "b-ecs") is None
    stage.upload("agreements/b-new.json", agreement("b-new", expires=EXPIRES))
    assert stage.status("b-new")["state"] == "rejected"


@pytest.mark.parametrize("key", [
    "control/revoke-partner/company-b",      # an alias instead of the account id
    "control/revoke-partner/134567890123456",  # a digit short (a typo)
])
def test_a_ban_rolepact_cannot_read_is_reported_at_once_not_ignored(stage, clock, key):
    """rolepact cannot know which partner is meant, so it cannot end anything — but the owner believes the
    partner is out: an urgent notice must say that the object bans nobody."""
    provision(stage, agreement("b-ecs", expires=EXPIRES))
    clock.move_to(T0 + timedelta(minutes=5))
    stage.upload(key, b"{}")
    tick_at(stage, clock, T0 + timedelta(minutes=6))
    [notice] = titled(stage, "kill switch not understood")
    assert key.rsplit("/", 1)[1] in notice["text"] and "16-digit" in notice["text"]
    tick_at(stage, clock, T0 + timedelta(minutes=7))
    assert len(titled(stage, "kill switch not understood")) == 1  # once per object


def test_a_due_marker_never_gives_back_what_a_half_finished_kill_switch_took(stage, clock):
    """The kill switch's ending fails half-way (the second detach is throttled): one permission is gone,
    the rest is retried next minute. In the same tick the agreement's start marker is due: the timer must
    not re-attach what the kill switch already took from a revoked partner."""
    provision(stage, agreement("b-ecs", starts=T0 + timedelta(minutes=10), expires=EXPIRES))
    clock.move_to(T0 + timedelta(minutes=9))
    stage.upload(f"control/revoke-partner/{B}", b"{}")
    stage.cloud.faults.fail("DetachPolicyFromRole", service="ram", nth=2, times=6, code="Throttling.User")
    tick_at(stage, clock, T0 + timedelta(minutes=10))
    assert get_role(stage, "b-ecs") is None or ("Custom", CUSTOM) not in attached(stage, "b-ecs")
    tick_at(stage, clock, T0 + timedelta(minutes=11))
    assert stage.status("b-ecs")["state"] == "ended" and get_role(stage, "b-ecs") is None


def test_a_timer_run_racing_the_kill_switch_does_not_resurrect_the_agreement(stage, clock):
    """The enforcer repairs a drifted role at activation; while it does, the owner drops the kill switch and
    the next tick ends the agreement. The slower run must neither write the agreement back to live nor leave
    a role — and no later timer may grant the revoked partner again."""
    provision(stage, agreement("b-ecs", starts=T0 + timedelta(minutes=10), expires=EXPIRES))
    ram(stage.owner).detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(  # drift, by hand
        policy_type="Custom", policy_name=CUSTOM, role_name="b-ecs"))

    def drop_and_tick():
        stage.upload(f"control/revoke-partner/{B}", b"{}", deliver=False)
        tick_at(stage, clock, T0 + timedelta(minutes=11))

    fired = once_on_write(stage, "AttachPolicyToRole", drop_and_tick)
    tick_at(stage, clock, T0 + timedelta(minutes=10))
    assert fired
    use_settings(stage, remediation="fix")
    tick_at(stage, clock, T0 + timedelta(hours=1))  # the auditor, in fix mode, and the next ticks
    tick_at(stage, clock, T0 + timedelta(hours=1, minutes=1))
    assert stage.status("b-ecs")["state"] == "ended"
    assert get_role(stage, "b-ecs") is None


def test_a_fan_out_batch_started_before_the_kill_switch_ends_instead_of_activating(stage, clock):
    """Many agreements of B start at once; the enforcer hands them to workers, then the owner drops B's kill
    switch before the workers run. A worker must end them (the ban is read when it starts), not make them
    active for another minute."""
    use_settings(stage, fanout_threshold=1, fanout_batch_size=1)
    for n in range(3):
        provision(stage, agreement(f"b-{n}", starts=T0 + timedelta(minutes=10), expires=EXPIRES))
    clock.move_to(T0 + timedelta(minutes=10))
    stage.fc.fire_due_timers()
    stage.fc.run_pending(max_rounds=1)  # the enforcer's tick: dispatches three batches
    assert not any(stage.status(f"b-{n}")["state"] == "ended" for n in range(3))
    stage.upload(f"control/revoke-partner/{B}", b"{}", deliver=False)
    stage.deliver()  # the workers
    for n in range(3):
        status = stage.status(f"b-{n}")
        assert status["state"] == "ended" and status["ended"]["reason"] == "revoked", status["state"]
        assert get_role(stage, f"b-{n}") is None


def test_an_amendment_to_a_banned_partner_racing_the_kill_switch_ends(stage, clock):
    """An agreement of C is amended to partner B (the role is deleted and created again for B); while it is,
    the owner drops B's kill switch and the enforcer ticks (the record still says C then). It must end."""
    provision(stage, agreement("shared", partner="1456789012345678", expires=EXPIRES, external_id=None))
    clock.move_to(T0 + timedelta(minutes=5))

    def drop_and_tick():
        stage.upload(f"control/revoke-partner/{B}", b"{}", deliver=False)
        tick_at(stage, clock, T0 + timedelta(minutes=6))

    fired = once_on_write(stage, "CreateRole", drop_and_tick)
    stage.upload("agreements/shared.json", agreement("shared", partner=B, expires=EXPIRES))
    assert fired
    tick_at(stage, clock, T0 + timedelta(minutes=7))
    assert stage.status("shared")["state"] == "ended" and get_role(stage, "shared") is None


def test_a_status_record_whose_partner_field_was_changed_is_still_revoked(stage, clock):
    """Someone who can write rolepact's records changes `partnerAccountId` in a live agreement's status record
    (its agreementText still grants B). B's kill switch must end it: the timers grant from the text."""
    import json

    provision(stage, agreement("b-ecs", expires=EXPIRES))
    record = stage.status("b-ecs")
    record["partnerAccountId"] = "1999999999999999"
    stage.upload("status/b-ecs.json", json.dumps(record).encode("utf-8"))
    clock.move_to(T0 + timedelta(minutes=5))
    stage.upload(f"control/revoke-partner/{B}", b"{}")
    tick_at(stage, clock, T0 + timedelta(minutes=6))
    assert stage.status("b-ecs")["state"] == "ended" and get_role(stage, "b-ecs") is None


def test_a_forged_handled_marker_delays_a_kill_switch_by_an_hour_at_most(stage, clock):
    """Whoever can write rolepact's records marks B's kill switch as handled before the enforcer sees it
    (`state/kill-switch/<uid>.json` with the drop's time and ETag). The hourly auditor still finds B's live
    agreement and the enforcer ends it."""
    import json

    provision(stage, agreement("b-ecs", expires=EXPIRES))
    clock.move_to(T0 + timedelta(minutes=5))
    key = f"control/revoke-partner/{B}"
    stage.upload(key, b"{}")
    meta = stage.oss().head_object(key)
    from datetime import datetime, timezone

    modified = datetime.fromtimestamp(meta.last_modified, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    stage.upload(f"state/kill-switch/{B}.json", json.dumps({"controlModified": f"{modified}/{meta.etag}"}).encode())
    tick_at(stage, clock, T0 + timedelta(minutes=6))
    assert stage.status("b-ecs")["state"] == "active"  # the enforcer took the ban for handled
    tick_at(stage, clock, T0.replace(minute=0, second=30) + timedelta(hours=1))  # the hourly auditor
    tick_at(stage, clock, T0.replace(minute=0, second=30) + timedelta(hours=1, minutes=1))
    assert stage.status("b-ecs")["state"] == "ended" and get_role(stage, "b-ecs") is None
