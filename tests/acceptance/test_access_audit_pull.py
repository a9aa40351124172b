"""Issue #6 acceptance, part 3: the timer's LookupEvents pull — pages, regions, checkpoint, throttling."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from alibabacloud_ram20150501 import models as ram_models

from audit_support import (  # noqa: F401 - fixtures
    A, B, ROLE, SEED_ID, T0, alerts, checkpoint, clock, fake, iso, make_audit_stage, owner_admin, provision, ram,
    record, run_audit_timer, seed_doc, session_caller, stage, stored, trail_event,
)
from shared.audit.config import AuditConfig, reset_config


def lookups_by_region(stage) -> Counter:
    """LookupEvents calls made so far, by the region queried (ActionTrail records its own calls)."""
    return Counter(e["acsRegion"] for e in stage.cloud.trail.events(A) if e["eventName"] == "LookupEvents")


def partner_reads(stage, count: int, *, start, region: str = "cn-hangzhou", step=timedelta(seconds=1)) -> list[str]:
    caller = session_caller(session="alice")
    ids = []
    for n in range(count):
        event = trail_event(caller, "DescribeInstances", read=True, at=start + n * step, region=region)
        record(stage, event, deliver=False)
        ids.append(event["eventId"])
    return ids


def test_pages_of_50_both_regions_and_each_event_once(fake, clock):
    """Deployed in cn-shanghai: ECS events are found there, RAM's global events only in cn-hangzhou."""
    stage = make_audit_stage(fake, region="cn-shanghai")
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    stage.fc.remove_trigger(A, stage.wiring.service_name, "access_audit", "actiontrail-events",
                            region="cn-shanghai")  # the pull alone
    ids = partner_reads(stage, 120, start=T0 - timedelta(minutes=5), region="cn-shanghai")
    partner_reads(stage, 3, start=T0 - timedelta(minutes=5), region="cn-beijing")  # another region: not ours
    admin = owner_admin(stage)
    ram(admin).update_role(ram_models.UpdateRoleRequest(role_name=ROLE, new_description="changed by hand"))
    stage.deliver()
    before = lookups_by_region(stage)

    result = run_audit_timer(stage)
    calls = lookups_by_region(stage) - before
    assert calls["cn-shanghai"] >= 3  # 120 events: three pages of 50 at least
    assert calls["cn-hangzhou"] >= 1  # the global events' region
    assert result["pull"]["complete"] and "error" not in result["pull"]
    events = stored(stage)
    partner = [e for e in events if e["rolepact"]["kind"] == "partner"]
    assert sorted(e["eventId"] for e in partner) == sorted(ids)  # every page, no duplicate, nothing from Beijing
    [change] = [e for e in events if e["rolepact"]["kind"] == "change"]
    assert change["eventName"] == "UpdateRole" and change["acsRegion"] == "cn-hangzhou"
    [alert] = alerts(stage)
    assert "drift" in alert["title"]


def test_first_run_starts_from_the_lookback_and_long_gaps_go_in_bounded_windows(stage, clock):
    reset_config(AuditConfig(lookback=timedelta(hours=24), chunk=timedelta(hours=1), max_chunks=2,
                             overlap=timedelta(minutes=10)))
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    old = partner_reads(stage, 2, start=T0 - timedelta(hours=20))
    older = partner_reads(stage, 1, start=T0 - timedelta(hours=30))  # before the lookback
    result = run_audit_timer(stage)  # windows of 1 h, then 2 h (quiet windows grow)
    assert result["pull"]["windows"] == 2 and not result["pull"]["complete"]
    assert checkpoint(stage)["until"] == iso(T0 - timedelta(hours=21))
    assert stored(stage) == []
    result = run_audit_timer(stage)  # the next run: back 10 minutes, windows of 1 h and 2 h again
    assert result["pull"]["from"] == iso(T0 - timedelta(hours=21, minutes=10))
    assert checkpoint(stage)["until"] == iso(T0 - timedelta(hours=18, minutes=10))
    assert sorted(e["eventId"] for e in stored(stage)) == sorted(old)
    for _ in range(7):
        result = run_audit_timer(stage)
        if result["pull"]["complete"]:
            break
    assert result["pull"]["complete"] and checkpoint(stage)["until"] == iso(T0)
    assert not set(older) & {e["eventId"] for e in stored(stage)}


def test_late_events_in_the_overlap_are_found_and_nothing_is_stored_twice(stage, clock):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    first = partner_reads(stage, 3, start=T0 - timedelta(minutes=3))
    run_audit_timer(stage)
    assert checkpoint(stage)["until"] == iso(T0)
    clock.move_to(T0 + timedelta(minutes=15))
    late = partner_reads(stage, 1, start=T0 - timedelta(minutes=2))  # arrives after the run that covered its time
    result = run_audit_timer(stage)
    assert result["pull"]["from"] == iso(T0 - timedelta(minutes=15))
    assert result["pull"]["skippedOverlap"] == 3
    assert sorted(e["eventId"] for e in stored(stage)) == sorted(first + late)  # each stored once


@pytest.mark.parametrize("code", ["Throttling.User", "ServiceUnavailable"])
def test_throttling_is_retried_and_when_it_persists_the_checkpoint_stays(stage, clock, code):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    ids = partner_reads(stage, 2, start=T0 - timedelta(minutes=3))
    run_audit_timer(stage)
    assert checkpoint(stage)["until"] == iso(T0)
    clock.move_to(T0 + timedelta(minutes=15))
    more = partner_reads(stage, 2, start=T0 + timedelta(minutes=5))

    stage.cloud.faults.fail("LookupEvents", service="actiontrail", code=code, times=2)  # passes: retried
    calls = stage.cloud.calls.count("LookupEvents", service="actiontrail")
    result = run_audit_timer(stage)
    assert "error" not in result["pull"] and result["pull"]["complete"]
    assert stage.cloud.calls.count("LookupEvents", service="actiontrail") - calls >= 3
    assert checkpoint(stage)["until"] == iso(T0 + timedelta(minutes=15))

    clock.move_to(T0 + timedelta(minutes=30))
    later = partner_reads(stage, 2, start=T0 + timedelta(minutes=20))
    stage.cloud.faults.fail("LookupEvents", service="actiontrail", code=code, times=1000)  # persists
    calls = stage.cloud.calls.count("LookupEvents", service="actiontrail")
    result = run_audit_timer(stage)
    assert result["pull"]["error"]["code"] == code
    assert stage.cloud.calls.count("LookupEvents", service="actiontrail") - calls == stage.settings.max_attempts
    assert checkpoint(stage)["until"] == iso(T0 + timedelta(minutes=15))  # not moved

    stage.cloud.faults.clear()
    result = run_audit_timer(stage)
    assert result["pull"]["complete"] and checkpoint(stage)["until"] == iso(T0 + timedelta(minutes=30))
    assert sorted(e["eventId"] for e in stored(stage)) == sorted(ids + more + later)


def test_the_checkpoint_only_moves_past_what_was_stored(stage, clock):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    ids = partner_reads(stage, 2, start=T0 - timedelta(minutes=3))
    stage.cloud.faults.fail("PutObject", service="oss", code="InternalError", times=1000)  # the bucket refuses
    result = run_audit_timer(stage)
    assert result["pull"]["error"]["code"] == "InternalError" and result["pull"]["windows"] == 0
    stage.cloud.faults.clear()
    assert "until" not in checkpoint(stage) and stored(stage) == []
    result = run_audit_timer(stage)
    assert result["pull"]["complete"] and checkpoint(stage)["until"] == iso(T0)
    assert sorted(e["eventId"] for e in stored(stage)) == sorted(ids)
