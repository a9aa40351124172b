"""Fixtures and helpers of issue #6's acceptance tests (the access audit).

A full deployment on the fake (`build_stage`: every function and trigger of s.yaml — the
access audit's EventBridge trigger and its 15-minute timer included), driven by frozen time
(`time_machine`, tick=False). What partners do goes through the real SDKs; ActionTrail
records it in the owner's account and EventBridge delivers the Write events to the
function. Where a rule needs an event no real call can produce here (a principal from a
third account, a call before the start), the event is built by the fake's own
`trail.build_event` — the shape every fake service records — and put into A's trail, from
where EventBridge (Write events) and LookupEvents (all events) take it like any other.
"""
from __future__ import annotations

import copy
import dataclasses
import gzip
import json
import types
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config

from fakecloud import Credentials, ids, mock_cloud
from fakecloud.iam.identity import Caller
from fakecloud.trail import build_event
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.audit.config import AuditConfig, reset_config
from shared.local.stage import build_stage
from shared.runtime import reset_settings

A, B, C = "1234567890123456", "1345678901234567", "1456789012345678"
REGION = "cn-hangzhou"
T0 = datetime(2027, 3, 1, 9, 0, 20, tzinfo=timezone.utc)  # a Monday, 09:00:20 UTC
SEED_ID = EXAMPLE_AGREEMENT["agreementId"]
ROLE = EXAMPLE_AGREEMENT["role"]["name"]
EXTERNAL_ID = EXAMPLE_AGREEMENT["conditions"]["externalId"]
PARTNER_IP = "203.0.113.7"  # inside the seed's sourceIpRanges 203.0.113.0/24
OUTSIDE_IP = "198.51.100.99"
AUDIT = "access_audit"


# ================================================================================ fixtures
@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def fake(clock):
    with mock_cloud() as cloud:
        try:
            yield cloud
        finally:
            reset_settings(None)
            reset_config(None)


def make_audit_stage(cloud, *, region: str = REGION, config: AuditConfig | None = None, **settings_changes):
    """The whole deployment from s.yaml, with retry back-off that does not sleep."""
    stage = build_stage(cloud, region=region)
    stage.third = cloud.add_account(C, "company-c")
    use_settings(stage, sleep=lambda seconds: None, **settings_changes)
    reset_config(config or AuditConfig())
    return stage


def use_settings(stage, **changes):
    stage.settings = dataclasses.replace(stage.settings, **changes)
    reset_settings(stage.settings)
    return stage.settings


@pytest.fixture
def stage(fake):
    return make_audit_stage(fake)


# ================================================================================ agreements
def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_doc(*, expires: datetime, starts: datetime | None = None, principals=("root",), **changes) -> dict:
    """The seed agreement (company-b → ecs-admin, AliyunECSFullAccess) with the given dates."""
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    if starts is None:
        doc.pop("startsAt", None)
    else:
        doc["startsAt"] = iso(starts)
    doc["expiresAt"] = iso(expires)
    doc["partner"]["principals"] = list(principals)
    doc.update(changes)
    return doc


def provision(stage, doc: dict) -> dict:
    stage.upload(f"agreements/{doc['agreementId']}.json", doc)
    status = stage.status(doc["agreementId"])
    assert status and status["state"] in ("active", "scheduled"), status
    return status


# ================================================================================ SDK clients
def config(creds: Credentials, region: str = REGION) -> Config:
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token, region_id=region)


def ram(creds: Credentials) -> RamClient:
    return RamClient(config(creds))


def partner_user(stage, name: str = "alice", *, account: str = B, source_ip: str = PARTNER_IP) -> Credentials:
    client = ram(stage.partner if account == B else stage.third)
    client.create_user(ram_models.CreateUserRequest(user_name=name))
    key = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AliyunSTSAssumeRoleAccess", user_name=name))
    creds = Credentials(key.access_key_id, key.access_key_secret)
    stage.cloud.set_caller_context(creds.access_key_id, source_ip=source_ip)
    return creds


def owner_admin(stage, name: str = "it-admin") -> Credentials:
    """A human in A: a RAM user with AliyunRAMFullAccess."""
    client = ram(stage.owner)
    client.create_user(ram_models.CreateUserRequest(user_name=name))
    key = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AliyunRAMFullAccess", user_name=name))
    return Credentials(key.access_key_id, key.access_key_secret)


def assume(stage, creds: Credentials, session: str = "alice", *, role: str = ROLE,
           source_ip: str = PARTNER_IP) -> Credentials:
    body = StsClient(config(creds)).assume_role(sts_models.AssumeRoleRequest(
        role_arn=f"acs:ram::{A}:role/{role}", role_session_name=session, external_id=EXTERNAL_ID)).body
    c = body.credentials
    session_creds = Credentials(c.access_key_id, c.access_key_secret, c.security_token)
    stage.cloud.set_caller_context(session_creds.access_key_id, source_ip=source_ip)
    return session_creds


def ecs(creds: Credentials, region: str = REGION) -> EcsClient:
    return EcsClient(config(creds, region))


def seed_instance(stage, name: str = "web-1", region: str = REGION) -> str:
    return stage.cloud.backend("ecs").seed_instance(A, region=region, name=name, status="Running")


def describe(creds: Credentials, instance_id: str, region: str = REGION):
    return ecs(creds, region).describe_instances(ecs_models.DescribeInstancesRequest(
        region_id=region, instance_ids=json.dumps([instance_id]))).body.instances.instance


def stop(creds: Credentials, instance_id: str, region: str = REGION) -> None:
    ecs(creds, region).stop_instance(ecs_models.StopInstanceRequest(instance_id=instance_id))


def start(creds: Credentials, instance_id: str, region: str = REGION) -> None:
    ecs(creds, region).start_instance(ecs_models.StartInstanceRequest(instance_id=instance_id))


def refused(call, code: str) -> None:
    with pytest.raises(AlibabaCloudException) as raised:
        call()
    assert raised.value.code == code, (raised.value.code, raised.value.message)


# ================================================================================ synthetic ActionTrail events
def session_caller(*, role: str = ROLE, session: str = "alice", player: str = B, ip: str = PARTNER_IP,
                   created: datetime | None = None) -> Caller:
    """The caller behind a call made with an STS token of `role` (in A) assumed from `player`."""
    created = created or T0
    sts = types.SimpleNamespace(role_name=role, session_name=session, assumer_uid=player, created=created)
    return Caller("assumed-role", A, ids.sts_access_key_id(),
                  arn=f"acs:ram::{A}:assumed-role/{role}/{session}", principal_id=f"300000000000000001:{session}",
                  user_name=f"{role}:{session}", source_ip=ip, secure_transport=True, mfa=False, session=sts)


def trail_event(caller: Caller, name: str, *, at: datetime | None = None, service: str = "Ecs", read: bool = False,
                error: str | None = None, params: dict | None = None, region: str = REGION,
                is_global: bool = False, resource: str | None = "i-bp1synthetic00000001") -> dict:
    """An event exactly as the fake's services record them (`fakecloud.trail.build_event`)."""
    source = {"Ecs": "ecs.aliyuncs.com", "Ram": "ram.aliyuncs.com", "Sts": "sts.aliyuncs.com"}.get(
        service, f"{service.lower()}.aliyuncs.com")
    return build_event(caller, now=at or datetime.now(timezone.utc), service_name=service, event_source=source,
                       event_name=name, api_version="2014-05-26" if service == "Ecs" else "2015-05-01",
                       region=region, is_global=is_global, read=read, request_id=ids.request_id(),
                       request_parameters=params or ({"InstanceId": resource} if resource else {}),
                       error_code=error, error_message="denied" if error else None,
                       resource_type="ACS::ECS::Instance" if resource else None, resource_name=resource)


def record(stage, event: dict, *, deliver: bool = True) -> dict:
    """Put `event` in A's ActionTrail: LookupEvents sees it; a Write event also goes to EventBridge."""
    stage.cloud.trail.record(A, event)
    if deliver:
        stage.deliver()
    return event


def cloud_event(event: dict, region: str = REGION) -> dict:
    from fakecloud.services.eventbridge import build_envelope

    return build_envelope(A, event, datetime.now(timezone.utc))


def invoke_audit(stage, payload, *, source: str = "eventbridge") -> dict:
    """Run the access audit once with `payload` (bytes, or JSON-able) as FC would; returns its answer."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    result = stage.fc.invoke_sync(A, stage.wiring.service_name, AUDIT, body, region=stage.region, source=source)
    assert result.record.ok, result.record.error
    stage.deliver()  # whatever the run queued (nothing, normally)
    return json.loads(result.body or b"{}")


def run_audit_timer(stage) -> dict:
    """One timer run of the access audit now (what the 15-minute trigger sends)."""
    return invoke_audit(stage, {"triggerTime": iso(datetime.now(timezone.utc)), "triggerName": "every-15-minutes",
                                "payload": '{"job": "access-audit"}'}, source="timer")


# ================================================================================ timers
def tick(stage, clock, moment: datetime) -> int:
    clock.move_to(moment)
    return stage.tick()


def audit_runs(stage, source: str | None = None) -> list:
    return [i for i in stage.fc.invocations if i.function == AUDIT and source in (None, i.source)]


# ================================================================================ what the audit left
def keys(stage, prefix: str) -> list[str]:
    return sorted(k for k in stage.cloud.backend("oss").keys_direct(A, stage.bucket) if k.startswith(prefix))


def read_object(stage, key: str) -> bytes:
    return stage.cloud.backend("oss").get_object_direct(A, stage.bucket, key)


def stored(stage, prefix: str = "audit/events/") -> list[dict]:
    """Every line of every stored audit object under `prefix` (duplicates across objects kept)."""
    lines = []
    for key in keys(stage, prefix):
        text = gzip.decompress(read_object(stage, key)).decode("utf-8")
        lines += [json.loads(line) for line in text.splitlines() if line]
    return lines


def checkpoint(stage) -> dict:
    return stage.read_json("state/audit-checkpoint.json") or {}


def notices(stage) -> list[dict]:
    return [{"title": m["payload"]["markdown"]["title"], "text": m["payload"]["markdown"]["text"]}
            for m in stage.messages() if m["msgtype"] == "markdown"]


def alerts(stage) -> list[dict]:
    return [n for n in notices(stage) if n["title"].startswith("rolepact audit alert")]


def digests(stage) -> list[dict]:
    return [n for n in notices(stage) if n["title"].startswith("rolepact access audit digest")]


def titles(stage) -> Counter:
    return Counter(n["title"] for n in notices(stage))


def digest_report(stage) -> dict:
    """The JSON of the latest digest saved under reports/digest/."""
    found = [k for k in keys(stage, "reports/digest/") if k.endswith(".json")]
    assert found, "no digest was saved under reports/digest/"
    return json.loads(read_object(stage, found[-1]))


def next_digest_time(moment: datetime) -> datetime:
    """A moment just after the next 00:00 UTC boundary, when the 15-minute timer has fired since."""
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(minutes=15)


def entry(report: dict, agreement_id: str = SEED_ID) -> dict:
    [found] = [a for a in report["agreements"] if a["agreementId"] == agreement_id]
    return found
