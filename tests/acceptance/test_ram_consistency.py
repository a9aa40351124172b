"""Issue 11 item 5: RAM is eventually consistent, and rolepact converges anyway.

Right after a detach, DeleteRole / DeletePolicy may still answer DeleteConflict.* (Terraform's
alicloud provider retries exactly these). The fake models it with `RamBackend.propagation_delay`;
the executor waits with a bounded backoff through `Settings.sleep` — here a virtual clock, so no
test sleeps for real.
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import time_machine

from audit_support import T0, clock, fake  # noqa: F401
from conftest import SEED_ID, SEED_KEY, custom_policy_names, get_role, invoke, make_stage, oss_event, seed
from shared.executor import CONFLICT_WAITS
from shared.runtime import reset_settings


def virtual_sleep(stage, traveller) -> list[float]:
    """Make rolepact's sleeps move the (frozen) clock instead of waiting; returns the log of sleeps."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        traveller.shift(timedelta(seconds=seconds))

    stage.settings = dataclasses.replace(stage.settings, sleep=sleep)
    reset_settings(stage.settings)
    return slept


def test_ending_converges_while_ram_still_sees_the_detached_policies(cloud):
    stage = make_stage(cloud)
    stage.upload(SEED_KEY, seed())
    cloud.backend("ram").propagation_delay = timedelta(seconds=5)
    with time_machine.travel(cloud.now(), tick=False) as traveller:
        slept = virtual_sleep(stage, traveller)
        stage.delete(SEED_KEY)  # ends the agreement: detach everything, delete policies and the role
    assert stage.status(SEED_ID)["state"] == "ended"
    assert get_role(stage) is None and not any(n.startswith("rp-") for n in custom_policy_names(stage))
    assert slept and sum(slept) >= 5  # it waited for RAM to catch up instead of giving up
    assert all(s in CONFLICT_WAITS for s in slept)


def test_a_lag_longer_than_the_backoff_fails_the_run_and_a_later_one_finishes(cloud):
    stage = make_stage(cloud)
    stage.upload(SEED_KEY, seed())
    cloud.backend("ram").propagation_delay = timedelta(hours=1)
    with time_machine.travel(cloud.now(), tick=False) as traveller:
        slept = virtual_sleep(stage, traveller)
        stage.delete(SEED_KEY)  # FC runs the function and its async retries: each one waits, bounded
        runs = len(slept) // len(CONFLICT_WAITS)
        assert 1 <= runs <= 4 and slept == list(CONFLICT_WAITS) * runs
        assert stage.status(SEED_ID)["state"] != "ended" and get_role(stage) is not None
        assert "persisted after waiting 31 s" in stage.status(SEED_ID)["failures"]["lastError"]["message"]
        cloud.backend("ram").propagation_delay = None  # RAM has caught up
        traveller.shift(timedelta(hours=1))
        # a later run (here the removal event delivered again) finds RAM settled and finishes the job
        invoke(stage, oss_event(stage, SEED_KEY, name="ObjectRemoved:DeleteObject"))
        stage.deliver()
    assert get_role(stage) is None
    assert stage.status(SEED_ID)["state"] == "ended"


def test_waiting_for_ram_stops_before_the_function_runs_out_of_time(fake, clock):
    """The enforcer has 55 s (s.yaml). Six agreements ending in one tick, RAM lagging for an hour:
    waiting 31 s for each would need more than three minutes, and FC would kill the tick half-way
    (no failure recorded, no notices, no outbox drain). The waits stop at the invocation's deadline
    instead: the tick finishes in time, the agreements stay due, and a later tick ends them."""
    from timer_support import agreement, make_timer_stage, provision, tick_at, use_settings

    stage = make_timer_stage(fake)
    ids = [f"lagging-{n}" for n in range(6)]
    end = T0 + timedelta(days=2)
    for agreement_id in ids:
        provision(stage, agreement(agreement_id, expires=end))
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # virtual: the frozen clock moves instead
        slept.append(seconds)
        clock.shift(timedelta(seconds=seconds))

    use_settings(stage, sleep=sleep, max_concurrency=1)
    fake.backend("ram").propagation_delay = timedelta(hours=1)
    tick_at(stage, clock, end + timedelta(seconds=5))
    [tick] = [i for i in stage.fc.invocations if i.function == "expiry_enforcer" and i.ok]
    assert 0 < sum(slept) <= 55, slept  # s.yaml: expiry_enforcer timeout 55
    assert all(stage.status(i)["state"] != "ended" for i in ids)

    fake.backend("ram").propagation_delay = None  # RAM caught up: a later tick ends them all
    tick_at(stage, clock, end + timedelta(hours=1, minutes=5))
    assert all(stage.status(i)["state"] == "ended" for i in ids)
