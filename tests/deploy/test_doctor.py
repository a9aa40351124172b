"""`rolepact doctor` as an operator runs it: a separate process, the deployment's environment,
and the cloud over HTTP — here the fake's server mode (`python -m fakecloud`). Every check is
seen passing on a healthy deployment and failing on one broken in its own way."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import oss2
import pytest
from alibabacloud_actiontrail20200706 import models as trail_models
from alibabacloud_actiontrail20200706.client import Client as TrailClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.models import Config

from fakecloud.server import ServerProcess
from shared.local.policies import SERVICE_ROLE_POLICY, fill
from shared.local.stage import FC_TRUST
from shared.local.wiring import load
from shared.settings import Guardrails, Settings
from shared.uploaders import lock_policy

ROOT = Path(__file__).resolve().parents[2]
A, B = "1234567890123456", "1345678901234567"
KEY, SECRET = "LTAI5tDoctorOwner000000000", "doctor-owner-secret"
BUCKET, ROLE = "rolepact-data", "rolepact-fc-role"
ROBOT_SECRET = "SEC" + "1a" * 30
ENV = {"ROLEPACT_ACCOUNT_ID": A, "ROLEPACT_BUCKET": BUCKET, "ROLEPACT_REGION": "cn-hangzhou"}


def post(server, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{server.url}/_fakecloud/{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


def config(server) -> Config:
    return Config(access_key_id=KEY, access_key_secret=SECRET, endpoint=server.url.split("://")[1], protocol="http",
                  region_id="cn-hangzhou")


def ram(server) -> RamClient:
    return RamClient(config(server))


def trail(server) -> TrailClient:
    return TrailClient(config(server))


def bucket(server, name: str = BUCKET) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(KEY, SECRET), server.url, name)


def uploader_id(server) -> str:
    return ram(server).get_user(ram_models.GetUserRequest(user_name="uploader")).body.user.user_id


def deploy(server) -> dict:
    """A healthy deployment: bucket, bucket policy, service role, trail, functions and triggers, robot."""
    bucket(server).create_bucket()
    client = ram(server)
    client.create_user(ram_models.CreateUserRequest(user_name="uploader"))
    approved = uploader_id(server)
    settings = Settings(account_id=A, bucket=BUCKET, guardrails=Guardrails(approved_uploaders=frozenset({approved})))
    bucket(server).put_bucket_policy(json.dumps(lock_policy(settings, [approved])))
    client.create_role(ram_models.CreateRoleRequest(role_name=ROLE, assume_role_policy_document=json.dumps(FC_TRUST)))
    wiring = load(ROOT / "s.yaml", {**ENV, "ROLEPACT_DINGTALK_WEBHOOK": "", "ROLEPACT_DINGTALK_SECRET": ""})
    client.create_policy(ram_models.CreatePolicyRequest(policy_name="rolepact-fc-policy", policy_document=json.dumps(
        fill(SERVICE_ROLE_POLICY, wiring))))
    client.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="Custom", role_name=ROLE,
                                                                      policy_name="rolepact-fc-policy"))
    trail(server).create_trail(trail_models.CreateTrailRequest(name="rolepact-audit", oss_bucket_name="audit-logs",
                                                               event_rw="All"))
    trail(server).start_logging(trail_models.StartLoggingRequest(name="rolepact-audit"))
    for function in wiring.functions:
        post(server, "fc/functions", {"accountId": A, "service": wiring.service_name, "function": function.name,
                                      "triggers": [{"name": t["name"], "type": t["type"], "config": t.get("config"),
                                                    "sourceArn": t.get("sourceArn")} for t in function.triggers]})
    webhook = post(server, "dingtalk/robots", {"secret": ROBOT_SECRET, "keyword": "rolepact"})["webhook"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(webhook).query)["access_token"][0]
    return {"approved": approved, "webhook": f"{server.url}/robot/send?access_token={token}"}


@pytest.fixture(scope="module")
def server():
    with ServerProcess([f"{A}:company-a:{KEY}:{SECRET}", f"{B}:company-b"]) as running:
        running.deployment = deploy(running)
        yield running


def doctor(server, *args: str, **env: str) -> tuple[int, dict]:
    endpoint = server.url.split("://")[1]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ROLEPACT_", "ALIBABA_CLOUD_"))}
    environment.update(ENV)
    environment.update({f"ROLEPACT_{name}_ENDPOINT": endpoint for name in ("RAM", "STS", "OSS", "ACTIONTRAIL", "FC")})
    environment.update({"ROLEPACT_ENDPOINT_PROTOCOL": "http", "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY,
                        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
                        "ROLEPACT_APPROVED_UPLOADERS": server.deployment["approved"],
                        "ROLEPACT_DINGTALK_WEBHOOK": server.deployment["webhook"],
                        "ROLEPACT_DINGTALK_SECRET": ROBOT_SECRET})
    environment.update(env)
    done = subprocess.run([sys.executable, "-m", "shared.cli", "doctor", "--json", "--deployment",
                           str(ROOT / "s.yaml"), *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    return done.returncode, {check["id"]: check for check in report["checks"]}


def statuses(checks: dict) -> dict:
    return {name: check["status"] for name, check in checks.items()}


def test_a_healthy_deployment_passes_every_check(server):
    code, checks = doctor(server, "--send-test-message")
    assert statuses(checks) == dict.fromkeys(["bucket", "bucket-versioning", "bucket-policy", "service-role-policy",
                                              "trail", "triggers", "dingtalk", "clock"], "pass"), checks
    assert code == 0
    code, checks = doctor(server)  # the DingTalk test message is opt-in
    assert checks["dingtalk"]["status"] == "skip" and code == 0


def test_a_missing_bucket_fails(server):
    code, checks = doctor(server, ROLEPACT_BUCKET="no-such-bucket")
    assert checks["bucket"]["status"] == "fail" and "does not exist" in checks["bucket"]["summary"]
    assert code == 1


def test_a_versioned_bucket_fails(server):
    versioned = bucket(server, "rolepact-versioned")
    versioned.create_bucket()
    versioned.put_bucket_versioning(oss2.models.BucketVersioningConfig("Suspended"))
    code, checks = doctor(server, ROLEPACT_BUCKET="rolepact-versioned")
    assert checks["bucket"]["status"] == "pass"
    assert checks["bucket-versioning"]["status"] == "fail" and "Suspended" in checks["bucket-versioning"]["summary"]
    assert "new bucket" in checks["bucket-versioning"]["fix"] and code == 1


@pytest.mark.parametrize("policy, expected", [
    (None, "no bucket policy"),
    ({"Version": "1", "Statement": [{"Effect": "Deny", "Action": ["oss:PutObject", "oss:DeleteObject",
                                                                  "oss:DeleteObjectVersion"],
                                     "Principal": ["arn:sts::*:*/*/*"],
                                     "Resource": [f"acs:oss:*:{A}:{BUCKET}/agreements/*"],
                                     "Condition": {"Bool": {"acs:SecureTransport": "true"}}}]}, "role sessions"),
    ({"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"], "Principal": ["*"],
                                     "Resource": [f"acs:oss:*:{A}:{BUCKET}/reports/*"]}]}, "Principal '*'"),
    ({"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:PutObject"], "Principal": ["27000000000000001"],
                                     "Resource": [f"acs:oss:*:{A}:{BUCKET}/status/*"]}]}, "write status/"),
    ({"Version": "1", "Statement": [{"Effect": "Deny", "Action": ["oss:*"], "Principal": ["arn:sts::*:*/*/*"],
                                     "Resource": [f"acs:oss:*:{A}:{BUCKET}/*"]}]}, "service role writing"),
])
def test_a_bucket_policy_that_does_not_protect_rolepact_fails(server, policy, expected):
    good = bucket(server).get_bucket_policy().policy
    try:
        if policy is None:
            bucket(server).delete_bucket_policy()
        else:
            bucket(server).put_bucket_policy(json.dumps(policy))
        code, checks = doctor(server)
        assert checks["bucket-policy"]["status"] == "fail" and expected in checks["bucket-policy"]["summary"]
        assert ["arn:sts::*:*/*/*"] in [s["Principal"] for s in checks["bucket-policy"]["details"]["lock"]["Statement"]]
        assert "rolepact bucket-policy" in checks["bucket-policy"]["fix"] and code == 1
    finally:
        bucket(server).put_bucket_policy(good)


@pytest.mark.parametrize("acl", [oss2.BUCKET_ACL_PUBLIC_READ, oss2.BUCKET_ACL_PUBLIC_READ_WRITE])
def test_a_public_bucket_acl_fails(server, acl):
    """OSS lets anyone, anonymous included, read (public-read) or write (public-read-write) a bucket with such an
    ACL, whatever the bucket policy denies RAM users and sessions: rolepact's records and the lock mean nothing."""
    bucket(server).put_bucket_acl(acl)
    try:
        code, checks = doctor(server)
        assert checks["bucket-policy"]["status"] == "fail" and f"ACL is {acl}" in checks["bucket-policy"]["summary"]
        assert code == 1
    finally:
        bucket(server).put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)


def test_a_ram_user_the_lock_does_not_deny_fails(server):
    _, checks = doctor(server, ROLEPACT_APPROVED_UPLOADERS=A)  # "uploader" is no longer approved, yet not denied
    assert checks["bucket-policy"]["status"] == "fail"
    assert "RAM user uploader" in checks["bucket-policy"]["summary"]


def test_without_approved_uploaders_only_rolepacts_prefixes_are_checked(server):
    _, checks = doctor(server, ROLEPACT_APPROVED_UPLOADERS="")
    assert checks["bucket-policy"]["status"] == "pass" and "lock" not in checks["bucket-policy"]["details"]


def test_the_service_role_with_more_than_its_policy_fails(server):
    client = ram(server)
    client.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="System", role_name=ROLE,
                                                                      policy_name="AdministratorAccess"))
    try:
        code, checks = doctor(server)
        assert checks["service-role-policy"]["status"] == "fail"
        assert "System:AdministratorAccess" in checks["service-role-policy"]["summary"] and code == 1
    finally:
        client.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(policy_type="System", role_name=ROLE,
                                                                              policy_name="AdministratorAccess"))


def test_the_service_role_without_its_policy_fails(server):
    _, checks = doctor(server, ROLEPACT_BUCKET="another-bucket")  # the filled-in policy names another bucket
    assert checks["service-role-policy"]["status"] == "fail"
    assert "deploy/service-role-policy.json" in checks["service-role-policy"]["summary"]


def test_a_trail_that_is_not_logging_fails(server):
    trail(server).stop_logging(trail_models.StopLoggingRequest(name="rolepact-audit"))
    try:
        code, checks = doctor(server)
        assert checks["trail"]["status"] == "fail" and "logging False" in checks["trail"]["summary"] and code == 1
    finally:
        trail(server).start_logging(trail_models.StartLoggingRequest(name="rolepact-audit"))


def test_a_trail_of_write_events_only_fails(server):
    trail(server).create_trail(trail_models.CreateTrailRequest(name="writes-only", oss_bucket_name="audit-logs"))
    trail(server).start_logging(trail_models.StartLoggingRequest(name="writes-only"))
    trail(server).stop_logging(trail_models.StopLoggingRequest(name="rolepact-audit"))
    try:
        _, checks = doctor(server)
        assert checks["trail"]["status"] == "fail" and "EventRW Write" in checks["trail"]["summary"]
    finally:
        trail(server).start_logging(trail_models.StartLoggingRequest(name="rolepact-audit"))
        trail(server).delete_trail(trail_models.DeleteTrailRequest(name="writes-only"))


def test_triggers_that_differ_from_the_deployment_file_fail(server, tmp_path):
    edited = (ROOT / "s.yaml").read_text("utf-8").replace("'@every 15m'", "'@every 5m'").replace(
        "name: hourly", "name: twice-hourly")
    (tmp_path / "s.yaml").write_text(edited, "utf-8")
    code, checks = doctor(server, "--deployment", str(tmp_path / "s.yaml"))
    assert checks["triggers"]["status"] == "fail"
    assert checks["triggers"]["details"] == {"missing": ["role_auditor/twice-hourly"],
                                             "different": ["access_audit/every-15-minutes"]}
    assert code == 1


def test_a_robot_that_refuses_the_test_message_fails(server):
    code, checks = doctor(server, "--send-test-message", ROLEPACT_DINGTALK_SECRET="SEC" + "2b" * 30)
    assert checks["dingtalk"]["status"] == "fail" and "310000" in checks["dingtalk"]["summary"] and code == 1


def test_a_skewed_clock_fails(tmp_path):
    with ServerProcess([f"{A}:company-a:{KEY}:{SECRET}"], extra_args=["--clock-offset", "-600"]) as skewed:
        bucket(skewed).create_bucket()
        skewed.deployment = {"approved": "", "webhook": ""}
        code, checks = doctor(skewed)
    assert checks["clock"]["status"] == "fail" and "ahead of" in checks["clock"]["summary"]
    assert 590 <= checks["clock"]["details"]["skewSeconds"] <= 610 and code == 1


def test_without_credentials_doctor_exits_2(server):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ROLEPACT_", "ALIBABA_CLOUD_"))}
    done = subprocess.run([sys.executable, "-m", "shared.cli", "doctor"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "rolepact doctor:" in done.stderr and "Traceback" not in done.stderr


def test_an_fc3_deployment_is_checked_through_the_fc3_api(tmp_path):
    """FC 3.0 (deploy/fc3/s.yaml, ROLEPACT_FC_API=fc3): functions have no service, one role each;
    the same checks read them through the FC gateway's 3.0 client."""
    from alibabacloud_fc20230330 import models as fc3_models
    from alibabacloud_fc20230330.client import Client as Fc3Client

    with ServerProcess([f"{A}:company-a:{KEY}:{SECRET}"]) as fc3:
        bucket(fc3).create_bucket()
        environ = {**ENV, "ROLEPACT_FC_API": "fc3", "ROLEPACT_DINGTALK_WEBHOOK": "-", "ROLEPACT_DINGTALK_SECRET": "-"}
        wiring = load(ROOT / "deploy" / "fc3" / "s.yaml", environ)
        client = ram(fc3)
        client.create_role(ram_models.CreateRoleRequest(role_name=ROLE,
                                                        assume_role_policy_document=json.dumps(FC_TRUST)))
        client.create_policy(ram_models.CreatePolicyRequest(policy_name="rolepact-fc-policy",
                                                            policy_document=json.dumps(fill(SERVICE_ROLE_POLICY, wiring))))
        client.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="Custom", role_name=ROLE,
                                                                          policy_name="rolepact-fc-policy"))
        functions = Fc3Client(config(fc3))
        for function in wiring.functions:
            functions.create_function(fc3_models.CreateFunctionRequest(body=fc3_models.CreateFunctionInput(
                function_name=function.name, runtime=function.runtime, handler=function.handler, role=function.role)))
            for trigger in function.triggers:
                functions.create_trigger(function.name, fc3_models.CreateTriggerRequest(body=fc3_models.CreateTriggerInput(
                    trigger_name=trigger["name"], trigger_type=trigger["type"],
                    trigger_config=json.dumps(trigger["config"]), source_arn=trigger.get("sourceArn"),
                    invocation_role=trigger.get("role"))))
        fc3.deployment = {"approved": "", "webhook": "https://oapi.dingtalk.com/robot/send?access_token=unused"}
        args = ("--deployment", str(ROOT / "deploy" / "fc3" / "s.yaml"))
        _, checks = doctor(fc3, *args, ROLEPACT_FC_API="fc3")
        assert checks["triggers"]["status"] == "pass", checks["triggers"]
        assert checks["service-role-policy"]["status"] == "pass", checks["service-role-policy"]
        functions.delete_trigger("rolepact-access-audit", "actiontrail-events")
        _, checks = doctor(fc3, *args, ROLEPACT_FC_API="fc3")
        assert checks["triggers"]["status"] == "fail"
        assert checks["triggers"]["details"]["missing"] == ["rolepact-access-audit/actiontrail-events"]
