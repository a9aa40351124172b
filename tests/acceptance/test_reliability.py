"""Issue #4 acceptance, part 3: redelivery, reordering, concurrency and crashes all converge.

FC delivers OSS events at least once, in any order, possibly to several instances at once,
and an instance may die between two RAM writes. Whatever happens, RAM ends up holding
exactly what the agreement files say — no orphan role or policy — and each notice is sent once.
"""
from __future__ import annotations

import hashlib
import json
import random
import threading
from datetime import timedelta

import pytest

from conftest import (A, FC_ROLE_POLICIES, FC_ROLES, SEED_ID, SEED_KEY, attached, custom_policy_names,
                      enqueue, expected_policies, failed_invocations, file_bytes, get_role, iso, now, oss_event,
                      policy_document, ram_snapshot, ram_writes, role_names, seed, titles)

AGREEMENTS = {  # key -> agreement
    "agreements/b-ecs.json": seed(),
    "agreements/b-readonly.json": seed(agreementId="b-readonly", role__name="b-readonly",
                                       policies=[{"type": "System", "name": "AliyunECSReadOnlyAccess"}]),
    "agreements/team/c-ops.json": seed(agreementId="c-ops", role__name="c-ops", onExpiry="remove-trust",
                                       conditions={"externalId": "c-123456"}),
}


def put_direct(stage, key: str, doc: dict) -> bytes:
    """Store a file without an event (the test delivers the events itself)."""
    data = file_bytes(doc)
    stage.cloud.backend("oss").put_object_direct(A, stage.bucket, key, data)
    return data


def created_event(stage, key: str, data: bytes) -> bytes:
    return oss_event(stage, key, etag=hashlib.md5(data).hexdigest().upper(), size=len(data))


def assert_exactly(stage, agreements: dict) -> None:
    """RAM holds exactly the roles and policies of `agreements` (plus rolepact's own), each as agreed."""
    roles = {doc["role"]["name"] for doc in agreements.values()}
    assert role_names(stage) == FC_ROLES | roles
    wanted = set()
    for key, doc in agreements.items():
        custom = [p["name"] for p in doc["policies"] if p["type"] == "Custom"]
        names = expected_policies(doc["agreementId"], *custom)
        wanted |= names
        assert attached(stage, doc["role"]["name"]) == (
            {("Custom", n) for n in names} | {("System", p["name"]) for p in doc["policies"] if p["type"] == "System"})
        status = stage.status(doc["agreementId"])
        assert status["state"] == "active" and status["sourceKey"] == key
        assert status["digest"] == hashlib.sha256(file_bytes(doc)).hexdigest()
        assert status["expiresAt"] == doc["expiresAt"]
        for policy in doc["policies"]:
            if policy["type"] == "Custom":
                [name] = expected_policies(doc["agreementId"], policy["name"]) - expected_policies(doc["agreementId"])
                assert policy_document(stage, name) == policy["document"]
    assert custom_policy_names(stage) == FC_ROLE_POLICIES | wanted


def test_redelivered_and_shuffled_events_converge_with_one_notice_each(stage):
    events = []
    for key, doc in AGREEMENTS.items():
        events.append(created_event(stage, key, put_direct(stage, key, doc)))
    # An amendment of the first agreement, uploaded after its first event was sent.
    amended = {**AGREEMENTS, "agreements/b-ecs.json": seed(expiresAt=iso(now() + timedelta(days=60)))}
    events.append(created_event(stage, "agreements/b-ecs.json",
                                put_direct(stage, "agreements/b-ecs.json", amended["agreements/b-ecs.json"])))
    deliveries = events * 3
    random.Random(4).shuffle(deliveries)
    for payload in deliveries:
        enqueue(stage, payload)
    stage.deliver()
    assert not failed_invocations(stage)
    assert_exactly(stage, amended)
    counts = titles(stage)
    assert counts == {f"rolepact: Agreement {doc['agreementId']} granted": 1 for doc in amended.values()}

    # Delivering everything again, in another order, changes nothing and says nothing.
    snapshot, writes = ram_snapshot(stage), ram_writes(stage.cloud)
    random.Random(5).shuffle(deliveries)
    for payload in deliveries:
        enqueue(stage, payload)
    stage.deliver()
    assert (ram_snapshot(stage), ram_writes(stage.cloud), titles(stage)) == (snapshot, writes, counts)


def test_the_same_upload_delivered_three_times(stage):
    doc = seed()
    stage.upload(SEED_KEY, doc, deliver=False)
    [notification] = [n for n in stage.cloud.backend("oss").notifications if b"agreements/" in n.payload]
    enqueue(stage, notification.payload)
    enqueue(stage, notification.payload)
    stage.deliver()
    assert len(stage.fc.invocations) == 3 and not failed_invocations(stage)
    assert_exactly(stage, {SEED_KEY: doc})
    assert titles(stage) == {f"rolepact: Agreement {SEED_ID} granted": 1}


def test_concurrent_invocations_for_the_same_key_converge(stage):
    from functions.agreement_intake import handler

    spec = stage.fc.get_function(A, stage.wiring.service_name, "agreement_intake")
    for key, doc in AGREEMENTS.items():
        payload = created_event(stage, key, put_direct(stage, key, doc))
        barrier, errors = threading.Barrier(3), []

        def run(n: int) -> None:
            try:
                context = stage.fc.context_for(spec, f"concurrent-{n}")
                barrier.wait()
                handler(payload, context)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
    assert_exactly(stage, AGREEMENTS)
    assert titles(stage) == {f"rolepact: Agreement {doc['agreementId']} granted": 1 for doc in AGREEMENTS.values()}
    writes = ram_writes(stage.cloud)
    for key, doc in AGREEMENTS.items():
        enqueue(stage, created_event(stage, key, file_bytes(doc)))
    stage.deliver()
    assert ram_writes(stage.cloud) == writes


PROVISION_WRITES = [("CreateRole", 1), ("CreatePolicy", 1), ("AttachPolicyToRole", 1), ("CreatePolicy", 2),
                    ("AttachPolicyToRole", 2), ("AttachPolicyToRole", 3)]


@pytest.mark.parametrize("action, nth", PROVISION_WRITES, ids=[f"{a}-{n}" for a, n in PROVISION_WRITES])
def test_crash_after_each_write_of_a_provision(stage, action, nth):
    doc = seed()
    stage.cloud.faults.crash_after(action, service="ram", nth=nth)
    stage.upload(SEED_KEY, doc)  # FC's async retry redelivers after the crash
    attempts = [(i.ok, i.error_type) for i in stage.fc.invocations]
    assert attempts == [(False, "FakeCrash"), (True, None)]
    assert_exactly(stage, {SEED_KEY: doc})
    assert titles(stage) == {f"rolepact: Agreement {SEED_ID} granted": 1}
    # The crashed write is not repeated: the retry did only what was left.
    assert stage.cloud.calls.count(service="ram", write=True, ok=True) - 3 == 6


AMENDED = seed(
    expiresAt=iso(now() + timedelta(days=60)),
    role__maxSessionDurationSeconds=7200,
    policies=[
        {"type": "System", "name": "AliyunECSReadOnlyAccess"},
        {"type": "Custom", "name": "ecs-restart-web", "document": {"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:RebootInstance"], "Resource": "acs:ecs:*:1234567890123456:instance/*"}]}},
        {"type": "Custom", "name": "ecs-snapshots", "document": {"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:CreateSnapshot"], "Resource": "*"}]}},
    ])
AMEND_WRITES = [("CreatePolicyVersion", 1), ("DetachPolicyFromRole", 1), ("UpdateRole", 1),
                ("CreatePolicyVersion", 2), ("CreatePolicy", 1), ("AttachPolicyToRole", 1),
                ("AttachPolicyToRole", 2)]


@pytest.mark.parametrize("action, nth", AMEND_WRITES, ids=[f"{a}-{n}" for a, n in AMEND_WRITES])
def test_crash_after_each_write_of_an_amendment(stage, action, nth):
    stage.upload(SEED_KEY, seed())
    invocations = len(stage.fc.invocations)
    writes = ram_writes(stage.cloud)
    stage.cloud.faults.crash_after(action, service="ram", nth=nth)
    stage.upload(SEED_KEY, AMENDED)
    attempts = [(i.ok, i.error_type) for i in stage.fc.invocations[invocations:]]
    assert attempts == [(False, "FakeCrash"), (True, None)]
    assert_exactly(stage, {SEED_KEY: AMENDED})
    assert get_role(stage).max_session_duration == 7200
    assert ram_writes(stage.cloud) - writes == len(AMEND_WRITES)
    assert titles(stage) == {f"rolepact: Agreement {SEED_ID} granted": 1, f"rolepact: Agreement {SEED_ID} amended": 1}


def test_amendment_writes_are_the_planned_ones(stage):
    """The list above is what an uninterrupted amendment does (so every write was crashed once)."""
    stage.upload(SEED_KEY, seed())
    mark = len(stage.cloud.calls.records)
    stage.upload(SEED_KEY, AMENDED)
    done = [r.action for r in stage.cloud.calls.records[mark:] if r.service == "ram" and r.write]
    seen: dict = {}
    numbered = []
    for action in done:
        seen[action] = seen.get(action, 0) + 1
        numbered.append((action, seen[action]))
    assert numbered == AMEND_WRITES


def test_crash_after_each_write_of_an_end(stage):
    for nth in (1, 2, 3, 4, 5, 6):
        stage.upload(SEED_KEY, seed())
        assert get_role(stage) is not None
        invocations = len(stage.fc.invocations)
        rule = stage.cloud.faults.crash_after(service="ram", nth=nth)
        stage.delete(SEED_KEY)
        stage.cloud.faults.clear()
        attempts = [(i.ok, i.error_type) for i in stage.fc.invocations[invocations:]]
        assert attempts[-1] == (True, None) and rule.fired <= 1
        assert role_names(stage) == FC_ROLES and custom_policy_names(stage) == FC_ROLE_POLICIES
        assert stage.status(SEED_ID)["state"] == "ended"


@pytest.mark.parametrize("service", ["ram", "oss"])
def test_throttling_and_server_errors_converge(stage, service):
    for key, doc in AGREEMENTS.items():
        stage.upload(key, doc, deliver=False)
    stage.cloud.faults.chaos(0.3, service=service, code="Throttling.User", seed=7)
    stage.cloud.faults.chaos(0.1, service=service, code="ServiceUnavailable", seed=8)
    stage.deliver()
    stage.cloud.faults.clear()
    assert stage.cloud.calls.count(service=service, ok=False) > 5  # the faults did fire
    assert_exactly(stage, AGREEMENTS)
    assert titles(stage) == {f"rolepact: Agreement {doc['agreementId']} granted": 1 for doc in AGREEMENTS.values()}


def test_an_id_moving_to_another_file_before_the_old_files_deletion_is_handled(stage):
    """file one is deleted and file two takes over its id; two's event arrives before one's deletion."""
    stage.upload("agreements/one.json", seed())
    moved = seed(role__name="ecs-admin-2", expiresAt=iso(now() + timedelta(days=90)))
    [trigger] = stage.wiring.function("agreement_intake").triggers
    stage.fc.remove_trigger(A, stage.wiring.service_name, "agreement_intake", trigger["name"])
    oss = stage.cloud.backend("oss")
    stage.delete("agreements/one.json")
    stage.upload("agreements/two.json", moved)
    removed, created = (n.payload for n in oss.notifications[-2:])
    enqueue(stage, created)  # FC delivers them the other way round
    enqueue(stage, removed)
    stage.deliver()
    assert not failed_invocations(stage)
    assert_exactly(stage, {"agreements/two.json": moved})
    assert titles(stage) == {f"rolepact: Agreement {SEED_ID} granted": 2, f"rolepact: Agreement {SEED_ID} ended": 1}


def test_one_event_with_several_records(stage):
    records = []
    for key, doc in AGREEMENTS.items():
        records += json.loads(created_event(stage, key, put_direct(stage, key, doc)))["events"]
    records.append(json.loads(oss_event(stage, "agreements/gone.json", name="ObjectRemoved:DeleteObject"))["events"][0])
    enqueue(stage, json.dumps({"events": records}).encode("utf-8"))
    stage.deliver()
    assert [i.ok for i in stage.fc.invocations] == [True]
    assert_exactly(stage, AGREEMENTS)
