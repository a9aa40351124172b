"""Issue #4 acceptance, part 1: the seed scenario through the intake function.

A uploads the seed agreement; FC's OSS trigger runs the intake function; B's Alice assumes
the role and manages A's ECS, and RAM itself (the fake's policy evaluator) refuses everything
the agreement does not allow — including, after expiresAt, a session Alice already holds.
"""
from __future__ import annotations

import json
from datetime import timedelta

import time_machine
from alibabacloud_ram20150501 import models as ram_models

from conftest import (A, B, EXTERNAL_ID, OUTSIDE_IP, PARTNER_IP, ROLE, ROLE_ARN, SEED_ID, SEED_KEY, assume,
                      attached, describe_instance, expected_policies, failed_invocations, file_bytes, get_role,
                      iso, notices, now, partner_user, policy_document, ram, ram_writes, refused, seed, seed_instance,
                      sha256, stop_instance)


def test_seed_through_the_function(stage):
    instance = seed_instance(stage)
    doc = seed()
    stage.upload(SEED_KEY, doc)
    assert [i.source for i in stage.fc.invocations] == ["oss"] and not failed_invocations(stage)

    # The role exists exactly as agreed.
    role = get_role(stage)
    trust = json.loads(role.assume_role_policy_document)
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"RAM": [f"acs:ram::{B}:root"]}
    # Only what RAM documents for trust policies; the window and networks are the guard policy's.
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
    assert role.max_session_duration == 3600
    guard, custom = sorted(expected_policies(SEED_ID, "ecs-restart-web"))
    assert attached(stage) == {("System", "AliyunECSFullAccess"), ("Custom", guard), ("Custom", custom)}
    assert policy_document(stage, custom) == doc["policies"][1]["document"]

    # Alice (B) manages A's ECS through the role.
    alice = partner_user(stage, "alice")
    session = assume(stage, alice, "alice")
    assert describe_instance(session, instance).status == "Running"
    stop_instance(session, instance)
    assert describe_instance(stage.owner, instance).status == "Stopped"

    # Status record.
    status = stage.status(SEED_ID)
    assert status["state"] == "active"
    assert status["roleArn"] == ROLE_ARN
    assert status["digest"] == sha256(file_bytes(doc))
    assert status["sourceKey"] == SEED_KEY
    assert status["expiresAt"] == doc["expiresAt"] and status["startsAt"] == doc["startsAt"]
    assert [a["api"] for a in status["actions"]] == ["CreateRole", "CreatePolicy", "AttachPolicyToRole",
                                                     "CreatePolicy", "AttachPolicyToRole", "AttachPolicyToRole"]
    pack = status["onboarding"]
    assert pack["roleArn"] == ROLE_ARN
    assert pack["externalId"] == EXTERNAL_ID
    assert pack["expiresAt"] == doc["expiresAt"]
    assert pack["partnerPolicy"] == {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN}]}
    # With an ExternalId: no console Switch Role (it cannot pass one), an explicit CLI AssumeRole, the SDK.
    assert pack["paths"] == ["sdk", "cli"] and "consoleSwitchRole" not in pack
    assert f"--ExternalId {EXTERNAL_ID}" in pack["cliProfile"] and ROLE_ARN in pack["cliProfile"]
    assert f'external_id="{EXTERNAL_ID}"' in pack["sdkSnippet"] and ROLE_ARN in pack["sdkSnippet"]

    # The DingTalk grant notice carries the onboarding pack.
    [grant] = [n for n in notices(stage) if "granted" in n["title"]]
    assert grant["title"] == f"rolepact: Agreement {SEED_ID} granted"
    for part in (ROLE_ARN, "--ExternalId", f'external_id="{EXTERNAL_ID}"', doc["expiresAt"], "sts:AssumeRole",
                 "AliyunSTSAssumeRoleAccess", "cannot pass the ExternalId", f'"Resource": "{ROLE_ARN}"',
                 '"Action": "sts:AssumeRole"'):
        assert part in grant["text"], part


def test_what_the_agreement_does_not_allow_is_denied_by_ram(stage):
    instance = seed_instance(stage)
    doc = seed(partner__principals=["user/alice"])
    stage.upload(SEED_KEY, doc)
    alice = partner_user(stage, "alice")
    bob = partner_user(stage, "bob")

    # Bob: a partner principal the agreement does not list.
    refused(lambda: assume(stage, bob, "bob"))
    # Alice without the agreed ExternalId, or with a wrong one.
    refused(lambda: assume(stage, alice, "no-ext", external_id=None))
    refused(lambda: assume(stage, alice, "wrong-ext", external_id="b-0000000"))
    # Alice from outside the agreed networks: the guard policy refuses whatever she does.
    stage.cloud.set_caller_context(alice.access_key_id, source_ip=OUTSIDE_IP)
    outside = assume(stage, alice, "outside", source_ip=None)
    refused(lambda: describe_instance(outside, instance), "Forbidden.RAM")
    stage.cloud.set_caller_context(alice.access_key_id, source_ip=PARTNER_IP)
    # ... and Alice as agreed works.
    session = assume(stage, alice, "alice")
    assert describe_instance(session, instance).status == "Running"
    # A session used from outside the agreed networks is refused by the guard policy.
    stage.cloud.set_caller_context(session.access_key_id, source_ip=OUTSIDE_IP)
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")
    stage.cloud.set_caller_context(session.access_key_id, source_ip=PARTNER_IP)
    assert describe_instance(session, instance).status == "Running"
    # Through a VPC endpoint the call carries no public acs:SourceIp: the guard refuses it too
    # (NotIpAddressIfExists), whichever way the fake models the missing key.
    stage.cloud.set_caller_context(session.access_key_id, vpc_id="vpc-partner")
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")
    stage.cloud.vpc_source_ip = "private"
    stage.cloud.set_caller_context(session.access_key_id, source_ip="192.168.0.7")
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")


def test_time_window_is_enforced_by_ram_itself(stage):
    instance = seed_instance(stage)
    starts, expires = now() + timedelta(days=2), now() + timedelta(days=10)
    doc = seed(startsAt=iso(starts), expiresAt=iso(expires))
    stage.upload(SEED_KEY, doc)
    assert stage.status(SEED_ID)["state"] == "scheduled"
    alice = partner_user(stage, "alice")

    early = assume(stage, alice, "too-early")  # before startsAt the trust lets her in, the guard refuses all
    refused(lambda: describe_instance(early, instance), "Forbidden.RAM")
    with time_machine.travel(starts + timedelta(seconds=1), tick=False):
        session = assume(stage, alice, "alice")
        assert describe_instance(session, instance).status == "Running"
    invocations = len(stage.fc.invocations)
    writes = ram_writes(stage.cloud)
    with time_machine.travel(expires - timedelta(minutes=30), tick=False):  # a session that outlives the deal
        session = assume(stage, alice, "alice-late")
    with time_machine.travel(expires - timedelta(seconds=1), tick=False):
        assert describe_instance(session, instance).status == "Running"
    with time_machine.travel(expires, tick=False):  # the exact second: no timer, no function
        refused(lambda: describe_instance(session, instance), "Forbidden.RAM")
        refused(lambda: stop_instance(session, instance), "Forbidden.RAM")
        late = assume(stage, alice, "too-late")
        refused(lambda: describe_instance(late, instance), "Forbidden.RAM")
    with time_machine.travel(expires + timedelta(minutes=20), tick=False):  # the session itself is still valid
        refused(lambda: describe_instance(session, instance), "Forbidden.RAM")
    assert len(stage.fc.invocations) == invocations and ram_writes(stage.cloud) == writes
    assert describe_instance(stage.owner, instance).status == "Running"


def test_onboarding_policy_replaces_the_broad_sts_permission(stage):
    instance = seed_instance(stage)
    stage.upload(SEED_KEY, seed())
    pack = stage.status(SEED_ID)["onboarding"]
    alice = partner_user(stage, "alice", policy=pack["partnerPolicy"])
    session = assume(stage, alice, "alice", external_id=pack["externalId"])
    stop_instance(session, instance)
    assert describe_instance(stage.owner, instance).status == "Stopped"
    # The same user cannot assume any other role of A.
    ram(stage.owner).create_role(ram_models.CreateRoleRequest(
        role_name="other", assume_role_policy_document=json.dumps({"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{B}:root"]}}]})))
    refused(lambda: assume(stage, alice, "other", role_arn=f"acs:ram::{A}:role/other"))


def test_scheduled_agreement_status(stage):
    starts = now() + timedelta(days=1)
    doc = seed(startsAt=iso(starts))
    stage.upload(SEED_KEY, doc)
    status = stage.status(SEED_ID)
    assert status["state"] == "scheduled"
    assert status["onboarding"]["startsAt"] == iso(starts)
    [grant] = notices(stage)
    assert f"from {iso(starts)}" in grant["text"]
