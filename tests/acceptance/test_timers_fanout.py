"""Issue #5, fan-out: more agreements due than one invocation should handle go to reconcile_worker by
asynchronous invocation (FC's async queue of the fake), with leases, FC retries and the
on-failure destination -- on both deployments: FC 2.0 (fc2 SDK, service `rolepact`) and FC 3.0
(alibabacloud_fc20230330, functions without a service, async invoke config per function)."""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from timer_support import (A, T0, agreement, bucket_keys, clock, fake, invocations, leftovers,  # noqa: F401
                           make_timer_stage, provision, tick_at, titled, trail_events)

FANOUT = {"ROLEPACT_FANOUT_THRESHOLD": "3", "ROLEPACT_FANOUT_BATCH_SIZE": "2"}
EXPIRES = T0 + timedelta(days=2)
IDS = [f"partner-ops-{n:02d}" for n in range(10)]


@pytest.fixture(params=["fc2", "fc3"])
def fc_api(request) -> str:
    return request.param


def ten_due(fake, fc_api, **environment):
    """10 agreements expiring within the same minute, on the FC 2.0 or FC 3.0 deployment."""
    stage = make_timer_stage(fake, {**FANOUT, **environment}, fc_api=fc_api)
    assert (stage.settings.fanout_threshold, stage.settings.fanout_batch_size) == (3, 2)
    assert stage.settings.fc_api == fc_api
    for n, agreement_id in enumerate(IDS):
        provision(stage, agreement(agreement_id, expires=EXPIRES + timedelta(seconds=3 * n)))
    return stage


def batches(stage) -> list[list[str]]:
    return [json.loads(i.payload)["agreementIds"] for i in invocations(stage, "reconcile_worker") if i.attempt == 1]


def deleted_roles(stage) -> Counter:
    events = trail_events(stage, stage.owner, "DeleteRole", T0, EXPIRES + timedelta(hours=1))
    return Counter(json.dumps(e.get("requestParameters") or {}) for e in events if e.get("errorCode") in (None, ""))


def all_ended(stage) -> bool:
    return all(stage.status(i)["state"] == "ended" for i in IDS)


def drain_outbox(stage, clock) -> None:
    """The next minutes' ticks: what did not fit in the robot's share of sends a minute
    (shared.notify.SENDS_PER_MINUTE) goes out now, a minute's share per tick."""
    for minute in range(1, 4):
        tick_at(stage, clock, EXPIRES + timedelta(minutes=minute, seconds=50))
        if not bucket_keys(stage, "outbox/"):
            return
    assert bucket_keys(stage, "outbox/") == []


def worker_service(stage):
    """Where the worker runs: service `rolepact` on FC 2.0, no service on FC 3.0."""
    return "rolepact" if stage.settings.fc_api == "fc2" else None


def test_ten_due_fan_out_to_workers_through_fc(fake, clock, fc_api):
    stage = ten_due(fake, fc_api)
    deletes = stage.cloud.calls.count("DeleteRole", service="ram")
    tick_at(stage, clock, EXPIRES + timedelta(seconds=50))

    workers = invocations(stage, "reconcile_worker")
    assert len(workers) == 5 and all(w.ok and w.invocation_type == "Async" for w in workers)
    assert {w.service for w in workers} == {worker_service(stage)}
    assert stage.cloud.calls.count("InvokeFunction", service="fc") == 5  # the enforcer's API calls, one a batch
    assert sorted(i for batch in batches(stage) for i in batch) == IDS
    assert all(len(batch) == 2 for batch in batches(stage))
    assert all_ended(stage)
    assert leftovers(stage) == (set(), set())
    assert stage.cloud.calls.count("DeleteRole", service="ram") - deletes == 10
    assert len(deleted_roles(stage)) == 10 and set(deleted_roles(stage).values()) == {1}  # each role once
    assert bucket_keys(stage, "state/leases/") == [] and bucket_keys(stage, "schedule/") == []

    drain_outbox(stage, clock)  # nothing left: no more workers, no writes
    assert len(titled(stage, "expired")) == 10  # the robot takes 6 a minute: the rest came from the outbox
    assert len(invocations(stage, "reconcile_worker")) == 5
    assert stage.cloud.calls.count("DeleteRole", service="ram") - deletes == 10


def test_leases_prevent_double_dispatch(fake, clock, fc_api):
    stage = ten_due(fake, fc_api)
    clock.move_to(EXPIRES + timedelta(seconds=50))
    stage.fc.fire_due_timers()
    stage.fc.run_pending(max_rounds=1)  # the enforcer ran and queued 5 batches; no worker ran yet
    assert stage.fc.pending == 5 and len(bucket_keys(stage, "state/leases/")) == 5

    clock.move_to(EXPIRES + timedelta(minutes=1, seconds=50))  # the next tick, while the batches wait
    result = stage.fc.invoke_sync(A, stage.wiring.service_name, "expiry_enforcer", json.dumps(
        {"triggerTime": "2027-03-03T09:01:20Z", "triggerName": "every-minute", "payload": ""}).encode())
    report = json.loads(result.body)
    assert report["due"] == 10 and report["leased"] == 10 and report["dispatched"] == [] and not report["processed"]
    assert stage.fc.pending == 5

    stage.deliver()
    assert len(invocations(stage, "reconcile_worker")) == 5 and all_ended(stage)
    assert stage.cloud.calls.count("DeleteRole", service="ram") == 10


def test_a_worker_failing_twice_then_succeeding_converges(fake, clock, fc_api):
    stage = ten_due(fake, fc_api, ROLEPACT_MAX_ATTEMPTS="1")  # no retry inside the gateway: FC's retry must do it
    # batches run one after the other; the last batch's second DeleteRole and its first retry fail
    fault = stage.cloud.faults.fail("DeleteRole", service="ram", nth=10, times=2, code="InternalError")
    tick_at(stage, clock, EXPIRES + timedelta(seconds=50))

    assert fault.fired == 2
    attempts = Counter(json.dumps(json.loads(i.payload)["agreementIds"]) for i in invocations(stage, "reconcile_worker"))
    assert sorted(attempts.values()) == [1, 1, 1, 1, 3]  # one batch: failed, failed, succeeded
    [flaky] = [i for i in invocations(stage, "reconcile_worker") if i.attempt == 3]
    assert flaky.ok and not stage.fc.failed_invocations
    assert all_ended(stage) and leftovers(stage) == (set(), set())
    assert stage.cloud.calls.count("DeleteRole", service="ram", ok=True) == 10
    assert len(deleted_roles(stage)) == 10 and set(deleted_roles(stage).values()) == {1}
    drain_outbox(stage, clock)
    assert len(titled(stage, "expired")) == 10
    assert not titled(stage, "failed after all retries")


def test_a_batch_failing_every_retry_reaches_the_destination_and_the_next_ticks_finish_it(fake, clock, fc_api):
    stage = ten_due(fake, fc_api, ROLEPACT_MAX_ATTEMPTS="1")
    stage.cloud.faults.fail("DeleteRole", service="ram", nth=10, times=4, code="InternalError")  # 1 + 3 FC retries
    tick_at(stage, clock, EXPIRES + timedelta(seconds=50))

    [failed_batch] = [i for i in invocations(stage, "expiry_enforcer") if i.source == "destination"]
    assert failed_batch.ok
    destination = json.loads(failed_batch.payload)
    stuck_batch = json.loads(destination["requestPayload"])["agreementIds"]
    assert destination["requestContext"]["approximateInvokeCount"] == 4
    assert destination["requestContext"]["functionArn"] == (
        f"acs:fc:{stage.region}:{A}:services/rolepact.LATEST/functions/reconcile_worker" if fc_api == "fc2"
        else f"acs:fc:{stage.region}:{A}:functions/reconcile_worker")
    drain_outbox(stage, clock)
    [report] = titled(stage, "failed after all retries")
    assert all(i in report["text"] for i in stuck_batch)
    stuck = [i for i in IDS if stage.status(i)["state"] != "ended"]
    assert len(stuck) == 1 and stuck[0] in stuck_batch
    assert len(titled(stage, f"Agreement {stuck[0]} keeps failing")) == 1  # 3 failures in a row (default)

    tick_at(stage, clock, EXPIRES + timedelta(minutes=2))  # still leased: nobody touches it
    assert stage.status(stuck[0])["state"] == "active"
    assert len(invocations(stage, "reconcile_worker")) == 4 + 4

    tick_at(stage, clock, EXPIRES + timedelta(minutes=6, seconds=30))  # the lease ended: this tick finishes it
    assert all_ended(stage) and leftovers(stage) == (set(), set())
    assert len(titled(stage, "failed after all retries")) == 1
    assert len(titled(stage, f"Agreement {stuck[0]} keeps failing")) == 1
    assert len(deleted_roles(stage)) == 10 and set(deleted_roles(stage).values()) == {1}
    # a redelivered destination event is not reported again
    stage.fc.invoke_async(A, stage.wiring.service_name, "expiry_enforcer", failed_batch.payload, source="destination")
    stage.deliver()
    assert len(titled(stage, "failed after all retries")) == 1


@pytest.mark.parametrize("crash_at", ["DetachPolicyFromRole", "DeleteRole"])
def test_a_crashed_worker_is_retried_by_fc(fake, clock, crash_at, fc_api):
    stage = ten_due(fake, fc_api)
    stage.cloud.faults.crash_after(crash_at, service="ram", nth=3)
    tick_at(stage, clock, EXPIRES + timedelta(seconds=50))
    crashed = [i for i in invocations(stage, "reconcile_worker") if not i.ok]
    assert len(crashed) == 1 and crashed[0].error_type == "FakeCrash"
    assert all_ended(stage) and leftovers(stage) == (set(), set())
    assert len(deleted_roles(stage)) == 10
    drain_outbox(stage, clock)
    assert len(titled(stage, "expired")) == 10
