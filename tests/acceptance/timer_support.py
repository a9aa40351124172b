"""Fixtures and helpers of issue #5's acceptance tests (timers: enforcer, worker, auditor).

A full deployment on the fake (`build_stage`: every function and trigger of s.yaml, with the
least-privilege service role), driven by frozen time (`time_machine`, tick=False): a test
moves the clock and calls `stage.tick()`, which fires the FC timers that are due (the
enforcer every minute, the auditor on the hour) and runs FC's async queue (fan-out batches,
retries, destinations). Everything rolepact does goes through the real SDKs.

Kept apart from conftest.py (issue #4's fixtures) so that both can change independently.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

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

from fakecloud import Credentials
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.documents import custom_policy_name, guard_policy_name
from shared.local.stage import build_stage
from shared.runtime import reset_settings
from audit_support import T0, clock, fake  # noqa: F401 - T0 and the shared fixtures

A, B, C = "1234567890123456", "1345678901234567", "1456789012345678"
REGION = "cn-hangzhou"
SEED_ID = EXAMPLE_AGREEMENT["agreementId"]
SEED_ROLE = EXAMPLE_AGREEMENT["role"]["name"]
EXTERNAL_ID = EXAMPLE_AGREEMENT["conditions"]["externalId"]
PARTNER_IP = "203.0.113.7"
FC_ROLE = "rolepact-fc-role"
FC_POLICY = "rolepact-fc-policy"


# ================================================================================ fixtures
# `clock` (frozen time at T0, `clock.move_to(t)` travels) and `fake` (the fake cloud) are the
# audit tests' fixtures, imported above.

# The functions of s.yaml these tests exercise, with all their triggers (OSS, every-minute, hourly).
# Other functions (e.g. the access audit, on every ActionTrail event) are left out so that call
# counts and notices here are rolepact's expiry machinery alone.
TIMER_FUNCTIONS = ["agreement_intake", "expiry_enforcer", "reconcile_worker", "role_auditor"]


def make_timer_stage(cloud, environment: dict | None = None, *, fc_api: str = "fc2", **settings_changes):
    """The deployment of s.yaml (TIMER_FUNCTIONS and their triggers), with back-off that does not sleep.

    `fc_api="fc3"`: the same functions deployed as FC 3.0 functions, run with ROLEPACT_FC_API=fc3.
    """
    stage = build_stage(cloud, environment=environment, functions=TIMER_FUNCTIONS, fc_api=fc_api)
    stage.third = cloud.add_account(C, "company-c")  # a second partner, company-c
    use_settings(stage, sleep=lambda seconds: None, **settings_changes)
    return stage


def use_settings(stage, **changes):
    """Change the settings every function instance of the stage uses (cached per process)."""
    stage.settings = dataclasses.replace(stage.settings, **changes)
    reset_settings(stage.settings)
    return stage.settings


@pytest.fixture
def stage(fake):
    return make_timer_stage(fake)


# ================================================================================ time
def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tick_at(stage, clock, moment: datetime) -> int:
    """Travel to `moment` and let FC fire whatever timers are due there (and run the queue)."""
    clock.move_to(moment)
    return stage.tick()


def tick_every_minute(stage, clock, start: datetime, end: datetime) -> int:
    """One enforcer tick per minute from `start` to `end` (inclusive); returns the ticks fired."""
    fired, moment = 0, start
    while moment <= end:
        fired += tick_at(stage, clock, moment)
        moment += timedelta(minutes=1)
    return fired


# ================================================================================ agreements
def agreement(agreement_id: str, *, role: str | None = None, partner: str = B, partner_alias: str | None = None,
              starts: datetime | None = None, expires: datetime, on_expiry: str = "delete-role",
              system: tuple[str, ...] = ("AliyunECSFullAccess",), custom: bool = True,
              external_id: str | None = EXTERNAL_ID, source_ips: tuple[str, ...] | None = ("203.0.113.0/24",),
              max_session: int = 3600) -> dict:
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    doc["agreementId"] = agreement_id
    doc["role"] = {"name": role or agreement_id, "description": f"access of {agreement_id}",
                   "maxSessionDurationSeconds": max_session}
    doc["partner"] = {"accountId": partner,
                      "alias": partner_alias or {B: "company-b", C: "company-c"}.get(partner, "partner"),
                      "principals": ["root"]}
    doc["policies"] = [{"type": "System", "name": name} for name in system]
    if custom:
        doc["policies"].append(copy.deepcopy(EXAMPLE_AGREEMENT["policies"][1]))
    if starts is None:
        doc.pop("startsAt", None)
    else:
        doc["startsAt"] = iso(starts)
    doc["expiresAt"] = iso(expires)
    doc["onExpiry"] = on_expiry
    conditions = {"requireMfa": False}
    if external_id:
        conditions["externalId"] = external_id
    if source_ips:
        conditions["sourceIpRanges"] = list(source_ips)
    doc["conditions"] = conditions
    return doc


def seed_agreement(*, expires: datetime, starts: datetime | None = None, on_expiry: str = "delete-role") -> dict:
    """The seed (EXAMPLE_AGREEMENT) itself, with the given dates and onExpiry."""
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    if starts is None:
        doc.pop("startsAt", None)
    else:
        doc["startsAt"] = iso(starts)
    doc["expiresAt"] = iso(expires)
    doc["onExpiry"] = on_expiry
    return doc


def provision(stage, doc: dict, key: str | None = None) -> dict:
    """Upload as A (FC's OSS trigger runs intake) and return the status record."""
    stage.upload(key or f"agreements/{doc['agreementId']}.json", doc)
    status = stage.status(doc["agreementId"])
    intake = invocations(stage, "agreement_intake")[-1:]
    assert status and status["state"] in ("active", "scheduled"), (status, [(i.ok, i.error) for i in intake])
    return status


def rolepact_policies(agreement_id: str, with_custom: bool = True) -> set[str]:
    names = {guard_policy_name(agreement_id)}
    if with_custom:
        names.add(custom_policy_name(agreement_id, EXAMPLE_AGREEMENT["policies"][1]["name"]))
    return names


# ================================================================================ SDK clients
def config(creds: Credentials, region: str = REGION) -> Config:
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token, region_id=region)


def ram(creds: Credentials) -> RamClient:
    return RamClient(config(creds))


def refused(call, code: str = "NoPermission") -> AlibabaCloudException:
    with pytest.raises(AlibabaCloudException) as raised:
        call()
    assert raised.value.code == code, (raised.value.code, raised.value.message)
    return raised.value


def partner_user(stage, name: str = "alice", *, account: str = B) -> Credentials:
    """A RAM user of the partner account with AliyunSTSAssumeRoleAccess and an access key (as in the seed)."""
    client = ram(stage.partner if account == B else stage.third)
    client.create_user(ram_models.CreateUserRequest(user_name=name))
    key = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AliyunSTSAssumeRoleAccess", user_name=name))
    creds = Credentials(key.access_key_id, key.access_key_secret)
    stage.cloud.set_caller_context(creds.access_key_id, source_ip=PARTNER_IP)
    return creds



def assume(stage, creds: Credentials, role: str = SEED_ROLE, *, session: str = "ops",
           external_id: str | None = EXTERNAL_ID) -> Credentials:
    body = StsClient(config(creds)).assume_role(sts_models.AssumeRoleRequest(
        role_arn=f"acs:ram::{A}:role/{role}", role_session_name=session, external_id=external_id)).body
    c = body.credentials
    session_creds = Credentials(c.access_key_id, c.access_key_secret, c.security_token)
    stage.cloud.set_caller_context(session_creds.access_key_id, source_ip=PARTNER_IP)
    return session_creds


def ecs(creds: Credentials) -> EcsClient:
    return EcsClient(config(creds))


def seed_instance(stage, name: str = "web-1") -> str:
    return stage.cloud.backend("ecs").seed_instance(A, region=REGION, name=name, status="Running")


def describe_instance(creds: Credentials, instance_id: str):
    [instance] = ecs(creds).describe_instances(ecs_models.DescribeInstancesRequest(
        region_id=REGION, instance_ids=json.dumps([instance_id]))).body.instances.instance
    return instance


def stop_instance(creds: Credentials, instance_id: str) -> None:
    ecs(creds).stop_instance(ecs_models.StopInstanceRequest(instance_id=instance_id))


def start_instance(creds: Credentials, instance_id: str) -> None:
    ecs(creds).start_instance(ecs_models.StartInstanceRequest(instance_id=instance_id))


def trail_events(stage, creds: Credentials, event_name: str, start: datetime, end: datetime) -> list[dict]:
    """A's ActionTrail: RAM's global events are looked up in cn-hangzhou."""
    client = TrailClient(config(creds, "cn-hangzhou"))
    request = trail_models.LookupEventsRequest(
        start_time=iso(start), end_time=iso(end), max_results="50",
        lookup_attribute=[trail_models.LookupEventsRequestLookupAttribute(key="EventName", value=event_name)])
    events = []
    while True:
        body = client.lookup_events(request).body
        events += body.events or []
        if not body.next_token:
            return events
        request.next_token = body.next_token


# ================================================================================ A's RAM, by SDK
def role_names(stage) -> set[str]:
    names, marker = set(), None
    while True:
        body = ram(stage.owner).list_roles(ram_models.ListRolesRequest(max_items=1000, marker=marker)).body
        names |= {r.role_name for r in body.roles.role}
        if not body.is_truncated:
            return names
        marker = body.marker


def custom_policy_names(stage) -> set[str]:
    names, marker = set(), None
    while True:
        body = ram(stage.owner).list_policies(ram_models.ListPoliciesRequest(
            policy_type="Custom", max_items=1000, marker=marker)).body
        names |= {p.policy_name for p in body.policies.policy}
        if not body.is_truncated:
            return names
        marker = body.marker


def get_role(stage, name: str):
    try:
        return ram(stage.owner).get_role(ram_models.GetRoleRequest(role_name=name)).body.role
    except AlibabaCloudException as error:
        if error.code == "EntityNotExist.Role":
            return None
        raise


def trust_of(stage, name: str) -> dict:
    return json.loads(get_role(stage, name).assume_role_policy_document)


def attached(stage, role: str) -> set[tuple[str, str]]:
    policies = ram(stage.owner).list_policies_for_role(
        ram_models.ListPoliciesForRoleRequest(role_name=role)).body.policies.policy
    return {(p.policy_type, p.policy_name) for p in policies}


def role_state(stage, name: str):
    """(trust, max session, description, attachments) of a role, comparable before/after."""
    role = get_role(stage, name)
    if role is None:
        return None
    return (json.loads(role.assume_role_policy_document), role.max_session_duration, role.description,
            sorted(attached(stage, name)))


def leftovers(stage) -> tuple[set[str], set[str]]:
    """Roles and custom policies of A other than the FC service role's own."""
    return role_names(stage) - {FC_ROLE}, custom_policy_names(stage) - {FC_POLICY}


# ================================================================================ FC, notices
def notices(stage) -> list[dict]:
    return [{"title": m["payload"]["markdown"]["title"], "text": m["payload"]["markdown"]["text"]}
            for m in stage.messages() if m["msgtype"] == "markdown"]


def titles(stage) -> Counter:
    return Counter(n["title"] for n in notices(stage))


def titled(stage, fragment: str) -> list[dict]:
    return [n for n in notices(stage) if fragment in n["title"]]


def invocations(stage, function: str, *, ok: bool | None = None) -> list:
    return [i for i in stage.fc.invocations if i.function == function and ok in (None, i.ok)]


def bucket_keys(stage, prefix: str) -> list[str]:
    return [k for k in stage.cloud.backend("oss").keys_direct(A, stage.bucket) if k.startswith(prefix)]
