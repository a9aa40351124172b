"""`python -m fakecloud` as a separate process, driven over HTTP by real clients.

What another language's SDK would see: one 127.0.0.1 port serving RAM, STS, OSS, FC and
the DingTalk robot, with signatures verified and policies evaluated.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import oss2
import pytest
import requests
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.models import Config
from fc_support import serve

A, B = "1234567890123456", "1345678901234567"
A_KEY, A_SECRET = "LTAI5tServerModeOwner000", "owner-secret-for-server-mode-tests"


@pytest.fixture(scope="module")
def server():
    with serve("--account", f"{A}:company-a:{A_KEY}:{A_SECRET}", "--account", f"{B}:company-b") as (port, banner):
        yield {"port": port, "url": f"http://127.0.0.1:{port}", "banner": banner}


def pop_config(server, key_id, secret, token=None) -> Config:
    return Config(access_key_id=key_id, access_key_secret=secret, security_token=token,
                  endpoint=f"127.0.0.1:{server['port']}", protocol="http", region_id="cn-hangzhou")


def test_banner_lists_the_accounts_and_fixed_credentials(server):
    accounts = server["banner"]["accounts"]
    assert accounts[A] == {"alias": "company-a", "accessKeyId": A_KEY, "accessKeySecret": A_SECRET}
    assert accounts[B]["accessKeyId"].startswith("LTAI")
    assert server["banner"]["fakecloud"] == server["url"]


def test_ram_sts_and_cross_account_assume_over_http(server):
    b = server["banner"]["accounts"][B]
    ram_a = RamClient(pop_config(server, A_KEY, A_SECRET))
    trust = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                            "Principal": {"RAM": [f"acs:ram::{B}:root"]}}]}
    ram_a.create_role(ram_models.CreateRoleRequest(role_name="ecs-admin", assume_role_policy_document=json.dumps(trust)))
    ram_a.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="System", role_name="ecs-admin",
                                                                     policy_name="AliyunOSSReadOnlyAccess"))
    ram_b = RamClient(pop_config(server, b["accessKeyId"], b["accessKeySecret"]))
    ram_b.create_user(ram_models.CreateUserRequest(user_name="alice"))
    key = ram_b.create_access_key(ram_models.CreateAccessKeyRequest(user_name="alice")).body.access_key
    sts_alice = StsClient(pop_config(server, key.access_key_id, key.access_key_secret))
    with pytest.raises(Exception) as denied:  # no sts:AssumeRole permission yet
        sts_alice.assume_role(sts_models.AssumeRoleRequest(role_arn=f"acs:ram::{A}:role/ecs-admin",
                                                           role_session_name="alice"))
    assert denied.value.code == "NoPermission" and denied.value.status_code == 403
    ram_b.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(policy_type="System", user_name="alice",
                                                                     policy_name="AliyunSTSAssumeRoleAccess"))
    creds = sts_alice.assume_role(sts_models.AssumeRoleRequest(role_arn=f"acs:ram::{A}:role/ecs-admin",
                                                               role_session_name="alice")).body.credentials
    session = StsClient(pop_config(server, creds.access_key_id, creds.access_key_secret, creds.security_token))
    identity = session.get_caller_identity().body
    assert identity.arn == f"acs:ram::{A}:assumed-role/ecs-admin/alice"
    assert identity.identity_type == "AssumedRoleUser"


def test_wrong_secret_is_refused_over_http(server):
    with pytest.raises(Exception) as refused:
        StsClient(pop_config(server, A_KEY, "not-the-secret")).get_caller_identity()
    assert refused.value.code == "SignatureDoesNotMatch" and refused.value.status_code == 400


def test_oss_through_oss2_path_style(server):
    bucket = oss2.Bucket(oss2.Auth(A_KEY, A_SECRET), server["url"], "server-mode-bucket")
    bucket.create_bucket()
    bucket.put_object("agreements/x.json", b'{"hello": "world"}')
    assert bucket.get_object("agreements/x.json").read() == b'{"hello": "world"}'
    assert [o.key for o in oss2.ObjectIterator(bucket, prefix="agreements/")] == ["agreements/x.json"]
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("agreements/missing.json")
    b = server["banner"]["accounts"][B]
    foreign = oss2.Bucket(oss2.Auth(b["accessKeyId"], b["accessKeySecret"]), server["url"], "server-mode-bucket")
    with pytest.raises(oss2.exceptions.AccessDenied):
        foreign.get_object("agreements/x.json")


def test_dingtalk_robot_signing_over_http(server):
    robot = requests.post(f"{server['url']}/_fakecloud/dingtalk/robots",
                          json={"secret": "SECserver", "keyword": "rolepact"}).json()["webhook"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(robot).query)["access_token"][0]
    url = f"{server['url']}/robot/send?access_token={token}"
    timestamp = str(int(time.time() * 1000))
    digest = hmac.new(b"SECserver", f"{timestamp}\nSECserver".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    message = {"msgtype": "text", "text": {"content": "rolepact says hello"}}
    assert requests.post(f"{url}&timestamp={timestamp}&sign={sign}", json=message).json() == {"errcode": 0,
                                                                                               "errmsg": "ok"}
    bad = requests.post(f"{url}&timestamp={timestamp}&sign=forged", json=message).json()
    assert bad["errcode"] == 310000
    messages = requests.get(f"{server['url']}/_fakecloud/dingtalk/messages", params={"webhook": robot}).json()
    assert [m["text"] for m in messages] == ["rolepact says hello"]


def test_unknown_host_or_admin_path_answers_clearly(server):
    answer = requests.get(f"{server['url']}/_fakecloud/nope")
    assert answer.status_code == 404 and "no admin endpoint" in answer.json()["error"]
