"""Issue #6 acceptance, part 2: every rule, with events of ActionTrail's real shape; malformed input.

Real calls where the fake can make them (a session used from outside the agreed networks, an
unlisted session name, the kill switch); otherwise events built by the fake's own
`trail.build_event` and put into A's trail, from where EventBridge (writes) and LookupEvents
(everything) deliver them to the function like any other event.
"""
from __future__ import annotations

import json
from datetime import timedelta

from audit_support import (  # noqa: F401 - fixtures
    A, B, C, OUTSIDE_IP, ROLE, SEED_ID, T0, alerts, assume, audit_runs, clock, cloud_event, describe, digest_report,
    digests, entry, fake, invoke_audit, keys, next_digest_time, partner_user, provision, record, refused, run_audit_timer,
    seed_doc, seed_instance, session_caller, stage, start, stop, stored, tick, trail_event, use_settings,
)


def findings(stage, rule: str | None = None) -> list[dict]:
    return [f for f in stored(stage, "audit/findings/") if rule in (None, f["rule"])]


def live_seed(stage, **changes) -> None:
    provision(stage, seed_doc(expires=T0 + timedelta(days=30), **changes))
    stage.deliver()


def test_source_ip_outside_the_agreed_ranges(stage):
    instance = seed_instance(stage)
    live_seed(stage)
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    stage.cloud.set_caller_context(alice.access_key_id, source_ip=OUTSIDE_IP)  # the session leaves the network
    refused(lambda: stop(alice, instance), "Forbidden.RAM")  # the guard policy denies; the audit reports
    stage.deliver()
    [finding] = findings(stage, "source-ip-outside-ranges")
    assert (finding["severity"], finding["sourceIp"], finding["action"]) == ("high", OUTSIDE_IP, "ecs:StopInstance")
    assert finding["session"] == "alice" and finding["partnerAccount"] == B
    [alert] = alerts(stage)
    assert "outside the agreed IP ranges" in alert["title"] and OUTSIDE_IP in alert["text"]


def test_a_principal_from_another_account(stage):
    live_seed(stage)
    # stsTokenPlayerUid names company-c: the role was assumed from an account that is not the partner.
    record(stage, trail_event(session_caller(session="mallory", player=C), "StopInstance"))
    [finding] = findings(stage, "unknown-principal")
    assert finding["severity"] == "high" and finding["partnerAccount"] == C
    assert f"from account {C}, not the partner {B}" in finding["message"]
    [alert] = alerts(stage)
    assert "session assumed from another account" in alert["title"]


def test_an_unlisted_session_name(stage, clock):
    instance = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30), principals=("user/alice",)))
    user = partner_user(stage, "alice")
    stop(assume(stage, user, "alice"), instance)  # listed: nothing to say
    start(assume(stage, user, "night-batch"), instance)  # a session name the agreement does not list
    stage.deliver()
    [finding] = findings(stage, "unlisted-principal")
    assert finding["severity"] == "medium" and finding["session"] == "night-batch"
    assert alerts(stage) == []  # medium: in the digest, no immediate alert
    tick(stage, clock, T0 + timedelta(minutes=15))  # the first timer run (the first digest is the next day's)
    tick(stage, clock, next_digest_time(T0))
    seed = entry(digest_report(stage))
    assert seed["findings"]["medium"] == 1
    assert {p["display"] for p in seed["people"]} == {"company-b/alice", "company-b/night-batch"}


def test_sensitive_actions_from_the_configurable_list(stage):
    live_seed(stage)
    caller = session_caller(session="alice")
    record(stage, trail_event(caller, "DeleteInstance"))  # allowed: high
    record(stage, trail_event(caller, "DeleteInstance", error="Forbidden.RAM"))  # denied: medium
    record(stage, trail_event(caller, "StopInstance"))  # not on the default list
    found = sorted((f["action"], f["severity"]) for f in findings(stage, "sensitive-action"))
    assert found == [("ecs:DeleteInstance", "high"), ("ecs:DeleteInstance", "medium")]
    [alert] = alerts(stage)
    assert "sensitive action" in alert["title"] and "ecs:DeleteInstance" in alert["text"]

    use_settings(stage, sensitive_actions=("ecs:Stop*",))  # ROLEPACT_SENSITIVE_ACTIONS
    record(stage, trail_event(caller, "StopInstance"))
    assert [f["action"] for f in findings(stage, "sensitive-action")].count("ecs:StopInstance") == 1
    # anything on ram: (IMS events are RAM's users and keys)
    use_settings(stage, sensitive_actions=("ram:*",))
    record(stage, trail_event(caller, "CreateUser", service="Ims", resource=None, is_global=True))
    assert "ram:CreateUser" in {f["action"] for f in findings(stage, "sensitive-action")}


def test_a_burst_of_denied_calls(stage):
    live_seed(stage)
    caller = session_caller(session="alice")
    for second in range(0, 40, 10):  # 4 denied reads in 40 s: below the burst size (5)
        record(stage, trail_event(caller, "DescribeInstances", read=True, error="Forbidden.RAM",
                                  at=T0 - timedelta(seconds=60 - second)), deliver=False)
    run_audit_timer(stage)
    assert findings(stage, "denied-burst") == []
    record(stage, trail_event(caller, "DescribeDisks", read=True, error="Forbidden.RAM",
                              at=T0 - timedelta(seconds=10)), deliver=False)
    run_audit_timer(stage)
    [finding] = findings(stage, "denied-burst")
    assert finding["severity"] == "medium" and "5 denied calls" in finding["message"]
    assert alerts(stage) == []


def test_activity_before_the_agreement_starts(stage):
    provision(stage, seed_doc(starts=T0 + timedelta(days=1), expires=T0 + timedelta(days=30)))
    record(stage, trail_event(session_caller(session="alice"), "StartInstance", at=T0))
    [finding] = findings(stage, "activity-before-start")
    assert finding["severity"] == "high"
    [alert] = alerts(stage)
    assert "activity before the agreement started" in alert["title"]


def test_activity_on_a_revoked_agreement(stage, clock):
    instance = seed_instance(stage)
    live_seed(stage)
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    stage.upload(f"control/revoke-partner/{B}", {"by": "security"})  # the kill switch
    tick(stage, clock, T0 + timedelta(minutes=1))
    assert stage.status(SEED_ID)["ended"]["reason"] == "revoked"
    refused(lambda: stop(alice, instance), "Forbidden.RAM")
    stage.deliver()
    [finding] = findings(stage, "activity-after-revocation")
    assert finding["severity"] == "high"
    [alert] = alerts(stage)
    assert "activity after the agreement was revoked" in alert["title"]


def test_rolepacts_own_changes_and_unrelated_events_make_no_finding(stage):
    live_seed(stage)  # CreateRole, CreatePolicy, AttachPolicyToRole... by rolepact's FC role
    record(stage, trail_event(session_caller(role="someone-elses-role", session="x"), "StopInstance"))
    assert findings(stage) == [] and stored(stage) == []
    run_audit_timer(stage)
    assert findings(stage) == [] and stored(stage) == [] and alerts(stage) == []


# ================================================================================ malformed and unknown
def test_malformed_and_unknown_events_are_stored_and_counted_and_block_nothing(stage, clock):
    live_seed(stage)
    good = trail_event(session_caller(session="alice"), "StopInstance")
    no_id = dict(good, eventId="")
    stage.cloud.trail.record(A, good, publish=False)  # genuine: LookupEvents confirms it
    answer = invoke_audit(stage, b"\x00not json{")
    assert answer["malformed"] == 1
    answer = invoke_audit(stage, [
        {"specversion": "1.0", "type": "oss:ObjectStorage:PostObject", "data": {"x": 1}},  # not ActionTrail
        cloud_event(no_id),  # an ActionTrail record without eventId
        {"type": "ecs:ActionTrail:ApiCall", "data": "{half"},  # data that is not JSON
        "a string",
        cloud_event(good),  # ... and the good one next to them
    ])
    assert (answer["received"], answer["malformed"], answer["stored"]) == (1, 4, 1)
    [event] = stored(stage)
    assert event["eventId"] == good["eventId"]
    kept = stored(stage, "audit/malformed/")
    assert len(kept) == 5
    reasons = sorted(m["reason"] for m in kept)
    assert reasons == sorted(["payload is not JSON", "unknown event type 'oss:ObjectStorage:PostObject' (not an "
                              "ActionTrail event)", "ActionTrail record has no eventId", "CloudEvent data is not JSON",
                              "not a CloudEvent object"])
    assert all(r.ok for r in audit_runs(stage))

    # In the trail itself (the pull): stored and counted, the others processed, the checkpoint moves.
    record(stage, dict(trail_event(session_caller(session="alice"), "DescribeInstances", read=True), eventId=""),
           deliver=False)
    record(stage, trail_event(session_caller(session="alice"), "DescribeInstances", read=True), deliver=False)
    result = run_audit_timer(stage)
    assert result["pull"]["malformed"] == 1 and result["pull"]["complete"]
    assert len(stored(stage, "audit/malformed/")) == 6
    # (the good StopInstance is in the trail too: both paths stored it, it counts once)
    assert sorted({e["eventId"]: e["eventName"] for e in stored(stage)}.values()) == ["DescribeInstances",
                                                                                      "StopInstance"]

    tick(stage, clock, next_digest_time(T0))
    report = digest_report(stage)
    assert report["input"]["malformed"] == 6
    assert "malformed inputs: 6" in digests(stage)[0]["text"]
