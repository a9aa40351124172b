"""Review (issue 12, item 2): the control plane is kept from partners by design, not by a deny-list.

(a) Every agreement's guard policy denies the account's control plane — identity, audit trail, event
    routing, organization, logs, commands on instances, and rolepact's own bucket and functions —
    whatever the agreed policies say: proved with a partner session holding AdministratorAccess
    (exempted by the owner), whose agreed work (ECS) still works.
(b) What agreements may grant at all is an owner-configured allow-list (ROLEPACT_GRANTABLE_SERVICES),
    judged on custom documents and on system policies as RAM returns them.
(c) The "granted" notice shows the whole effective grant by service, nothing cut off.

Everything through the SDKs against the fake: the partner assumes the role with STS and calls RAM,
STS, ECS, ActionTrail, OSS and FC with its session. For APIs the fake does not serve (ActionTrail's
StopLogging, EventBridge, Resource Directory, CloudSSO, IMS, SLS) RAM's decision is computed by the
fake's policy evaluator from the documents RAM returns for the role (ListPoliciesForRole, GetPolicy).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import fc2
import oss2
import pytest
from alibabacloud_actiontrail20200706 import models as trail_models
from alibabacloud_actiontrail20200706.client import Client as TrailClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from conftest import (A, PARTNER_IP, ROLE, SEED_ID, SEED_KEY, assume, attached, config, describe_instance, get_role,
                      make_stage, notices, partner_user, ram, ram_writes, refused, seed, seed_instance, stop_instance)

from fakecloud.iam.policy import Decision, RequestContext, evaluate
from shared.documents import canonical, guard_policy_name

ADMIN_EVERYWHERE = {"ROLEPACT_ALLOW_PRIVILEGED_POLICIES": "AdministratorAccess", "ROLEPACT_GRANTABLE_SERVICES": "*"}


def role_documents(stage, role: str = ROLE) -> list[dict]:
    """The documents of every policy attached to the role, as RAM returns them."""
    client = ram(stage.owner)
    documents = []
    for policy in client.list_policies_for_role(ram_models.ListPoliciesForRoleRequest(role_name=role)).body \
            .policies.policy:
        body = client.get_policy(ram_models.GetPolicyRequest(policy_name=policy.policy_name,
                                                             policy_type=policy.policy_type)).body
        documents.append(json.loads(body.default_policy_version.policy_document))
    return documents


def ram_decision(documents: list[dict], action: str, resource: str) -> Decision:
    context = {"acs:CurrentTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "acs:SourceIp": PARTNER_IP, "acs:SecureTransport": True}
    return evaluate(documents, RequestContext(action, resource, context))


# ============================================================================================ (a) the guard
def test_review_a_partner_holding_administrator_access_still_cannot_reach_the_control_plane(cloud):
    stage = make_stage(cloud, environment=ADMIN_EVERYWHERE)
    it_admin = ram(stage.owner).create_role(ram_models.CreateRoleRequest(  # a role of A that trusts A itself
        role_name="it-admin", assume_role_policy_document=json.dumps({"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{A}:root"]}}]})))
    ram(stage.owner).attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AdministratorAccess", role_name="it-admin"))
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AdministratorAccess"}]))
    assert stage.status(SEED_ID)["state"] == "active"
    session = assume(stage, partner_user(stage, "alice"), "alice")

    # the agreed work still works
    instance = seed_instance(stage)
    stop_instance(session, instance)
    assert describe_instance(session, instance).status in ("Stopping", "Stopped")

    # identity: no RAM at all, no chaining into another role of A
    partner_ram = ram(session)
    refused(lambda: partner_ram.create_user(ram_models.CreateUserRequest(user_name="mallory")))
    refused(lambda: partner_ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AdministratorAccess", role_name="it-admin")))
    refused(lambda: partner_ram.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="Custom", policy_name=guard_policy_name(SEED_ID), role_name=ROLE)))
    refused(lambda: partner_ram.list_roles(ram_models.ListRolesRequest()))
    refused(lambda: StsClient(config(session)).assume_role(sts_models.AssumeRoleRequest(
        role_arn=it_admin.body.role.arn, role_session_name="hop")))
    # the audit trail
    refused(lambda: TrailClient(config(session)).lookup_events(trail_models.LookupEventsRequest()))
    # rolepact itself: its bucket and its functions
    with pytest.raises(oss2.exceptions.OssError) as raised:
        stage.oss(session).put_object(SEED_KEY, b"{}")
    assert raised.value.status == 403
    with pytest.raises(fc2.fc_exceptions.FcError) as raised:
        fc2.Client(endpoint=f"https://{A}.{stage.region}.fc.aliyuncs.com", accessKeyID=session.access_key_id,
                   accessKeySecret=session.access_key_secret, securityToken=session.security_token
                   ).invoke_function(stage.wiring.service_name, "agreement_intake", payload=b"{}")
    assert raised.value.status_code == 403
    assert ("System", "AdministratorAccess") in attached(stage) and get_role(stage, "it-admin") is not None

    # APIs the fake does not serve: RAM's decision from the role's documents as RAM holds them
    documents = role_documents(stage)
    for action, resource in [
            ("actiontrail:StopLogging", f"acs:actiontrail:{stage.region}:{A}:trail/audit"),
            ("actiontrail:DeleteTrail", f"acs:actiontrail:{stage.region}:{A}:trail/audit"),
            ("eventbridge:DeleteRule", f"acs:eventbridge:{stage.region}:{A}:eventbus/default/rule/rolepact"),
            ("resourcemanager:AttachControlPolicy", "*"), ("resourcemanager:CreateAccount", "*"),
            ("cloudsso:CreateUser", "*"), ("ims:CreateAccessKey", f"acs:ram::{A}:user/admin"),
            ("log:DeleteLogStore", f"acs:log:{stage.region}:{A}:project/actiontrail-{A}/logstore/events"),
            ("log:UpdateLogStore", f"acs:log:{stage.region}:{A}:project/actiontrail-{A}/logstore/events"),
            ("ecs:RunCommand", f"acs:ecs:{stage.region}:{A}:instance/{instance}"),
            ("ecs:InvokeCommand", f"acs:ecs:{stage.region}:{A}:instance/{instance}"),
            ("fc:UpdateFunction", f"acs:fc:{stage.region}:{A}:services/rolepact/functions/agreement_intake"),
            ("fc:InvokeFunction", f"acs:fc:{stage.region}:{A}:functions/rolepact-agreement-intake")]:
        assert ram_decision(documents, action, resource) == Decision.EXPLICIT_DENY, action
    for action, resource in [("ecs:StopInstance", f"acs:ecs:{stage.region}:{A}:instance/{instance}"),
                             ("oss:PutObject", f"acs:oss:*:{A}:team-bucket/report.csv"),
                             ("log:GetLogStore", f"acs:log:{stage.region}:{A}:project/app/logstore/web")]:
        assert ram_decision(documents, action, resource) == Decision.ALLOW, action


def test_review_the_guard_fits_rams_policy_size_limit_with_every_condition_at_its_maximum(cloud):
    """RAM refuses policy documents over 6144 characters: the guard of the largest agreement the schema
    admits (20 IPv6 ranges, a start and an end) is created and attached."""
    stage = make_stage(cloud)
    ranges = [f"2001:db8:{i:x}:ffff:ffff:ffff:ffff:ff00/120" for i in range(20)]
    stage.upload(SEED_KEY, seed(conditions__sourceIpRanges=ranges))
    assert stage.status(SEED_ID)["state"] == "active", stage.status(SEED_ID)
    guard = [d for d in role_documents(stage) if any(s.get("Effect") == "Deny" for s in d["Statement"])]
    assert guard and len(canonical(guard[0])) <= 6144


# ============================================================================================ (b) the allow-list
@pytest.mark.parametrize("policies, words", [
    ([{"type": "System", "name": "AliyunOSSFullAccess"}], "grants oss"),
    ([{"type": "System", "name": "ReadOnlyAccess"}], "grants ram"),  # judged by the document RAM returns
    ([{"type": "System", "name": "AliyunECSFullAccess"},
      {"type": "Custom", "name": "logs", "document": {"Version": "1", "Statement": [
          {"Effect": "Allow", "Action": ["ecs:DescribeInstances", "log:*"], "Resource": "*"}]}}], "grants log"),
])
def test_review_agreements_may_grant_only_the_services_the_owner_allows(stage, policies, words):
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(policies=policies))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any(words in e["message"] and "ROLEPACT_GRANTABLE_SERVICES" in e["message"] for e in status["errors"]), \
        status["errors"]
    assert ram_writes(stage.cloud) == writes and get_role(stage) is None
    [notice] = [n for n in notices(stage) if "rejected" in n["title"]]
    assert "ROLEPACT_GRANTABLE_SERVICES" in notice["text"]


def test_review_the_owner_widens_the_allow_list_by_service_or_by_action(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_GRANTABLE_SERVICES": "ecs,vpc,oss:Get*,oss:List*"})
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AliyunOSSReadOnlyAccess"},
                                          {"type": "System", "name": "AliyunECSFullAccess"}]))
    assert stage.status(SEED_ID)["state"] == "active", stage.status(SEED_ID)
    stage.upload("agreements/oss-write.json", seed(agreementId="b-oss-write", role__name="oss-writer", policies=[
        {"type": "Custom", "name": "write", "document": {"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": ["oss:GetObject", "oss:PutObject"], "Resource": "*"}]}}]))
    refused_status = stage.status("b-oss-write")
    assert refused_status["state"] == "rejected" and "'oss:PutObject' grants oss" in refused_status["errors"][0]["message"]


# ============================================================================================ (c) the notice
def test_review_the_granted_notice_shows_every_service_and_every_action(cloud):
    """A late entry in a long policy must be visible to approvers, not cut off after 300 characters."""
    stage = make_stage(cloud)
    actions = [f"ecs:Describe{name}" for name in ("Instances", "Disks", "Images", "Snapshots", "SecurityGroups",
                                                  "Regions", "Zones", "InstanceTypes", "KeyPairs", "Tags",
                                                  "NetworkInterfaces", "InstanceStatus", "AutoSnapshotPolicyEx")]
    actions.append("vpc:DeleteVpc")  # the late entry
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AliyunECSFullAccess"},
                                          {"type": "Custom", "name": "ops", "document": {"Version": "1", "Statement": [
                                              {"Effect": "Allow", "Action": actions, "Resource": "*"}]}}]))
    [notice] = [n for n in notices(stage) if "granted" in n["title"]]
    text = notice["text"]
    for action in actions + ["ecs:*", "vpc:DescribeVpcs", "vpc:DescribeVSwitches"]:  # the system policy's too
        assert f"`{action}`" in text, action
    assert "**ecs** (AliyunECSFullAccess, ops)" in text and "**vpc** (AliyunECSFullAccess, ops)" in text
    grant = {g["service"]: g for g in stage.status(SEED_ID)["grant"]}
    assert set(grant) == {"ecs", "vpc"} and "vpc:DeleteVpc" in grant["vpc"]["actions"]
