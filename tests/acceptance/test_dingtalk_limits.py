"""Issue 11 item 6: the DingTalk robot's limits, as documented, and rolepact within them.

The fake locks a robot out for 10 minutes when it gets more than 20 messages in a minute (on by
default), and has a monthly quota with its own error (90030). rolepact shares 6 sends per UTC
minute between all its functions (OSS slot markers), so it never triggers the lockout, and a
quota error pauses sending (probing hourly) without holding the outbox head for good.
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from shared.notify import SENDS_PER_MINUTE
from timer_support import (T0, agreement, bucket_keys, clock, fake, notices, provision, stage,  # noqa: F401
                           tick_at)

EXPIRES = T0 + timedelta(days=30)


def robot(stage):
    backend = stage.cloud.backend("dingtalk")
    [only] = backend.robots.values()
    return only


def most_in_any_minute(times) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + timedelta(minutes=1)) for i, start in enumerate(times)),
               default=0)


def test_a_burst_of_notices_never_trips_the_lockout(stage, clock):
    for n in range(30):  # thirty grants in the same minute: thirty notices
        provision(stage, agreement(f"burst-{n:02d}", expires=EXPIRES))
    assert len(notices(stage)) == SENDS_PER_MINUTE and len(bucket_keys(stage, "outbox/")) == 30 - SENDS_PER_MINUTE
    for minute in range(1, 30 // SENDS_PER_MINUTE + 1):  # the enforcer drains the outbox, minute after minute
        tick_at(stage, clock, T0 + timedelta(minutes=minute, seconds=5))
    granted = [n["title"] for n in notices(stage) if "granted" in n["title"]]
    assert sorted(granted) == sorted(f"rolepact: Agreement burst-{n:02d} granted" for n in range(30))
    assert robot(stage).refusals == [] and robot(stage).throttled_until is None
    assert most_in_any_minute(m["received"] for m in robot(stage).messages) <= 20
    assert bucket_keys(stage, "outbox/") == []


def test_the_monthly_quota_pauses_sending_and_the_outbox_goes_out_when_the_month_turns(stage, clock):
    stage.cloud.backend("dingtalk").monthly_quota = 3
    for n in range(5):
        provision(stage, agreement(f"quota-{n}", expires=EXPIRES))
    assert len(notices(stage)) == 3
    assert [code for _, code in robot(stage).refusals] == [90030]  # one refusal; then rolepact pauses
    waiting = bucket_keys(stage, "outbox/")
    assert len(waiting) == 2

    for minute in range(1, 121):  # two hours of enforcer ticks: one probe an hour, not one a minute
        tick_at(stage, clock, T0 + timedelta(minutes=minute, seconds=5))
    assert len(robot(stage).refusals) <= 3 and len(notices(stage)) == 3
    assert bucket_keys(stage, "outbox/")[:2] == waiting  # kept, at the head, in order (the auditor added more)

    tick_at(stage, clock, T0.replace(day=31, hour=16, minute=0, second=5))  # 1 April in China: a new month
    assert not set(waiting) & set(bucket_keys(stage, "outbox/"))  # the head went first (a new month: 3 more)
    assert sorted(n["title"] for n in notices(stage)[3:5]) == [f"rolepact: Agreement quota-{n} granted" for n in (3, 4)]


def test_senders_whose_clocks_differ_a_little_stay_within_20_in_any_60_seconds(stage, clock):
    """Send slots are per calendar minute of the sender's own clock, and a message reaches DingTalk
    some time after its slot was claimed (up to the gateway's timeout). So the messages DingTalk
    counts in one 60 seconds can carry the stamps of three calendar minutes: two function
    instances whose clocks are 5 s apart, each sending everything it may, must still never make
    more than 20 in any 60 seconds."""
    from shared.gateways import Gateways
    from shared.notify import Notice, Notifier
    from shared.records import Records
    from shared.settings import Credentials

    owner = Credentials(stage.owner.access_key_id, stage.owner.access_key_secret)

    def sender(lag: timedelta):
        settings = dataclasses.replace(stage.settings, credentials=owner, clock=lambda: stage.settings.now() - lag)
        gateways = Gateways.connect(settings)
        return Notifier(settings, gateways, Records(gateways.store))

    behind, on_time = sender(timedelta(seconds=5)), sender(timedelta(0))
    minute = T0.replace(second=0, microsecond=0) + timedelta(minutes=1)
    count = 0
    for moment, notifier in ((minute + timedelta(seconds=1), behind),  # its clock: the minute before
                             (minute + timedelta(seconds=2), on_time),
                             (minute + timedelta(seconds=60), on_time)):
        clock.move_to(moment)
        for _ in range(SENDS_PER_MINUTE):  # a minute's whole share, none left over for the outbox
            count += 1
            assert notifier.send(Notice(None, f"test:{count}", f"rolepact: message {count}", "rolepact")) == "sent"
    received = [m["received"] for m in robot(stage).messages]
    assert len(received) == 3 * SENDS_PER_MINUTE and robot(stage).refusals == []
    assert most_in_any_minute(received) <= 20
