"""Helpers shared by the Function Compute, EventBridge and timer tests of the fake.

Clients are the official SDKs (fc2, RAM, STS); `raw_fc` sends a request signed by fc2's own
`Auth` signer through `requests`, for what fc2's methods hide (status codes, tampering).
"""
from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import subprocess
import sys
import time

import fc2
import pytest
import requests
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.models import Config
from fc2.auth import Auth

from fakecloud import Credentials, mock_cloud

ACCOUNT = "1500000000000001"
OTHER = "1500000000000002"
REGION = "cn-hangzhou"

__all__ = ["ACCOUNT", "OTHER", "REGION", "fc_client", "ram_client", "sts_client", "raw_fc", "fc_error",
           "service_role", "ram_user", "policy", "ram_models", "sts_models", "endpoint", "cloud_fixture",
           "root_fixture", "fc_fixture", "serve"]


def endpoint(account: str = ACCOUNT, region: str = REGION) -> str:
    return f"https://{account}.{region}.fc.aliyuncs.com"


def fc_client(creds, account: str = ACCOUNT, region: str = REGION) -> fc2.Client:
    """`creds` is a fakecloud Credentials or FC's context.credentials."""
    return fc2.Client(endpoint=endpoint(account, region), accessKeyID=creds.access_key_id,
                      accessKeySecret=creds.access_key_secret, securityToken=creds.security_token or "")


def _config(creds, region: str) -> Config:
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token, region_id=region)


def ram_client(creds, region: str = REGION) -> RamClient:
    return RamClient(_config(creds, region))


def sts_client(creds, region: str = REGION) -> StsClient:
    return StsClient(_config(creds, region))


def raw_fc(creds, method: str, path: str, *, body: bytes = b"", headers: dict | None = None,
           sign_path: str | None = None, date: str | None = None, account: str = ACCOUNT,
           secret: str | None = None) -> requests.Response:
    """A request signed exactly like fc2 signs it (optionally for another path, date or secret)."""
    signed = {"date": date or email.utils.formatdate(usegmt=True), "content-type": "application/json",
              "content-length": "0"}
    if creds.security_token:
        signed["x-fc-security-token"] = creds.security_token
    signed.update(headers or {})
    auth = Auth(creds.access_key_id, secret or creds.access_key_secret, creds.security_token or "")
    signed["authorization"] = auth.sign_request(method, sign_path or path, signed)
    signed.pop("content-length")
    return requests.request(method, endpoint(account) + path, headers=signed, data=body)


def fc_error(call) -> fc2.FcError:
    with pytest.raises(fc2.FcError) as caught:
        call()
    return caught.value


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def service_role(root: Credentials, name: str = "fc-role", *, service: str = "fc.aliyuncs.com",
                 policies: tuple[str, ...] = ()) -> str:
    """Create a role FC may assume (through the RAM SDK); attach custom policy documents; returns its ARN."""
    ram = ram_client(root)
    trust = policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": [service]}})
    arn = ram.create_role(ram_models.CreateRoleRequest(role_name=name, assume_role_policy_document=trust)).body.role.arn
    for index, document in enumerate(policies):
        policy_name = f"{name}-p{index}"
        ram.create_policy(ram_models.CreatePolicyRequest(policy_name=policy_name, policy_document=document))
        ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
            policy_type="Custom", policy_name=policy_name, role_name=name))
    return arn


def ram_user(root: Credentials, name: str, *documents: str) -> Credentials:
    """A RAM user with an access key and the given custom policies (through the RAM SDK)."""
    ram = ram_client(root)
    ram.create_user(ram_models.CreateUserRequest(user_name=name))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    for index, document in enumerate(documents):
        policy_name = f"{name}-p{index}"
        ram.create_policy(ram_models.CreatePolicyRequest(policy_name=policy_name, policy_document=document))
        ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="Custom", policy_name=policy_name, user_name=name))
    return Credentials(key.access_key_id, key.access_key_secret, None, root.account_id)


@pytest.fixture(name="cloud")
def cloud_fixture():
    """A fresh mock cloud (import it into a test module as `cloud_fixture`)."""
    with mock_cloud() as cloud:
        try:
            yield cloud
        finally:
            cloud.backend("fc").stop_workers()


@pytest.fixture(name="root")
def root_fixture(cloud):
    """ACCOUNT's root credentials (import as `root_fixture`)."""
    return cloud.add_account(ACCOUNT)


@pytest.fixture(name="fc")
def fc_fixture(cloud):
    """The Function Compute backend (import as `fc_fixture`)."""
    return cloud.backend("fc")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(*arguments: str, env: dict | None = None):
    """`python -m fakecloud` on a free port; yields (port, the banner's JSON) once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "fakecloud", "--port", str(port), *arguments],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = json.loads(process.stdout.readline())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_fakecloud/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield port, banner
    finally:
        process.terminate()
        process.wait(timeout=10)
