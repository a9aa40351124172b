"""Acceptance of issue #2: the cross-account seed scenario, done by hand through the official SDKs.

Company A (1234567890123456) lets company B (1345678901234567) operate A's ECS through the role
`ecs-admin`; B's user Alice assumes it. Every step asserts what the real cloud would answer, so
this test fails if the fake's RAM, STS, ECS or ActionTrail stop behaving like Alibaba Cloud.
"""
from __future__ import annotations

import json

import pytest
from alibabacloud_actiontrail20200706 import models as trail_models
from alibabacloud_actiontrail20200706.client import Client as TrailClient
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config

from fakecloud import Credentials, mock_cloud

A, B = "1234567890123456", "1345678901234567"
REGION = "cn-hangzhou"
ROLE_ARN = f"acs:ram::{A}:role/ecs-admin"


def config(creds: Credentials) -> Config:
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token, region_id=REGION)


def trust(*principals: str, external_id: str | None = None) -> str:
    statement = {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"RAM": list(principals)}}
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "1", "Statement": [statement]})


def refused(code: str, status: int, call) -> None:
    with pytest.raises(AlibabaCloudException) as raised:
        call()
    assert (raised.value.code, raised.value.status_code) == (code, status), raised.value.message


def assume(creds: Credentials, session: str, external_id: str | None = None):
    body = StsClient(config(creds)).assume_role(sts_models.AssumeRoleRequest(
        role_arn=ROLE_ARN, role_session_name=session, external_id=external_id)).body
    c = body.credentials
    return Credentials(c.access_key_id, c.access_key_secret, c.security_token), body


def describe(creds: Credentials, instance_id: str):
    body = EcsClient(config(creds)).describe_instances(ecs_models.DescribeInstancesRequest(
        region_id=REGION, instance_ids=json.dumps([instance_id]))).body
    return body.instances.instance


def test_seed_scenario_by_hand():
    with mock_cloud() as cloud:
        root_a = cloud.add_account(A, "company-a")
        root_b = cloud.add_account(B, "company-b")
        ram_a, ram_b = RamClient(config(root_a)), RamClient(config(root_b))

        # A: role ecs-admin, trusted by B's account, allowed to run ECS.
        created = ram_a.create_role(ram_models.CreateRoleRequest(
            role_name="ecs-admin", assume_role_policy_document=trust(f"acs:ram::{B}:root"),
            description="B operates A's ECS")).body.role
        assert created.arn == ROLE_ARN
        ram_a.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
            policy_type="System", policy_name="AliyunECSFullAccess", role_name="ecs-admin"))
        attached = ram_a.list_policies_for_role(ram_models.ListPoliciesForRoleRequest(role_name="ecs-admin"))
        assert [p.policy_name for p in attached.body.policies.policy] == ["AliyunECSFullAccess"]
        instance_id = cloud.backend("ecs").seed_instance(A, region=REGION, name="web-1", status="Running")

        # B: user Alice with an access key and permission to call sts:AssumeRole.
        ram_b.create_user(ram_models.CreateUserRequest(user_name="alice", display_name="Alice"))
        key = ram_b.create_access_key(ram_models.CreateAccessKeyRequest(user_name="alice")).body.access_key
        alice = Credentials(key.access_key_id, key.access_key_secret)
        ram_b.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="System", policy_name="AliyunSTSAssumeRoleAccess", user_name="alice"))
        who = StsClient(config(alice)).get_caller_identity().body
        assert (who.identity_type, who.arn) == ("RAMUser", f"acs:ram::{B}:user/alice")

        # Alice assumes A's role and operates A's instance with the temporary credentials.
        session, assumed = assume(alice, "alice-ops")
        assert assumed.assumed_role_user.arn == f"acs:ram::{A}:role/ecs-admin/alice-ops"
        assert session.access_key_id.startswith("STS.")
        who = StsClient(config(session)).get_caller_identity().body
        assert (who.account_id, who.arn) == (A, f"acs:ram::{A}:assumed-role/ecs-admin/alice-ops")
        [instance] = describe(session, instance_id)
        assert (instance.instance_id, instance.instance_name, instance.status) == (instance_id, "web-1", "Running")
        EcsClient(config(session)).stop_instance(ecs_models.StopInstanceRequest(instance_id=instance_id))
        assert describe(root_a, instance_id)[0].status == "Stopped"
        # Alice's own keys act in B, where she has no ECS permission at all.
        refused("Forbidden.RAM", 403, lambda: describe(alice, instance_id))

        # Denied: a user of B without the STS permission.
        ram_b.create_user(ram_models.CreateUserRequest(user_name="bob"))
        bob_key = ram_b.create_access_key(ram_models.CreateAccessKeyRequest(user_name="bob")).body.access_key
        bob = Credentials(bob_key.access_key_id, bob_key.access_key_secret)
        refused("NoPermission", 403, lambda: assume(bob, "bob-ops"))

        # Denied: a wrong ExternalId once A's trust requires one; the right one works.
        ram_a.update_role(ram_models.UpdateRoleRequest(
            role_name="ecs-admin", new_assume_role_policy_document=trust(f"acs:ram::{B}:root",
                                                                         external_id="rolepact-7f3a")))
        refused("NoPermission", 403, lambda: assume(alice, "wrong-ext", external_id="rolepact-0000"))
        refused("NoPermission", 403, lambda: assume(alice, "no-ext"))
        early, _ = assume(alice, "early", external_id="rolepact-7f3a")

        # Denied: after A removes B's principal from the trust policy.
        ram_a.update_role(ram_models.UpdateRoleRequest(
            role_name="ecs-admin", new_assume_role_policy_document=trust(f"acs:ram::{A}:root")))
        refused("NoPermission", 403, lambda: assume(alice, "too-late", external_id="rolepact-7f3a"))

        # A token issued earlier keeps working until the role's policies are detached...
        assert describe(early, instance_id)[0].status == "Stopped"
        EcsClient(config(early)).start_instance(ecs_models.StartInstanceRequest(instance_id=instance_id))
        assert describe(root_a, instance_id)[0].status == "Running"
        # ...and the role cannot be deleted while a policy is attached.
        refused("DeleteConflict.Role.Policy", 409,
                lambda: ram_a.delete_role(ram_models.DeleteRoleRequest(role_name="ecs-admin")))
        ram_a.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
            policy_type="System", policy_name="AliyunECSFullAccess", role_name="ecs-admin"))
        refused("Forbidden.RAM", 403, lambda: describe(early, instance_id))
        refused("Forbidden.RAM", 403, lambda: EcsClient(config(session)).stop_instance(
            ecs_models.StopInstanceRequest(instance_id=instance_id)))
        assert describe(root_a, instance_id)[0].status == "Running"
        ram_a.delete_role(ram_models.DeleteRoleRequest(role_name="ecs-admin"))
        refused("EntityNotExist.Role", 404,
                lambda: ram_a.get_role(ram_models.GetRoleRequest(role_name="ecs-admin")))

        # A's ActionTrail shows Alice's ECS calls as the assumed role, played by account B.
        trail = TrailClient(config(root_a))
        events = []
        for name in ("DescribeInstances", "StopInstance", "StartInstance"):
            body = trail.lookup_events(trail_models.LookupEventsRequest(lookup_attribute=[
                trail_models.LookupEventsRequestLookupAttribute(key="EventName", value=name)])).body
            events += body.events
        by_assumed_role = [e for e in events if e["userIdentity"]["type"] == "assumed-role"]
        assert {e["eventName"] for e in by_assumed_role} == {"DescribeInstances", "StopInstance", "StartInstance"}
        for event in by_assumed_role:
            assert event["userIdentity"]["accountId"] == A
            assert event["userIdentity"]["userName"] in ("ecs-admin:alice-ops", "ecs-admin:early")
            assert event["requestParameters"]["stsTokenPlayerUid"] == B
            assert event["serviceName"] == "Ecs"
        [stop] = [e for e in by_assumed_role if e["eventName"] == "StopInstance" and not e.get("errorCode")]
        assert stop["resourceName"] == instance_id and stop["userIdentity"]["userName"] == "ecs-admin:alice-ops"
        denied = [e for e in by_assumed_role if e.get("errorCode")]
        assert {e["errorCode"] for e in denied} == {"Forbidden.RAM"}
        # The AssumeRole calls themselves are in B's trail, made by the RAM user Alice.
        b_events = TrailClient(config(root_b)).lookup_events(trail_models.LookupEventsRequest(lookup_attribute=[
            trail_models.LookupEventsRequestLookupAttribute(key="EventName", value="AssumeRole")])).body.events
        assert b_events and {e["userIdentity"]["userName"] for e in b_events} >= {"alice"}
