"""Helpers shared by the OSS tests of the fake.

Clients are `oss2` objects built the way product code builds them. `raw` sends a request
signed by oss2's own signer through plain `requests`, for what oss2's methods hide (raw
XML, status codes, tampered or missing signatures).
"""
from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ElementTree
from datetime import datetime

import oss2
import pytest
import requests
import time_machine
from iam_support import ACCOUNT_A, ACCOUNT_B, RaisesWithCode, assume, make_user, ram_client, ram_models, trust

from fakecloud import Credentials

ENDPOINT = "https://oss-cn-hangzhou.aliyuncs.com"
INTERNAL = "https://oss-cn-hangzhou-internal.aliyuncs.com"
REGION = "cn-hangzhou"
BUCKET = "rolepact-data"

__all__ = ["ACCOUNT_A", "ACCOUNT_B", "ENDPOINT", "INTERNAL", "REGION", "BUCKET", "oss_auth", "bucket", "service",
           "raw", "error_fields", "oss_raises", "role_session", "make_user", "ram_client",
           "ram_models"]


def oss_auth(creds: Credentials, version: str = "v1"):
    """oss2 auth for these credentials: Auth / AuthV2 / AuthV4, or StsAuth when they carry a token."""
    if creds.security_token:
        return oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token, auth_version=version)
    return {"v1": oss2.Auth, "v2": oss2.AuthV2, "v4": oss2.AuthV4}[version](creds.access_key_id,
                                                                           creds.access_key_secret)


def bucket(creds: Credentials, name: str = BUCKET, *, endpoint: str = ENDPOINT, version: str = "v1",
           region: str = REGION, **options) -> oss2.Bucket:
    return oss2.Bucket(oss_auth(creds, version), endpoint, name, region=region, **options)


def service(creds: Credentials, *, endpoint: str = ENDPOINT, version: str = "v1") -> oss2.Service:
    return oss2.Service(oss_auth(creds, version), endpoint, region=REGION)


def raw(creds: Credentials | None, method: str, bucket_name: str = "", key: str = "", *, params=None, headers=None,
        data: bytes = b"", endpoint: str = ENDPOINT, version: str = "v1", tamper=None,
        signed_at: datetime | None = None) -> requests.Response:
    """Send one request signed exactly as oss2 signs it (unsigned when `creds` is None).

    `tamper(headers)` may change the headers after signing; `signed_at` signs as of that time
    (the request is still sent now).
    """
    url = oss2.api._UrlMaker(oss2.api._normalize_endpoint(endpoint), False, False)(bucket_name, key)
    req = oss2.http.Request(method, url, data=data, params=dict(params or {}), headers=dict(headers or {}),
                            region=REGION, product="oss")
    if creds is not None:
        with time_machine.travel(signed_at) if signed_at else contextlib.nullcontext():
            oss_auth(creds, version)._sign_request(req, bucket_name, key)
    sent = {k: v for k, v in req.headers.items() if v is not None}
    if tamper:
        tamper(sent)
    return requests.request(method, url, params=req.params, headers=sent, data=req.data)


def error_fields(response: requests.Response) -> dict[str, str | None]:
    """The children of an OSS `<Error>` body."""
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error"
    return {child.tag: child.text for child in root}


def oss_raises(exception_class, code: str, status: int) -> RaisesWithCode:
    """`pytest.raises(exception_class)` that also checks the OSS code and HTTP status."""
    return RaisesWithCode(exception_class, code, status, status_attribute="status")


def role_session(root_a: Credentials, root_b: Credentials, *, actions=("oss:GetObject",), name: str = "oss-from-b",
                 user: str = "bob", session: str = "s1", cloud=None) -> tuple[Credentials, object]:
    """A role in A (trusted by B, allowed `actions` on every OSS resource) assumed by B's user `user`.

    Returns (the session's credentials, the AssumeRole response body).
    """
    ram = ram_client(root_a)
    ram.create_role(ram_models.CreateRoleRequest(role_name=name,
                                                 assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_B}:root")))
    document = '{"Version":"1","Statement":[{"Effect":"Allow","Action":%s,"Resource":"*"}]}' % (
        "[" + ",".join(f'"{a}"' for a in actions) + "]")
    ram.create_policy(ram_models.CreatePolicyRequest(policy_name=f"{name}-policy", policy_document=document))
    ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="Custom",
                                                                  policy_name=f"{name}-policy", role_name=name))
    bob = make_user(cloud, root_b, user, "AliyunSTSAssumeRoleAccess")
    return assume(bob, f"acs:ram::{ACCOUNT_A}:role/{name}", session)
