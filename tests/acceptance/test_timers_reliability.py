"""Issue #5, reliability of expiry: a crash after every RAM call of a revocation, throttling and 5xx
storms, and one agreement that keeps failing without holding up the others."""
from __future__ import annotations

from datetime import timedelta

import pytest
from timer_support import (A, SEED_ID, SEED_ROLE, T0, agreement, attached, bucket_keys, clock, fake,  # noqa: F401
                           invocations, leftovers, make_timer_stage, provision, ram, seed_agreement, tick_at,
                           titled, trust_of, use_settings)

from alibabacloud_ram20150501 import models as ram_models
from shared.documents import closed_trust_policy, custom_policy_name, guard_policy_name
from shared.gateways.retry import MAX_DELAY

EXPIRES = T0 + timedelta(hours=2, minutes=30)  # away from the hourly auditor's ticks
GUARD = guard_policy_name(SEED_ID)
CUSTOM = custom_policy_name(SEED_ID, "ecs-restart-web")
# The RAM calls of the seed's revocation, in order (reads, then the planner's writes).
REVOCATION = {
    "delete-role": ["GetRole", "ListPoliciesForRole", "ListPolicies",
                    "DetachPolicyFromRole", "DetachPolicyFromRole", "DeletePolicy",
                    "DetachPolicyFromRole", "DeletePolicy", "DeleteRole"],
    "remove-trust": ["GetRole", "ListPoliciesForRole", "ListPolicies",
                     "DetachPolicyFromRole", "DetachPolicyFromRole", "UpdateRole", "DeletePolicy"],
}


def provision_seed(stage, clock, mode: str) -> None:
    """The seed, then a tick shortly before expiry (the hourly auditor runs there, not in the expiry tick)."""
    provision(stage, seed_agreement(expires=EXPIRES, on_expiry=mode))
    tick_at(stage, clock, EXPIRES - timedelta(minutes=10))


def ram_calls_since(stage, start: int) -> list[str]:
    return [r.action for r in stage.cloud.calls.records[start:] if r.service == "ram"]


def assert_ended_cleanly(stage, mode: str) -> None:
    status = stage.status(SEED_ID)
    assert status["state"] == "ended" and status["ended"]["reason"] == "expired"
    roles, policies = leftovers(stage)
    if mode == "delete-role":
        assert (roles, policies) == (set(), set())  # no orphan role or policy
    else:
        assert roles == {SEED_ROLE} and policies == {GUARD}
        assert trust_of(stage, SEED_ROLE) == closed_trust_policy(A)
        assert attached(stage, SEED_ROLE) == {("Custom", GUARD)}
    assert len(titled(stage, f"Agreement {SEED_ID} expired")) == 1
    assert bucket_keys(stage, "schedule/") == []


@pytest.mark.parametrize("mode", ["delete-role", "remove-trust"])
def test_the_revocation_makes_exactly_the_planned_calls(fake, clock, mode):
    stage = make_timer_stage(fake)
    provision_seed(stage, clock, mode)
    start = len(stage.cloud.calls.records)
    tick_at(stage, clock, EXPIRES + timedelta(seconds=30))
    assert ram_calls_since(stage, start) == REVOCATION[mode]
    assert_ended_cleanly(stage, mode)


CRASH_POINTS = [(mode, action, calls[:i + 1].count(action))
                for mode, calls in REVOCATION.items() for i, action in enumerate(calls)]


@pytest.mark.parametrize("mode,action,nth", CRASH_POINTS, ids=[f"{m}-{a}-{n}" for m, a, n in CRASH_POINTS])
def test_crash_after_each_ram_call_of_a_revocation_then_the_next_tick_converges(fake, clock, mode, action, nth):
    stage = make_timer_stage(fake)
    provision_seed(stage, clock, mode)
    crash = stage.cloud.faults.crash_after(action, service="ram", nth=nth)
    tick_at(stage, clock, EXPIRES + timedelta(seconds=30))
    assert crash.fired == 1
    [died] = invocations(stage, "expiry_enforcer", ok=False)
    assert died.error_type == "FakeCrash"
    assert stage.status(SEED_ID)["state"] == "active"  # the crash came before the status write

    tick_at(stage, clock, EXPIRES + timedelta(minutes=1, seconds=30))
    assert_ended_cleanly(stage, mode)
    before = stage.cloud.calls.count(service="ram", write=True)
    tick_at(stage, clock, EXPIRES + timedelta(minutes=2, seconds=30))
    assert stage.cloud.calls.count(service="ram", write=True) == before


def test_throttling_and_5xx_storms_complete_with_backoff(fake, clock):
    stage = make_timer_stage(fake, {"ROLEPACT_FANOUT_THRESHOLD": "3", "ROLEPACT_FANOUT_BATCH_SIZE": "2"})
    ids = [f"storm-{n}" for n in range(6)]
    for n, agreement_id in enumerate(ids):
        provision(stage, agreement(agreement_id, expires=EXPIRES + timedelta(seconds=n),
                                   on_expiry="remove-trust" if n % 2 else "delete-role"))
    sleeps: list[float] = []
    use_settings(stage, sleep=sleeps.append)
    throttle = stage.cloud.faults.chaos(0.3, code="Throttling.User", service="ram", seed=7)
    errors = stage.cloud.faults.chaos(0.1, code="InternalError", status=500, service="ram", seed=8)

    moment = EXPIRES + timedelta(seconds=30)
    for _ in range(10):  # maybe over several ticks
        tick_at(stage, clock, moment)
        if all(stage.status(i)["state"] == "ended" for i in ids):
            break
        moment += timedelta(minutes=6)  # past a failed batch's lease
    assert all(stage.status(i)["state"] == "ended" for i in ids)
    assert throttle.fired > 5 and errors.fired > 0
    assert len(sleeps) >= throttle.fired + errors.fired - 20  # nearly every failure was retried after a pause
    assert sleeps and all(0 <= s <= MAX_DELAY for s in sleeps) and max(sleeps) > 0
    stage.cloud.faults.clear()
    roles, policies = leftovers(stage)
    assert roles == {i for n, i in enumerate(ids) if n % 2}
    assert policies == {guard_policy_name(i) for n, i in enumerate(ids) if n % 2}
    assert all(trust_of(stage, role) == closed_trust_policy(A) for role in roles)
    for minute in range(1, 4):  # notices beyond the robot's share of a minute go out on the next ticks
        if not bucket_keys(stage, "outbox/"):
            break
        tick_at(stage, clock, moment + timedelta(minutes=minute))
    assert all(len(titled(stage, f"Agreement {i} expired")) == 1 for i in ids)


def test_a_failing_agreement_never_blocks_others_and_is_reported_once(fake, clock):
    stage = make_timer_stage(fake, {"ROLEPACT_FAILURE_REPORT_AFTER": "3"})
    for n, agreement_id in enumerate(["ok-1", "stuck", "ok-2"]):
        provision(stage, agreement(agreement_id, expires=EXPIRES + timedelta(seconds=n)))
    # A's admin attaches the stuck agreement's custom policy to a user: RAM refuses to delete it
    admin = ram(stage.owner)
    admin.create_user(ram_models.CreateUserRequest(user_name="bob"))
    admin.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="Custom", policy_name=custom_policy_name("stuck", "ecs-restart-web"), user_name="bob"))

    tick_at(stage, clock, EXPIRES + timedelta(seconds=30))
    assert stage.status("ok-1")["state"] == stage.status("ok-2")["state"] == "ended"
    stuck = stage.status("stuck")
    assert stuck["state"] == "active" and stuck["failures"]["count"] == 1
    assert attached(stage, "stuck") == {("Custom", guard_policy_name("stuck"))}  # permissions already gone

    for minute in range(1, 6):
        tick_at(stage, clock, EXPIRES + timedelta(minutes=minute, seconds=30))
    assert stage.status("stuck")["failures"]["count"] == 6
    [report] = titled(stage, "Agreement stuck keeps failing")
    assert "3 times in a row" in report["text"]
    assert len(titled(stage, "Agreement ok-1 expired")) == 1 and len(titled(stage, "Agreement ok-2 expired")) == 1

    admin.detach_policy_from_user(ram_models.DetachPolicyFromUserRequest(
        policy_type="Custom", policy_name=custom_policy_name("stuck", "ecs-restart-web"), user_name="bob"))
    tick_at(stage, clock, EXPIRES + timedelta(minutes=7, seconds=30))
    assert stage.status("stuck")["state"] == "ended"
    assert leftovers(stage) == (set(), set())
    assert len(titled(stage, "Agreement stuck keeps failing")) == 1
