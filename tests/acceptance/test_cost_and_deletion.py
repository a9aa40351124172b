"""Issue #4 acceptance, parts 4 and 5: RAM writes are the minimum; deleting the file ends at once."""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from conftest import (DROP, A, FC_ROLE_POLICIES, FC_ROLES, ROLE_ARN, SEED_ID, SEED_KEY, assume, attached,
                      custom_policy_names, describe_instance, enqueue, expected_policies, get_role, iso,
                      notices, now, partner_user, policy_document, ram_writes, refused, role_names, seed,
                      seed_instance, stop_instance, titles)


def ram_write_counts(stage, since: int = 0) -> Counter:
    return Counter(r.action for r in stage.cloud.calls.records[since:] if r.service == "ram" and r.write)


# ================================================================================ cost
def test_provision_makes_the_minimum_writes(stage):
    mark = len(stage.cloud.calls.records)
    stage.upload(SEED_KEY, seed())
    # CreateRole, CreatePolicy per custom policy + the guard, AttachPolicyToRole per policy.
    assert ram_write_counts(stage, mark) == {"CreateRole": 1, "CreatePolicy": 2, "AttachPolicyToRole": 3}


def test_provision_without_custom_policies(stage):
    mark = len(stage.cloud.calls.records)
    stage.upload(SEED_KEY, seed(startsAt=DROP, policies=[{"type": "System", "name": "AliyunECSReadOnlyAccess"},
                                                         {"type": "System", "name": "AliyunECSFullAccess"}]))
    assert ram_write_counts(stage, mark) == {"CreateRole": 1, "CreatePolicy": 1, "AttachPolicyToRole": 3}


def test_unchanged_file_makes_no_writes(stage):
    doc = seed()
    stage.upload(SEED_KEY, doc)
    writes = ram_writes(stage.cloud)
    [notification] = [n for n in stage.cloud.backend("oss").notifications if b"agreements/" in n.payload]
    enqueue(stage, notification.payload)  # the same event again
    stage.deliver()
    stage.upload(SEED_KEY, doc)  # the same bytes uploaded again
    assert ram_writes(stage.cloud) == writes
    assert len(notices(stage)) == 1


def test_extending_expiry_makes_one_policy_version(stage):
    doc = seed()
    stage.upload(SEED_KEY, doc)
    trust = get_role(stage).assume_role_policy_document
    mark = len(stage.cloud.calls.records)
    later = iso(now() + timedelta(days=90))
    stage.upload(SEED_KEY, {**doc, "expiresAt": later})
    assert ram_write_counts(stage, mark) == {"CreatePolicyVersion": 1}  # the window is the guard's alone
    assert get_role(stage).assume_role_policy_document == trust
    [guard] = expected_policies(SEED_ID)
    assert {"Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateGreaterThanEquals": {"acs:CurrentTime": later}}} in policy_document(stage, guard)["Statement"]
    status = stage.status(SEED_ID)
    assert status["state"] == "active" and status["expiresAt"] == later
    assert titles(stage)[f"rolepact: Agreement {SEED_ID} amended"] == 1


@pytest.mark.parametrize("change, writes", [
    ({"policies": seed()["policies"] + [{"type": "System", "name": "AliyunECSReadOnlyAccess"}]},
     {"AttachPolicyToRole": 1}),
    ({"policies": seed()["policies"][1:]}, {"DetachPolicyFromRole": 1}),
    ({"policies": seed()["policies"][:1]}, {"DetachPolicyFromRole": 1, "DeletePolicy": 1}),
    ({"role": {**seed()["role"], "maxSessionDurationSeconds": 7200}}, {"UpdateRole": 1}),
    ({"conditions": {"externalId": "b-new-id"}}, {"UpdateRole": 1, "CreatePolicyVersion": 1}),
])
def test_amendment_applies_only_the_difference(stage, change, writes):
    doc = seed()
    stage.upload(SEED_KEY, doc)
    mark = len(stage.cloud.calls.records)
    stage.upload(SEED_KEY, {**doc, **change})
    assert ram_write_counts(stage, mark) == writes


def test_policy_versions_rotate_within_rams_limit(stage):
    doc = seed()
    for day in range(8):  # more amendments than RAM keeps versions (5)
        stage.upload(SEED_KEY, {**doc, "expiresAt": iso(now() + timedelta(days=40 + day))})
        assert stage.status(SEED_ID)["lastUpload"]["result"] == "applied"
    assert not [i for i in stage.fc.invocations if not i.ok]


# ================================================================================ deletion
def test_delete_role_agreement_ends_at_once(stage):
    instance = seed_instance(stage)
    stage.upload(SEED_KEY, seed())
    alice = partner_user(stage, "alice")
    session = assume(stage, alice, "alice")
    assert describe_instance(session, instance).status == "Running"

    stage.delete(SEED_KEY)
    assert get_role(stage) is None
    assert role_names(stage) == FC_ROLES and custom_policy_names(stage) == FC_ROLE_POLICIES
    refused(lambda: assume(stage, alice, "again"), "EntityNotExist.Role")
    with pytest.raises(Exception):
        describe_instance(session, instance)  # the live session lost every permission with its role
    assert describe_instance(stage.owner, instance).status == "Running"

    status = stage.status(SEED_ID)
    assert status["state"] == "ended"
    assert status["ended"]["reason"] == "deleted"
    assert {line.split()[0] for line in status["ended"]["removed"]} == {
        "ram:DetachPolicyFromRole", "ram:DeletePolicy", "ram:DeleteRole"}
    [end] = [n for n in notices(stage) if "ended" in n["title"] or "Ended" in n["title"]]
    assert end["title"] == f"rolepact: Agreement {SEED_ID} ended"
    assert "ram:DeleteRole RoleName=ecs-admin" in end["text"] and ROLE_ARN in end["text"]


def test_remove_trust_agreement_keeps_a_role_nobody_outside_can_use(stage):
    instance = seed_instance(stage)
    stage.upload(SEED_KEY, seed(onExpiry="remove-trust"))
    alice = partner_user(stage, "alice")
    session = assume(stage, alice, "alice")

    stage.delete(SEED_KEY)
    role = get_role(stage)
    assert role is not None
    assert json.loads(role.assume_role_policy_document) == {"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{A}:root"]}}]}
    assert attached(stage) <= {("Custom", name) for name in expected_policies(SEED_ID)}  # only the deny guard
    assert custom_policy_names(stage) - FC_ROLE_POLICIES <= expected_policies(SEED_ID)
    refused(lambda: assume(stage, alice, "again"))
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")
    refused(lambda: stop_instance(session, instance), "Forbidden.RAM")
    status = stage.status(SEED_ID)
    assert status["state"] == "ended" and status["ended"]["reason"] == "deleted"
    assert any("UpdateRole" in line for line in status["ended"]["removed"])
    assert titles(stage)[f"rolepact: Agreement {SEED_ID} ended"] == 1


def test_deleting_a_refused_duplicate_does_not_end_the_agreement(stage):
    stage.upload("agreements/one.json", seed())
    stage.upload("agreements/two.json", seed())
    writes = ram_writes(stage.cloud)
    stage.delete("agreements/two.json")
    assert ram_writes(stage.cloud) == writes and stage.status(SEED_ID)["state"] == "active"


def test_deleted_and_uploaded_again_is_granted_again_with_notices(stage):
    doc = seed()
    stage.upload(SEED_KEY, doc)
    stage.delete(SEED_KEY)
    stage.upload(SEED_KEY, doc)
    assert stage.status(SEED_ID)["state"] == "active" and get_role(stage) is not None
    stage.delete(SEED_KEY)
    assert stage.status(SEED_ID)["state"] == "ended" and get_role(stage) is None
    assert titles(stage) == {f"rolepact: Agreement {SEED_ID} granted": 2, f"rolepact: Agreement {SEED_ID} ended": 2}


def test_changing_the_id_in_a_file_is_refused(stage):
    doc = seed()
    stage.upload(SEED_KEY, doc)
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, {**doc, "agreementId": "renamed-agreement", "role": {**doc["role"], "name": "other"}})
    assert ram_writes(stage.cloud) == writes
    status = stage.status(SEED_ID)
    assert status["state"] == "active" and status["lastUpload"]["result"] == "rejected"
    assert status["lastUpload"]["errors"][0]["path"] == "agreementId"
    # Deleting the file still ends the agreement it holds.
    stage.delete(SEED_KEY)
    assert stage.status(SEED_ID)["state"] == "ended" and get_role(stage) is None
    assert role_names(stage) == FC_ROLES
