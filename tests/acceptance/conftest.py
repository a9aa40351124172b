"""Shared fixtures and helpers of issue #4's acceptance tests.

Everything goes through the real SDKs against the fake: the owner (company-a) uploads agreement
files with oss2, FC's OSS trigger runs `functions.agreement_intake.handler`, the partner
(company-b) sets up its users with the RAM SDK and assumes the role with the STS SDK, and A's
ECS is managed with the ECS SDK. Nothing of rolepact or of the SDKs is mocked.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config

from fakecloud import Credentials, mock_cloud
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.local.stage import build_stage
from shared.runtime import reset_settings

A, B = "1234567890123456", "1345678901234567"
REGION = "cn-hangzhou"
SEED_ID = EXAMPLE_AGREEMENT["agreementId"]
SEED_KEY = f"agreements/{SEED_ID}.json"
ROLE = EXAMPLE_AGREEMENT["role"]["name"]
ROLE_ARN = f"acs:ram::{A}:role/{ROLE}"
EXTERNAL_ID = EXAMPLE_AGREEMENT["conditions"]["externalId"]
PARTNER_IP = "203.0.113.7"  # inside the seed's sourceIpRanges
OUTSIDE_IP = "198.51.100.99"
FC_ROLE_POLICIES = {"rolepact-fc-policy"}  # what build_stage creates in A besides rolepact's own
FC_ROLES = {"rolepact-fc-role"}


# ================================================================================ the stage
def make_stage(cloud, **kwargs):
    """build_stage with retry back-off that does not sleep (tests must stay fast)."""
    kwargs.setdefault("functions", ["agreement_intake"])
    stage = build_stage(cloud, **kwargs)
    stage.settings = dataclasses.replace(stage.settings, sleep=lambda seconds: None)
    reset_settings(stage.settings)
    return stage


@pytest.fixture
def cloud():
    with mock_cloud() as fake:
        try:
            yield fake
        finally:
            reset_settings(None)


@pytest.fixture
def stage(cloud):
    return make_stage(cloud)


# ================================================================================ agreements
def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def seed(**overrides) -> dict:
    """The seed agreement, active from a minute ago for 30 days (unless overridden)."""
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    doc["startsAt"] = iso(now() - timedelta(minutes=1))
    doc["expiresAt"] = iso(now() + timedelta(days=30))
    for path, value in overrides.items():
        target = doc
        parts = path.split("__")
        for part in parts[:-1]:
            target = target[part]
        if value is DROP:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return doc


DROP = object()


def file_bytes(doc: dict) -> bytes:
    """What `Stage.upload` stores for a dict."""
    return json.dumps(doc, indent=2).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ================================================================================ SDK clients
def config(creds: Credentials) -> Config:
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token, region_id=REGION)


def ram(creds: Credentials) -> RamClient:
    return RamClient(config(creds))


def partner_user(stage, name: str, *, policy: str | dict | None = "AliyunSTSAssumeRoleAccess",
                 source_ip: str | None = PARTNER_IP) -> Credentials:
    """A RAM user of company-b with an access key, set up by B's root as in the seed.

    `policy`: a system policy name, a custom policy document (created in B), or None.
    """
    client = ram(stage.partner)
    client.create_user(ram_models.CreateUserRequest(user_name=name))
    key = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    if isinstance(policy, str):
        client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="System", policy_name=policy, user_name=name))
    elif isinstance(policy, dict):
        client.create_policy(ram_models.CreatePolicyRequest(policy_name=f"{name}-assume",
                                                            policy_document=json.dumps(policy)))
        client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="Custom", policy_name=f"{name}-assume", user_name=name))
    creds = Credentials(key.access_key_id, key.access_key_secret)
    if source_ip:
        stage.cloud.set_caller_context(creds.access_key_id, source_ip=source_ip)
    return creds


def assume(stage, creds: Credentials, session: str = "ops", *, external_id: str | None = EXTERNAL_ID,
           role_arn: str = ROLE_ARN, source_ip: str | None = PARTNER_IP) -> Credentials:
    body = StsClient(config(creds)).assume_role(sts_models.AssumeRoleRequest(
        role_arn=role_arn, role_session_name=session, external_id=external_id)).body
    c = body.credentials
    session_creds = Credentials(c.access_key_id, c.access_key_secret, c.security_token)
    if source_ip:
        stage.cloud.set_caller_context(session_creds.access_key_id, source_ip=source_ip)
    return session_creds


def refused(call, code: str = "NoPermission") -> AlibabaCloudException:
    with pytest.raises(AlibabaCloudException) as raised:
        call()
    assert raised.value.code == code, raised.value.message
    return raised.value


def ecs(creds: Credentials) -> EcsClient:
    return EcsClient(config(creds))


def describe_instance(creds: Credentials, instance_id: str):
    [instance] = ecs(creds).describe_instances(ecs_models.DescribeInstancesRequest(
        region_id=REGION, instance_ids=json.dumps([instance_id]))).body.instances.instance
    return instance


def stop_instance(creds: Credentials, instance_id: str) -> None:
    ecs(creds).stop_instance(ecs_models.StopInstanceRequest(instance_id=instance_id))


def seed_instance(stage, name: str = "web-1") -> str:
    return stage.cloud.backend("ecs").seed_instance(A, region=REGION, name=name, status="Running")


# ================================================================================ RAM state
def ram_writes(cloud) -> int:
    return cloud.calls.count(service="ram", write=True)


def role_names(stage) -> set[str]:
    roles = ram(stage.owner).list_roles(ram_models.ListRolesRequest(max_items=1000)).body.roles.role
    return {r.role_name for r in roles}


def custom_policy_names(stage) -> set[str]:
    policies = ram(stage.owner).list_policies(ram_models.ListPoliciesRequest(
        policy_type="Custom", max_items=1000)).body.policies.policy
    return {p.policy_name for p in policies}


def attached(stage, role: str = ROLE) -> set[tuple[str, str]]:
    policies = ram(stage.owner).list_policies_for_role(
        ram_models.ListPoliciesForRoleRequest(role_name=role)).body.policies.policy
    return {(p.policy_type, p.policy_name) for p in policies}


def get_role(stage, role: str = ROLE):
    try:
        return ram(stage.owner).get_role(ram_models.GetRoleRequest(role_name=role)).body.role
    except AlibabaCloudException as error:
        if error.code == "EntityNotExist.Role":
            return None
        raise


def policy_document(stage, name: str) -> dict:
    body = ram(stage.owner).get_policy(ram_models.GetPolicyRequest(policy_name=name, policy_type="Custom")).body
    return json.loads(body.default_policy_version.policy_document)


def expected_policies(agreement_id: str, *custom: str) -> set[str]:
    from shared.documents import custom_policy_name, guard_policy_name

    return {guard_policy_name(agreement_id)} | {custom_policy_name(agreement_id, name) for name in custom}


def ram_snapshot(stage) -> dict:
    """Everything rolepact could have changed in A's RAM, comparable between two moments."""
    roles = {}
    for name in sorted(role_names(stage)):
        role = get_role(stage, name)
        roles[name] = (role.description, json.loads(role.assume_role_policy_document), role.max_session_duration,
                       sorted(attached(stage, name)))
    return {"roles": roles, "policies": {name: policy_document(stage, name) for name in custom_policy_names(stage)}}


# ================================================================================ uploaders
def owner_user(stage, name: str):
    """A RAM user of company-a who may write to the bucket (AliyunOSSFullAccess): (UID, credentials)."""
    client = ram(stage.owner)
    user = client.create_user(ram_models.CreateUserRequest(user_name=name)).body.user
    key = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AliyunOSSFullAccess", user_name=name))
    return user.user_id, Credentials(key.access_key_id, key.access_key_secret)


def approve_uploaders(stage, *principals: str) -> None:
    """ROLEPACT_APPROVED_UPLOADERS=<principals>, as a redeploy would set it."""
    from shared.runtime import reset_settings

    rails = dataclasses.replace(stage.settings.guardrails, approved_uploaders=frozenset(principals))
    stage.settings = dataclasses.replace(stage.settings, guardrails=rails)
    reset_settings(stage.settings)


def lock_agreements(stage, *, actions: tuple[str, ...] | None = None, verify: bool = True) -> dict:
    """A's administrator puts the bucket policy `rolepact bucket-policy` prints in place (with oss2), and —
    `verify`, as README's deploy step says — runs `rolepact bucket-policy` again to see it enforced, which
    records since when rolepact has seen the lock; then a second passes before anyone uploads (the fake's
    clock moves on), since content written before that moment is not vouched for by the lock."""
    from alibabacloud_ram20150501 import models as ram_models_

    from shared.gateways import Gateways
    from shared.settings import Credentials as SettingsCredentials
    from shared.uploaders import WRITE_ACTIONS, check_lock, lock_policy

    users = ram(stage.owner).list_users(ram_models_.ListUsersRequest(max_items=1000)).body.users.user
    policy = lock_policy(stage.settings, [u.user_id for u in users])
    for statement in policy["Statement"]:
        statement["Action"] = list(actions or WRITE_ACTIONS)
    stage.oss().put_bucket_policy(json.dumps(policy))
    if verify:
        as_owner = stage.settings.with_credentials(SettingsCredentials(stage.owner.access_key_id,
                                                                       stage.owner.access_key_secret))
        check_lock(as_owner, Gateways.connect(as_owner))
        stage.cloud.clock_offset += timedelta(seconds=1)
    return policy


# ================================================================================ events, notices
def oss_event(stage, key: str, *, name: str = "ObjectCreated:PutObject", principal: str | None = None,
              bucket: str | None = None, etag: str = "", size: int = 0) -> bytes:
    """An FC OSS-trigger payload for one object, shaped as OSS sends it."""
    bucket = bucket or stage.bucket
    record = {
        "eventName": name, "eventSource": "acs:oss", "eventTime": iso(now()), "eventVersion": "1.0",
        "oss": {"bucket": {"arn": f"acs:oss:{REGION}:{A}:{bucket}", "name": bucket, "ownerIdentity": A},
                "object": {"deltaSize": size, "eTag": etag, "key": key, "size": size},
                "ossSchemaVersion": "1.0", "ruleId": "rolepact-test"},
        "region": REGION, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"requestId": "test"}, "userIdentity": {"principalId": principal or A},
    }
    return json.dumps({"events": [record]}).encode("utf-8")


def enqueue(stage, payload: bytes) -> str:
    """Queue an async invocation of the intake function, as FC's OSS trigger does."""
    return stage.fc.invoke_async(A, stage.wiring.service_name, "agreement_intake", payload, source="oss")


def invoke(stage, payload: bytes) -> None:
    enqueue(stage, payload)
    stage.deliver()


def notices(stage) -> list[dict]:
    """Accepted DingTalk messages as {"title", "text"}."""
    return [{"title": m["payload"]["markdown"]["title"], "text": m["payload"]["markdown"]["text"]}
            for m in stage.messages() if m["msgtype"] == "markdown"]


def titles(stage) -> Counter:
    return Counter(n["title"] for n in notices(stage))


def failed_invocations(stage) -> list:
    return [i for i in stage.fc.invocations if not i.ok]
