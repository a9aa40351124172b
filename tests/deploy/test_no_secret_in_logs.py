"""Run rolepact's flows with every log captured (DEBUG) and find no secret in them.

Secrets: every AccessKey secret and STS token the fake issued (root, users, the functions'
service-role sessions, Alice's role sessions), the DingTalk robot secret and webhook token.
The flows include the ones that log the most: fc2 HTTP errors (fc2 dumps full request
headers — authorization and x-fc-security-token — on any error), DingTalk refusals, retries.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import time_machine

from fakecloud import mock_cloud
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.gateways import Gateways
from shared.local.stage import ROBOT_SECRET, build_stage
from shared.runtime import reset_settings

T0 = datetime(2026, 11, 30, 9, 0, 20, tzinfo=timezone.utc)


def _flows(cloud, stage) -> None:
    import fc2
    from alibabacloud_ram20150501 import models as ram_models
    from alibabacloud_ram20150501.client import Client as RamClient
    from alibabacloud_sts20150401 import models as sts_models
    from alibabacloud_sts20150401.client import Client as StsClient
    from alibabacloud_tea_openapi.models import Config

    doc = json.loads(json.dumps(EXAMPLE_AGREEMENT))
    stage.upload("agreements/seed.json", json.dumps(doc).encode())
    stage.upload("agreements/broken.json", b'{"apiVersion": "rolepact/v1", "agreementId": ')
    ram_b = RamClient(Config(access_key_id=stage.partner.access_key_id,
                             access_key_secret=stage.partner.access_key_secret, region_id="cn-hangzhou"))
    ram_b.create_user(ram_models.CreateUserRequest(user_name="alice"))
    key = ram_b.create_access_key(ram_models.CreateAccessKeyRequest(user_name="alice")).body.access_key
    ram_b.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(policy_type="System", user_name="alice",
                                                                     policy_name="AliyunSTSAssumeRoleAccess"))
    cloud.set_caller_context(key.access_key_id, source_ip="203.0.113.9")
    sts = StsClient(Config(access_key_id=key.access_key_id, access_key_secret=key.access_key_secret,
                           region_id="cn-hangzhou"))
    starts = datetime.fromisoformat(doc["startsAt"].replace("Z", "+00:00"))
    with time_machine.travel(starts + timedelta(minutes=1), tick=False):
        stage.tick()
        sts.assume_role(sts_models.AssumeRoleRequest(role_arn=f"acs:ram::{stage.owner_id}:role/ecs-admin",
                                                     role_session_name="alice", external_id="b-7f3a9c"))
        # fc2's own client: a 404 makes it log every request header at ERROR
        service_key = next(k for k in cloud.keys._keys.values() if k.kind == "sts")
        client = fc2.Client(endpoint=f"https://{stage.owner_id}.cn-hangzhou.fc.aliyuncs.com",
                            accessKeyID=service_key.access_key_id, accessKeySecret=service_key.secret,
                            securityToken=service_key.security_token)
        try:
            client.invoke_function("rolepact", "no-such-function", payload=b"{}")
        except Exception:
            pass
        # rolepact's FC gateway failing, and the robot refusing (a wrong secret)
        gateways = Gateways.connect(dataclasses.replace(stage.settings, credentials=stage.settings.credentials
                                                        or _creds(service_key)))
        try:
            gateways.fc.invoke_async("no-such-function", {"agreementIds": []})
        except Exception:
            pass
        wrong = dataclasses.replace(stage.settings, dingtalk_secret="SECwrong", credentials=_creds(service_key))
        reset_settings(wrong)
        stage.upload("agreements/seed.json", json.dumps(dict(doc, expiresAt="2027-05-01T00:00:00Z")).encode())
        reset_settings(stage.settings)
    expires = datetime.fromisoformat(doc["expiresAt"].replace("Z", "+00:00"))
    with time_machine.travel(expires + timedelta(minutes=1), tick=False):
        stage.tick()


def _creds(key):
    from shared.settings import Credentials

    return Credentials(key.access_key_id, key.secret, key.security_token)


def test_no_secret_reaches_the_logs(capfd, caplog, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    with time_machine.travel(T0, tick=False), mock_cloud() as cloud:
        try:
            stage = build_stage(cloud, functions=["agreement_intake", "expiry_enforcer", "reconcile_worker",
                                                  "role_auditor"])
            stage.settings = dataclasses.replace(stage.settings, sleep=lambda s: None)
            reset_settings(stage.settings)
            _flows(cloud, stage)
            secrets = {k.secret for k in cloud.keys._keys.values()}
            secrets |= {k.security_token for k in cloud.keys._keys.values() if k.security_token}
            secrets |= {ROBOT_SECRET, parse_qs(urlsplit(stage.webhook).query)["access_token"][0]}
            sessions = sum(1 for k in cloud.keys._keys.values() if k.kind == "sts")
        finally:
            reset_settings(None)
    out, err = capfd.readouterr()
    logged = out + err + "\n".join(record.getMessage() for record in caplog.records)
    assert sessions >= 2  # the functions and Alice held role sessions
    assert "notice granted" in logged and "tick:" in logged  # the flows ran and their logs were captured
    assert "'x-fc-security-token':" in logged and "Request headers" in logged  # fc2 did dump its headers
    leaked = sorted(s[:6] + "…" for s in secrets if s and s in logged)
    assert leaked == [], f"secrets found in logs: {leaked}"
