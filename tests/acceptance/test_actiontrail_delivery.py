"""Issue 11 item 9: ActionTrail delivery, as documented, and the access audit's pull under it.

- ActionTrail's limits page: an event can take up to 10 minutes before it can be queried
  (`fakecloud.trail.MAX_LOOKUP_DELAY`; the fake's `trail.lookup_delay`). The pull re-reads
  ROLEPACT_AUDIT_OVERLAP_MINUTES (15) before its checkpoint, so nothing late is missed.
- EventBridge gets only Write events ([D] EventBridge "ActionTrail events"), and the fake publishes
  RAM's global events only on the bus of the global-events region (undocumented; its guess).
"""
from __future__ import annotations

from datetime import timedelta

from audit_support import (A, T0, clock, fake, make_audit_stage, provision, record, run_audit_timer,  # noqa: F401
                           seed_doc, session_caller, stage, stored, trail_event)
from fakecloud.trail import MAX_LOOKUP_DELAY
from shared.audit.config import AuditConfig
from shared.gateways import Gateways
from shared.settings import Credentials


def test_the_pull_misses_nothing_when_every_event_takes_the_documented_ten_minutes(stage, clock):
    assert AuditConfig().overlap >= MAX_LOOKUP_DELAY + timedelta(minutes=5)  # margin for clock skew
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    stage.fc.remove_trigger(A, stage.wiring.service_name, "access_audit", "actiontrail-events")  # the pull alone
    stage.cloud.trail.lookup_delay = MAX_LOOKUP_DELAY
    caller = session_caller(session="alice")
    made = []
    for run in range(1, 9):  # two hours of the 15-minute timer
        now = T0 + timedelta(minutes=15 * run)
        for seconds in (-899, -600, -301, -60, -1):  # spread over the period, the last just before the run
            event = trail_event(caller, "DescribeInstances", read=True, at=now + timedelta(seconds=seconds))
            made.append(record(stage, event, deliver=False)["eventId"])
        clock.move_to(now)
        run_audit_timer(stage)
    clock.move_to(T0 + timedelta(minutes=15 * 10))
    run_audit_timer(stage)
    assert sorted(e["eventId"] for e in stored(stage)) == sorted(made)  # each once, none missed


def test_lookup_events_shows_an_event_only_after_the_delay(fake, clock):
    stage = make_audit_stage(fake)
    fake.trail.lookup_delay = MAX_LOOKUP_DELAY
    event = record(stage, trail_event(session_caller(), "StopInstance", at=T0), deliver=False)
    trail = Gateways.connect(stage.settings.with_credentials(Credentials(stage.owner.access_key_id,
                                                                          stage.owner.access_key_secret))).trail
    found = lambda: [e["eventId"] for e in trail.lookup_events(  # noqa: E731
        T0 - timedelta(hours=1), T0 + timedelta(hours=1), region="cn-hangzhou")]
    assert event["eventId"] not in found()
    clock.move_to(T0 + MAX_LOOKUP_DELAY)
    assert event["eventId"] in found()


def test_eventbridge_carries_writes_only_and_global_events_only_in_their_region(fake, clock):
    stage = make_audit_stage(fake)
    bus = stage.fc.eventbridge
    caller = session_caller()
    record(stage, trail_event(caller, "DescribeInstances", read=True))
    record(stage, trail_event(caller, "StopInstance"))
    assert [e["data"]["eventName"] for e in bus.published] == ["StopInstance"]
    ram_write = trail_event(caller, "UpdateRole", service="Ram", is_global=True)
    assert bus.global_events_region == "cn-hangzhou"
    assert bus.deliver(A, ram_write) == 1  # the deployment's region is the global-events region
    bus.global_events_region = "ap-southeast-1"  # the international site's default storage region
    assert bus.deliver(A, ram_write) == 0
