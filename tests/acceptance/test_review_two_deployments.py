"""Review (issue 12, item 3): a second rolepact deployment in the same account is not a way in.

Two deployments of s.yaml in company-a's account, each with its own bucket, FC service and service role,
both named by the documented scheme (`ROLEPACT_DEPLOYMENT_PREFIX`, default `rolepact`): deployment 1 is
`rolepact-data` / service `rolepact`, deployment 2 `rolepact-team2` / service `rolepact-team2`. A partner
whose agreement grants OSS (and FC) in one deployment must not write agreements or records into the other's
bucket, nor invoke or change its functions — either way round. And an agreement id used by both cannot make
one deployment rewrite the other's policies.

Through the SDKs against the fake: the OSS trigger of each deployment runs its own intake; the functions of
one process share one settings object (as every FC instance reads its own environment once), so the test
switches it to the deployment whose function runs.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import timedelta

import fc2
import oss2
import pytest
from alibabacloud_ram20150501 import models as ram_models
from conftest import A, PARTNER_IP, REGION, assume, iso, make_stage, now, partner_user, policy_document, ram, seed

from fakecloud import Credentials
from shared.documents import guard_policy_name
from shared.local.stage import DEPLOYMENTS, EXPORTED, FC_TRUST, import_handler, service_role_policy
from shared.local.wiring import load
from shared.runtime import reset_settings
from shared.settings import Settings

C = "1456789012345678"
OSS_AGREEMENTS = {"ROLEPACT_GRANTABLE_SERVICES": "ecs,vpc,oss,fc",
                  "ROLEPACT_ALLOW_PRIVILEGED_POLICIES": "AliyunFCFullAccess"}
OSS_AND_FC = [{"type": "System", "name": "AliyunOSSFullAccess"}, {"type": "Custom", "name": "fc", "document": {
    "Version": "1", "Statement": [{"Effect": "Allow", "Action": "fc:*", "Resource": "*"}]}}]


def add_deployment(stage, bucket: str, service: str) -> Settings:
    """Deployment 2 in the same account: its bucket, service role and intake function, wired from s.yaml."""
    owner = stage.owner
    oss2.Bucket(oss2.Auth(owner.access_key_id, owner.access_key_secret), f"https://oss-{REGION}.aliyuncs.com",
                bucket).create_bucket()
    admin = ram(owner)
    role = f"{service}-fc-role"
    admin.create_role(ram_models.CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(FC_TRUST)))
    admin.create_policy(ram_models.CreatePolicyRequest(policy_name=f"{service}-fc-policy", policy_document=json.dumps(
        service_role_policy(bucket, service))))
    admin.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="Custom", policy_name=f"{service}-fc-policy", role_name=role))
    exported = {name: stage.environment[name] for name in EXPORTED}
    wiring = load(DEPLOYMENTS["fc2"], {**exported, "ROLEPACT_BUCKET": bucket})
    intake = wiring.function("agreement_intake")
    environment = {**intake.environment, **OSS_AGREEMENTS, "ROLEPACT_SERVICE_NAME": service}
    fc = stage.fc
    fc.register_function(A, service, intake.name, import_handler(intake.handler), handler_name=intake.handler,
                         environment=environment, service_role=role, max_async_retry=intake.max_async_retry,
                         region=REGION)
    for trigger in intake.triggers:
        fc.add_trigger(A, service, intake.name, trigger["name"], trigger["type"], trigger.get("config") or {},
                       region=REGION)
    return Settings.from_env(environment, sleep=lambda seconds: None)


@contextmanager
def running(settings: Settings):
    """The functions that run now are this deployment's (its environment)."""
    reset_settings(settings)
    try:
        yield
    finally:
        reset_settings(None)


def owner_bucket(stage, name: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(stage.owner.access_key_id, stage.owner.access_key_secret),
                       f"https://oss-{REGION}.aliyuncs.com", name)


def upload(stage, settings: Settings, bucket_name: str, key: str, doc: dict) -> None:
    owner_bucket(stage, bucket_name).put_object(key, json.dumps(doc).encode())
    with running(settings):
        stage.deliver()


def status_in(stage, bucket_name: str, agreement_id: str) -> dict:
    return json.loads(owner_bucket(stage, bucket_name).get_object(f"status/{agreement_id}.json").read())


def bucket(creds: Credentials, name: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token),
                       f"https://oss-{REGION}.aliyuncs.com", name)


def invoke(creds: Credentials, service: str) -> None:
    fc2.Client(endpoint=f"https://{A}.{REGION}.fc.aliyuncs.com", accessKeyID=creds.access_key_id,
               accessKeySecret=creds.access_key_secret, securityToken=creds.security_token
               ).invoke_function(service, "agreement_intake", payload=b"{}")


def assert_kept_out(session: Credentials, bucket_name: str, service: str) -> None:
    target = bucket(session, bucket_name)
    for attempt in (lambda: target.put_object("agreements/mine.json", b"{}"),
                    lambda: target.put_object("status/anything.json", b"{}"),
                    lambda: target.get_object("status/anything.json"),
                    lambda: list(oss2.ObjectIterator(target, prefix="agreements/"))):
        with pytest.raises(oss2.exceptions.OssError) as raised:
            attempt()
        assert raised.value.status == 403
    with pytest.raises(fc2.fc_exceptions.FcError) as raised:
        invoke(session, service)
    assert raised.value.status_code == 403


@pytest.fixture
def deployments(cloud):
    first = make_stage(cloud, environment=OSS_AGREEMENTS)
    second = add_deployment(first, "rolepact-team2", "rolepact-team2")
    first.third = cloud.add_account(C, "company-c")
    return first, first.settings, second


def test_review_a_partner_of_one_deployment_cannot_write_into_another_deployment(deployments):
    stage, first, second = deployments
    upload(stage, first, "rolepact-data", "agreements/b-ops.json",
           seed(agreementId="b-ops", role__name="b-ops", policies=OSS_AND_FC))
    assert stage.status("b-ops")["state"] == "active"
    session = assume(stage, partner_user(stage, "alice"), role_arn=f"acs:ram::{A}:role/b-ops")

    owner_bucket(stage, "team-data").create_bucket()  # the agreed work: a bucket of A's that is not rolepact's
    bucket(session, "team-data").put_object("report.csv", b"ok")

    assert_kept_out(session, "rolepact-team2", "rolepact-team2")  # the other deployment
    assert_kept_out(session, "rolepact-data", "rolepact")  # and its own, as before
    assert not list(oss2.ObjectIterator(owner_bucket(stage, "rolepact-team2"), prefix="agreements/"))


def test_review_and_the_other_way_round(deployments):
    stage, first, second = deployments
    upload(stage, second, "rolepact-team2", "agreements/c-ops.json",
           seed(agreementId="c-ops", role__name="c-ops", partner__accountId=C, partner__alias="company-c",
                policies=OSS_AND_FC))
    status = status_in(stage, "rolepact-team2", "c-ops")
    assert status["state"] == "active", status
    client = ram(stage.third)
    client.create_user(ram_models.CreateUserRequest(user_name="carol"))
    key = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name="carol")).body.access_key
    client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AliyunSTSAssumeRoleAccess", user_name="carol"))
    carol = Credentials(key.access_key_id, key.access_key_secret)
    stage.cloud.set_caller_context(carol.access_key_id, source_ip=PARTNER_IP)
    session = assume(stage, carol, role_arn=f"acs:ram::{A}:role/c-ops")
    assert_kept_out(session, "rolepact-data", "rolepact")


def test_review_one_agreement_id_in_two_deployments_cannot_rewrite_the_others_policies(deployments):
    stage, first, second = deployments
    upload(stage, first, "rolepact-data", "agreements/shared-id.json",
           seed(agreementId="shared-id", role__name="first-role"))
    guard = guard_policy_name("shared-id")
    before = policy_document(stage, guard)
    upload(stage, second, "rolepact-team2", "agreements/shared-id.json",
           seed(agreementId="shared-id", role__name="second-role", expiresAt=iso(now() + timedelta(days=90))))
    status = status_in(stage, "rolepact-team2", "shared-id")
    assert status["state"] == "rejected" and any(guard in e["message"] for e in status["errors"]), status
    assert policy_document(stage, guard) == before
    assert stage.status("shared-id")["state"] == "active"
