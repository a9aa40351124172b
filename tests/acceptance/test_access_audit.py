"""Issue #6 acceptance, part 1: the seed end to end through the access-audit function.

EventBridge hands the function ActionTrail's Write events as they happen; the 15-minute timer
pulls LookupEvents (reads, and whatever EventBridge missed); the digest goes out after 00:00 UTC.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from alibabacloud_ram20150501 import models as ram_models

from audit_support import (  # noqa: F401 - fixtures
    A, AUDIT, B, ROLE, SEED_ID, T0, alerts, assume, audit_runs, clock, cloud_event, describe, digest_report,
    digests, entry, fake, invoke_audit, keys, next_digest_time, owner_admin, partner_user, provision, ram, read_object,
    refused, seed_doc, seed_instance, stage, start, stop, stored, tick,
)


def test_alices_ecs_calls_reach_the_digest_attributed_to_her_and_the_agreement(stage, clock):
    instance = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    assert describe(alice, instance)[0].status == "Running"  # a read: only LookupEvents has it
    stop(alice, instance)  # writes: EventBridge delivers them at once
    start(alice, instance)
    stage.deliver()

    # Near real time: the writes are stored, tied to the agreement and to company-b's Alice.
    realtime = stored(stage)
    assert sorted(e["eventName"] for e in realtime) == ["StartInstance", "StopInstance"]
    for event in realtime:
        assert event["rolepact"] == {"agreementId": SEED_ID, "kind": "partner"}
        assert event["requestParameters"]["stsTokenPlayerUid"] == B
        assert event["userIdentity"]["userName"] == f"{ROLE}:alice"
        assert event["sourceIpAddress"] == "203.0.113.7"
    assert not audit_runs(stage, "timer")

    # The timer's pull brings the read, and the writes a second time.
    tick(stage, clock, T0 + timedelta(minutes=15))
    assert [r.ok for r in audit_runs(stage, "timer")] == [True]
    assert Counter(e["eventName"] for e in stored(stage)) == {"DescribeInstances": 1, "StopInstance": 2,
                                                              "StartInstance": 2}

    # The daily digest (first timer run after 00:00 UTC): every call once, attributed.
    tick(stage, clock, next_digest_time(T0))
    [digest] = digests(stage)
    text = digest["text"]
    for part in (SEED_ID, "company-b/alice", "`ecs:DescribeInstances` (1)", "`ecs:StopInstance` (1)",
                 "`ecs:StartInstance` (1)", "**3** calls (1 reads, 2 writes)", "**0** denied", "role **ecs-admin**",
                 "1 session", "Findings: none", "days** left"):
        assert part in text, part
    report = digest_report(stage)
    seed = entry(report)
    assert (seed["events"], seed["reads"], seed["writes"], seed["denials"], seed["sessions"]) == (3, 1, 2, 0, 1)
    assert seed["people"] == [{"accountId": B, "session": "alice", "display": "company-b/alice", "isPartner": True,
                               "events": 3}]
    assert seed["partner"] == {"accountId": B, "alias": "company-b"}
    assert 28 < seed["daysToExpiry"] < 30
    assert report["input"]["duplicates"] == 2  # the writes both paths stored, counted once
    # The digest was saved before it was sent, and is what was sent.
    [saved] = [k for k in keys(stage, "reports/digest/") if k.endswith(".md")]
    assert read_object(stage, saved).decode("utf-8") == text


def test_an_event_received_twice_is_counted_once(stage, clock):
    instance = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    stop(alice, instance)
    stage.deliver()
    [event] = stored(stage)
    # EventBridge delivers at least once: the same CloudEvent again, alone and inside a batch.
    stop_event = next(e for e in stage.cloud.trail.events(A) if e["eventId"] == event["eventId"])
    invoke_audit(stage, cloud_event(stop_event))
    invoke_audit(stage, [cloud_event(stop_event), cloud_event(stop_event)])
    tick(stage, clock, T0 + timedelta(minutes=15))  # ... and LookupEvents has it too
    assert len({e["eventId"] for e in stored(stage)}) == 1
    tick(stage, clock, next_digest_time(T0))
    seed = entry(digest_report(stage))
    assert (seed["events"], seed["writes"]) == (1, 1)
    assert "**1** calls (0 reads, 1 writes)" in digests(stage)[0]["text"]


def test_after_expiry_the_denied_attempts_are_a_high_severity_finding(stage, clock):
    instance = seed_instance(stage)
    expires = T0 + timedelta(hours=2)
    provision(stage, seed_doc(expires=expires))
    user = partner_user(stage, "alice")
    clock.move_to(expires - timedelta(minutes=30))
    alice = assume(stage, user, "alice")  # a session that outlives the agreement
    describe(alice, instance)
    stage.deliver()
    assert alerts(stage) == []

    tick(stage, clock, expires + timedelta(seconds=40))  # the enforcer ends the agreement
    assert stage.status(SEED_ID)["state"] == "ended"
    refused(lambda: stop(alice, instance), "Forbidden.RAM")  # a write: EventBridge
    refused(lambda: describe(alice, instance), "Forbidden.RAM")  # a read: only the pull
    stage.deliver()
    [alert] = alerts(stage)  # at once, before any pull
    assert "activity after the agreement ended" in alert["title"] and SEED_ID in alert["title"]
    assert "ecs:StopInstance" in alert["text"] and "denied (Forbidden.RAM)" in alert["text"]

    tick(stage, clock, expires + timedelta(minutes=15))  # the pull finds the denied read too: same incident
    assert len(alerts(stage)) == 1
    findings = {(f["rule"], f["action"], f["severity"]) for f in stored(stage, "audit/findings/")}
    assert findings == {("activity-after-end", "ecs:StopInstance", "high"),
                        ("activity-after-end", "ecs:DescribeInstances", "high")}

    tick(stage, clock, next_digest_time(expires))
    seed = entry(digest_report(stage))
    assert seed["state"] == "ended" and seed["endedReason"] == "expired"
    assert seed["findings"]["high"] == 2 and seed["denials"] == 2
    assert {f["rule"] for f in seed["findingList"]} == {"activity-after-end"}
    assert "activity-after-end" in digests(stage)[0]["text"]


def test_a_humans_change_to_a_managed_role_is_a_drift_alert_in_near_real_time(stage, clock):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    stage.deliver()
    assert alerts(stage) == []  # rolepact's own RAM writes (through its FC role) are not drift

    admin = owner_admin(stage, "it-admin")  # a RAM user of A with RAM permissions
    ram(admin).update_role(ram_models.UpdateRoleRequest(role_name=ROLE, new_max_session_duration=43200))
    stage.deliver()  # EventBridge only: no timer has fired
    assert not audit_runs(stage, "timer")
    [alert] = alerts(stage)
    assert "drift" in alert["title"]
    assert "UpdateRole on ecs-admin by it-admin (ram-user)" in alert["text"]

    ram(stage.owner).attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(  # A's root
        policy_type="System", policy_name="AliyunOSSFullAccess", role_name=ROLE))
    stage.deliver()
    assert len(alerts(stage)) == 2
    assert "AttachPolicyToRole on ecs-admin by root (root-account)" in alerts(stage)[1]["text"]

    tick(stage, clock, T0 + timedelta(minutes=15))  # the pull sees both changes again: no new alert
    assert len(alerts(stage)) == 2
    drift = [f for f in stored(stage, "audit/findings/") if f["rule"] == "managed-role-changed"]
    assert {f["eventId"] for f in drift} and len({f["eventId"] for f in drift}) == 2
    assert all(f["severity"] == "high" and f["agreementId"] == SEED_ID for f in drift)
