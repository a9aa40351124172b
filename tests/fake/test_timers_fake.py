"""Timer triggers of the FC fake, driven by time travel (`time_machine`) and `fire_due_timers`."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from fakecloud.services.fc.schedule import CronSchedule, ScheduleError, parse_schedule
from fc_support import ACCOUNT, cloud_fixture  # noqa: F401

T0 = datetime(2026, 3, 2, 0, 0, 5, tzinfo=timezone.utc)  # a Monday


@pytest.fixture
def fc(cloud):
    cloud.add_account(ACCOUNT)
    return cloud.backend("fc")


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def timer_function(fc, expression: str, *, payload="tick", enable=True, name="timer") -> list[dict]:
    received: list[dict] = []
    fc.register_function(ACCOUNT, "svc", "cron", lambda e, c: received.append(json.loads(e)))
    fc.add_trigger(ACCOUNT, "svc", "cron", name, "timer",
                   {"cronExpression": expression, "enable": enable, "payload": payload})
    return received


def test_every_minute_fires_each_tick_once(fc, clock):
    received = timer_function(fc, "@every 1m", payload='{"job": "sweep"}')

    clock.shift(30)
    assert fc.fire_due_timers() == 0
    clock.shift(31)
    assert fc.fire_due_timers() == 1
    assert fc.fire_due_timers() == 0  # same tick only once
    clock.shift(60)
    assert fc.fire_due_timers() == 1
    fc.run_pending()

    assert received == [
        {"triggerTime": "2026-03-02T00:01:05Z", "triggerName": "timer", "payload": '{"job": "sweep"}'},
        {"triggerTime": "2026-03-02T00:02:05Z", "triggerName": "timer", "payload": '{"job": "sweep"}'},
    ]
    assert {(r.source, r.invocation_type) for r in fc.invocations} == {("timer", "Async")}


def test_missed_ticks_fire_once_with_the_latest_tick(fc, clock):
    received = timer_function(fc, "@every 5m")
    clock.shift(timedelta(hours=1, seconds=1))
    assert fc.fire_due_timers() == 1
    assert fc.fire_due_timers() == 0
    fc.run_pending()
    assert [e["triggerTime"] for e in received] == ["2026-03-02T01:00:05Z"]


def test_cron_in_utc(fc, clock):
    received = timer_function(fc, "0 */15 * * * *")
    clock.move_to(datetime(2026, 3, 2, 0, 14, 59, tzinfo=timezone.utc))
    assert fc.fire_due_timers() == 0
    clock.move_to(datetime(2026, 3, 2, 0, 15, 0, tzinfo=timezone.utc))
    assert fc.fire_due_timers() == 1
    fc.run_pending()
    assert received[0]["triggerTime"] == "2026-03-02T00:15:00Z"


def test_cron_with_cron_tz(fc, clock):
    """09:00 in Shanghai is 01:00 UTC; the event's triggerTime is UTC."""
    received = timer_function(fc, "CRON_TZ=Asia/Shanghai 0 0 9 * * *")
    clock.move_to(datetime(2026, 3, 2, 0, 59, 59, tzinfo=timezone.utc))
    assert fc.fire_due_timers() == 0
    clock.move_to(datetime(2026, 3, 2, 1, 0, 0, tzinfo=timezone.utc))
    assert fc.fire_due_timers() == 1
    clock.move_to(datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc))  # 09:00 UTC is 17:00 there
    assert fc.fire_due_timers() == 0
    clock.move_to(datetime(2026, 3, 3, 1, 0, 30, tzinfo=timezone.utc))
    assert fc.fire_due_timers() == 1
    fc.run_pending()
    assert [e["triggerTime"] for e in received] == ["2026-03-02T01:00:00Z", "2026-03-03T01:00:00Z"]


def test_disabled_timer_never_fires(fc, clock):
    received = timer_function(fc, "@every 1m", enable=False)
    clock.shift(600)
    assert fc.fire_due_timers() == 0
    assert fc.run_pending() == 0 and received == []


def test_explicit_now_argument(fc, clock):
    timer_function(fc, "@every 1m")
    assert fc.fire_due_timers(T0 + timedelta(minutes=3)) == 1
    assert fc.pending == 1


@pytest.mark.parametrize("expression", [
    "@every 30s",  # below FC's one-minute minimum
    "@every often",
    "0 * * * *",  # 5-field cron: FC needs seconds
    "0 0 25 * * *",
    "0 0 0 L * *",
    "0 0 0 ? * ?x",
    "? 0 0 * * *",
    "CRON_TZ=Mars/Olympus 0 0 0 * * *",
])
def test_invalid_expressions_are_refused(fc, expression):
    fc.register_function(ACCOUNT, "svc", "f", lambda e, c: None)
    with pytest.raises(ScheduleError):
        fc.add_trigger(ACCOUNT, "svc", "f", "t", "timer", {"cronExpression": expression})


def test_cron_fields_names_steps_and_day_semantics():
    utc = timezone.utc
    weekdays_9am = parse_schedule("0 0 9 ? * MON-FRI", T0)
    assert isinstance(weekdays_9am, CronSchedule)
    saturday = datetime(2026, 3, 7, 12, tzinfo=utc)
    assert weekdays_9am.latest_tick(T0, saturday) == datetime(2026, 3, 6, 9, tzinfo=utc)  # Friday

    # Both day fields restricted: the 1st of the month OR any Monday.
    first_or_monday = parse_schedule("0 30 6 1 * MON", T0)
    assert first_or_monday.latest_tick(T0, datetime(2026, 3, 31, tzinfo=utc)) == datetime(2026, 3, 30, 6, 30,
                                                                                            tzinfo=utc)
    assert first_or_monday.latest_tick(datetime(2026, 3, 31, tzinfo=utc), datetime(2026, 4, 2, tzinfo=utc)) == \
        datetime(2026, 4, 1, 6, 30, tzinfo=utc)  # a Wednesday, but the 1st

    quarterly = parse_schedule("0 0 0 1 JAN,APR,JUL,OCT *", T0)
    assert quarterly.latest_tick(T0, datetime(2026, 12, 31, tzinfo=utc)) == datetime(2026, 10, 1, tzinfo=utc)
    assert quarterly.latest_tick(datetime(2026, 10, 1, tzinfo=utc), datetime(2026, 12, 31, tzinfo=utc)) is None

    every_20s = parse_schedule("*/20 * * * * *", T0)
    assert every_20s.latest_tick(T0, datetime(2026, 3, 2, 0, 0, 59, tzinfo=utc)) == datetime(2026, 3, 2, 0, 0, 40,
                                                                                              tzinfo=utc)


def test_background_timer_thread_fires_with_travelled_time(fc, clock):
    received = timer_function(fc, "@every 1m")
    fc.start_workers(1, retry_delay=0.0, timer_interval=0.01)
    try:
        clock.shift(61)
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        fc.stop_workers()
    assert [e["triggerTime"] for e in received] == ["2026-03-02T00:01:05Z"]
