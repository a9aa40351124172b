"""Issue #5: pre-expiry notices exactly once per offset, activation on time, early end by deletion,
and extension by editing expiresAt — all driven by the enforcer's timer on the fake."""
from __future__ import annotations

import json
from datetime import timedelta

from timer_support import (A, SEED_ROLE, T0, agreement, assume, bucket_keys, clock, describe_instance,  # noqa: F401
                           fake, get_role, invocations, seed_instance, leftovers, make_timer_stage, partner_user, provision, refused, stage,
                           tick_at, tick_every_minute, titled)


def expiring(stage, agreement_id: str, label: str | None = None) -> list[dict]:
    prefix = f"Agreement {agreement_id} expires in"
    return [n for n in titled(stage, prefix) if label is None or n["title"].endswith(f"expires in {label}")]


def timer_event(moment) -> bytes:
    return json.dumps({"triggerTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "every-minute",
                       "payload": '{"job": "expiry-enforcer"}'}).encode()


def duplicated_ticks(stage, clock, moment, copies: int = 3) -> None:
    """The same timer event delivered several times (FC's at-least-once delivery), concurrently, then
    once more synchronously."""
    clock.move_to(moment)
    first = len(stage.fc.invocations)
    for _ in range(copies):
        stage.fc.invoke_async(A, stage.wiring.service_name, "expiry_enforcer", timer_event(moment), source="timer")
    stage.fc.start_workers(copies, timer_interval=None)
    try:
        assert stage.fc.wait_idle(30)
    finally:
        stage.fc.stop_workers()
    result = stage.fc.invoke_sync(A, stage.wiring.service_name, "expiry_enforcer", timer_event(moment))
    assert result.ok, result.body
    runs = [i for i in stage.fc.invocations[first:] if i.function == "expiry_enforcer"]
    assert len(runs) == copies + 1 and all(i.ok for i in runs)
    assert json.loads(result.body) == {"duplicate": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}  # ran once already


def test_default_notices_exactly_once_around_each_offset(stage, clock):
    expires = T0 + timedelta(days=10)
    doc = agreement("ops-b", expires=expires)
    provision(stage, doc)
    assert sorted(k.rsplit("/", 1)[1] for k in bucket_keys(stage, "schedule/")) == ["expire", "notice-1d", "notice-7d"]

    for offset, label in ((timedelta(days=7), "7d"), (timedelta(days=1), "1d")):
        point = expires - offset
        tick_every_minute(stage, clock, point - timedelta(minutes=4), point - timedelta(minutes=1))
        duplicated_ticks(stage, clock, point)  # the notice point itself, delivered 4 times
        tick_every_minute(stage, clock, point, point + timedelta(minutes=5))
        [notice] = expiring(stage, "ops-b", label)
        assert "To renew, edit `expiresAt`" in notice["text"] and "agreements/ops-b.json" in notice["text"]
        assert expires.strftime("%Y-%m-%dT%H:%M:%SZ") in notice["text"]
    assert len(expiring(stage, "ops-b")) == 2
    assert not invocations(stage, "expiry_enforcer", ok=False)

    tick_every_minute(stage, clock, expires - timedelta(minutes=2), expires - timedelta(minutes=1))
    duplicated_ticks(stage, clock, expires)
    tick_every_minute(stage, clock, expires, expires + timedelta(minutes=3))
    assert stage.status("ops-b")["state"] == "ended"
    assert len(titled(stage, "Agreement ops-b expired")) == 1
    assert len(expiring(stage, "ops-b")) == 2  # nothing more after the end
    assert bucket_keys(stage, "schedule/") == []
    assert stage.cloud.calls.count("DeleteRole", service="ram") == 1


def test_configured_offsets(fake, clock):
    stage = make_timer_stage(fake, {"ROLEPACT_NOTICE_OFFSETS": "3d,12h"})
    expires = T0 + timedelta(days=5)
    provision(stage, agreement("ops-b", expires=expires))
    for point in (expires - timedelta(days=3), expires - timedelta(hours=12)):
        tick_every_minute(stage, clock, point - timedelta(minutes=2), point - timedelta(minutes=1))
        duplicated_ticks(stage, clock, point, copies=2)
        tick_every_minute(stage, clock, point, point + timedelta(minutes=3))
    assert [n["title"].rsplit(" ", 1)[1] for n in expiring(stage, "ops-b")] == ["3d", "12h"]
    assert not expiring(stage, "ops-b", "7d") and not expiring(stage, "ops-b", "1d")


def test_deleting_the_file_ends_at_once_and_later_ticks_do_nothing(stage, clock):
    expires = T0 + timedelta(days=8)
    provision(stage, agreement("ops-b", expires=expires, role=SEED_ROLE))
    alice = partner_user(stage)
    assume(stage, alice)
    clock.move_to(T0 + timedelta(hours=2))
    stage.delete("agreements/ops-b.json")  # intake, through the OSS trigger
    status = stage.status("ops-b")
    assert status["state"] == "ended" and status["ended"]["reason"] == "deleted"
    assert leftovers(stage) == (set(), set())
    refused(lambda: assume(stage, alice), "EntityNotExist.Role")
    [ended] = titled(stage, "Agreement ops-b")[-1:]
    assert "deleted" in ended["text"]

    notices_before, writes = len(titled(stage, "ops-b")), stage.cloud.calls.count(service="ram", write=True)
    for moment in (expires - timedelta(days=7), expires - timedelta(days=1), expires, expires + timedelta(hours=1)):
        tick_every_minute(stage, clock, moment - timedelta(minutes=1), moment + timedelta(minutes=1))
    assert len(titled(stage, "ops-b")) == notices_before
    assert stage.cloud.calls.count(service="ram", write=True) == writes
    assert stage.status("ops-b")["state"] == "ended"
    assert bucket_keys(stage, "schedule/") == []  # every stale marker was seen once and cleared


def test_future_start_becomes_active_on_time(stage, clock):
    starts, expires = T0 + timedelta(hours=2), T0 + timedelta(days=20)
    provision(stage, agreement("ops-b", starts=starts, expires=expires, role=SEED_ROLE))
    assert stage.status("ops-b")["state"] == "scheduled"
    alice = partner_user(stage)
    instance = seed_instance(stage)
    early = assume(stage, alice)  # the trust policy names no window: the guard denies until startsAt
    refused(lambda: describe_instance(early, instance), "Forbidden.RAM")

    tick_every_minute(stage, clock, starts - timedelta(minutes=3), starts - timedelta(seconds=20))
    assert stage.status("ops-b")["state"] == "scheduled"
    assert not titled(stage, "now active")
    tick_at(stage, clock, starts + timedelta(seconds=40))  # the first tick at or after startsAt
    assert stage.status("ops-b")["state"] == "active"
    assume(stage, alice)
    tick_every_minute(stage, clock, starts + timedelta(minutes=1), starts + timedelta(minutes=4))
    duplicated_ticks(stage, clock, starts + timedelta(minutes=5), copies=2)
    [active] = titled(stage, "Agreement ops-b is now active")
    assert SEED_ROLE in active["text"]


def test_extension_moves_the_expiry_and_old_markers_are_harmless(stage, clock):
    first, extended = T0 + timedelta(days=10), T0 + timedelta(days=30)
    provision(stage, agreement("ops-b", expires=first, role=SEED_ROLE))
    alice = partner_user(stage)
    clock.move_to(T0 + timedelta(hours=1))
    status = provision(stage, agreement("ops-b", expires=extended, role=SEED_ROLE))
    assert status["expiresAt"] == extended.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(bucket_keys(stage, "schedule/")) == 6  # the old markers stay; they are only hints

    for moment in (first - timedelta(days=7), first - timedelta(days=1), first, first + timedelta(minutes=1)):
        tick_every_minute(stage, clock, moment - timedelta(minutes=1), moment + timedelta(minutes=1))
    assert stage.status("ops-b")["state"] == "active"
    assert not expiring(stage, "ops-b")
    assert get_role(stage, SEED_ROLE) is not None
    assume(stage, alice)  # the trust and the guard moved with the new expiresAt

    tick_every_minute(stage, clock, extended - timedelta(days=7), extended - timedelta(days=7, minutes=-2))
    assert [n["title"].rsplit(" ", 1)[1] for n in expiring(stage, "ops-b")] == ["7d"]
    tick_at(stage, clock, extended + timedelta(seconds=30))
    assert stage.status("ops-b")["state"] == "ended"
    assert leftovers(stage) == (set(), set())
