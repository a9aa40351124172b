"""Review: guardrail gaps found by an adversarial read of intake, through the function and the SDKs."""
from __future__ import annotations

import json

from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from conftest import (A, SEED_ID, SEED_KEY, assume, attached, config, get_role, invoke, make_stage, oss_event,
                      partner_user, ram, ram_writes, seed)

from fakecloud import Credentials


def test_review_system_policy_that_grants_pass_role_is_refused(cloud):
    """AliyunFCFullAccess allows ram:PassRole (to FC): the partner could create a function that runs with
    any role trusting FC in A's account. System policies are judged by their document, like custom ones
    (here with FC among the grantable services, so that the escalation alone refuses it)."""
    stage = make_stage(cloud, environment={"ROLEPACT_GRANTABLE_SERVICES": "ecs,vpc,fc,ram:PassRole"})
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AliyunFCFullAccess"}]))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected", status
    [error] = [e for e in status["errors"] if e["path"] == "policies[0].name"]
    assert "ram:PassRole" in error["message"] and "ROLEPACT_ALLOW_PRIVILEGED_POLICIES" in error["message"]
    assert ram_writes(stage.cloud) == writes
    assert get_role(stage) is None


def test_review_escalating_system_policy_can_be_allowed_explicitly(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_ALLOW_PRIVILEGED_POLICIES": "AliyunFCFullAccess",
                                           "ROLEPACT_GRANTABLE_SERVICES": "ecs,vpc,fc,ram:PassRole"})
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AliyunFCFullAccess"}]))
    assert stage.status(SEED_ID)["state"] == "active"
    assert ("System", "AliyunFCFullAccess") in attached(stage)


def test_review_a_system_policy_named_in_another_case_converges_without_churn(stage):
    """RAM names are case-insensitive: `aliyunecsfullaccess` is attached as AliyunECSFullAccess. The
    planner must not see that as "extra policy + missing policy" and detach/re-attach it on every run
    (each time the partner briefly loses access, and the auditor reports drift)."""
    doc = seed(policies=[{"type": "System", "name": "aliyunecsfullaccess"}])
    stage.upload(SEED_KEY, doc)
    assert stage.status(SEED_ID)["state"] == "active"
    assert ("System", "AliyunECSFullAccess") in attached(stage)
    writes = ram_writes(stage.cloud)
    invoke(stage, oss_event(stage, SEED_KEY))  # a redelivery: nothing to do
    assert ram_writes(stage.cloud) == writes


def test_review_policies_differing_only_in_case_are_duplicates(stage):
    """Custom `Foo` and `foo` would be the same RAM policy name (`rp-<hash>-foo`): refused up front
    instead of failing half-way through provisioning."""
    document = seed()["policies"][1]["document"]
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(policies=[{"type": "Custom", "name": "Web", "document": document},
                                          {"type": "Custom", "name": "web", "document": document}]))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any(e["path"] == "policies[1]" and "duplicates policies[0]" in e["message"] for e in status["errors"])
    assert ram_writes(stage.cloud) == writes


def test_review_assume_role_on_a_named_role_of_the_owner_account_is_refused(stage):
    """A role of A that trusts A's own account (the usual switch-role setup for A's admins) can be
    assumed by *any* identity of A allowed sts:AssumeRole on it — a partner session too. Granting
    that on "one named role" of A hands the partner that role's permissions, past every guardrail."""
    owner = ram(stage.owner)
    owner.create_role(ram_models.CreateRoleRequest(role_name="it-admin", assume_role_policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                        "Principal": {"RAM": [f"acs:ram::{A}:root"]}}]})))
    owner.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AdministratorAccess", role_name="it-admin"))
    hop = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                          "Resource": f"acs:ram::{A}:role/it-admin"}]}
    doc = seed(policies=[{"type": "System", "name": "AliyunECSReadOnlyAccess"},
                         {"type": "Custom", "name": "hop", "document": hop}])
    stage.upload(SEED_KEY, doc)

    status = stage.status(SEED_ID)
    if status["state"] == "active":  # show what it would mean: the partner becomes A's administrator
        session = assume(stage, partner_user(stage, "alice"))
        admin = StsClient(config(session)).assume_role(sts_models.AssumeRoleRequest(
            role_arn=f"acs:ram::{A}:role/it-admin", role_session_name="alice")).body.credentials
        creds = Credentials(admin.access_key_id, admin.access_key_secret, admin.security_token)
        ram(creds).create_user(ram_models.CreateUserRequest(user_name="mallory"))  # succeeds: escalation
    assert status["state"] == "rejected", "the partner could chain into A's it-admin role"
    assert any(e["path"].startswith("policies[1].document.Statement[0]") for e in status["errors"])
    assert get_role(stage) is None
