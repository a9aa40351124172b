"""POP request authentication: ACS3-HMAC-SHA256 (tea SDKs) and the classic RPC signature (aliyun-python-sdk-core).

Besides SDK calls, raw requests are built here with an independent ACS3 signer written from the
published algorithm, so the verifier is checked against the spec and not only against itself.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from fakecloud import Credentials
from fakecloud.auth.pop import NonceCache
from iam_support import (ACCOUNT_A, ACCOUNT_B, api_error, assume, cloud, make_user, ram_a, ram_client,  # noqa: F401
                         ram_models as M, root_a, root_b, trust, wire)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_request(creds: Credentials, action: str, params: dict[str, str], *, version: str = "2015-05-01",
                   host: str = "ram.aliyuncs.com", date: str | None = None, nonce: str | None = None,
                   secret: str | None = None) -> tuple[str, dict[str, str]]:
    """URL and headers of a POST signed with ACS3-HMAC-SHA256, the way the tea SDKs sign."""
    headers = {
        "host": host, "x-acs-action": action, "x-acs-version": version,
        "x-acs-date": date or iso(datetime.now(timezone.utc)), "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": EMPTY_SHA256, "accept": "application/json",
    }
    if creds.security_token:
        headers["x-acs-security-token"] = creds.security_token
    query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params.items()))
    names = sorted(headers)
    canonical = "\n".join(["POST", "/", query, "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                           ";".join(names), EMPTY_SHA256])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new((secret or creds.access_key_secret).encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"ACS3-HMAC-SHA256 Credential={creds.access_key_id},"
                                f"SignedHeaders={';'.join(names)},Signature={signature}")
    return f"https://{host}/?{urlencode(params)}", headers


def send(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    reply = requests.post(url, headers=headers)
    return reply.status_code, reply.json()


def make_role(ram, name: str = "r"):
    ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_B}:root")))


# --------------------------------------------------------------------------- ACS3


def test_independently_signed_request_is_accepted(root_a, ram_a):
    description = "a b+c/d*e~f é 中 !'()%"
    make_role(ram_a)
    url, headers = signed_request(root_a, "UpdateRole", {"RoleName": "r", "NewDescription": description})
    status, body = send(url, headers)
    assert status == 200, body
    assert body["Role"]["Description"] == description
    assert ram_a.get_role(M.GetRoleRequest(role_name="r")).body.role.description == description


def test_wrong_secret_is_signature_does_not_match(root_a):
    wrong = Credentials(root_a.access_key_id, "x" * 30)
    with api_error("SignatureDoesNotMatch", 400) as failed:
        ram_client(wrong).list_roles(M.ListRolesRequest())
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in failed.value.message


def test_tampered_query_and_replayed_nonce(cloud, root_a, ram_a):
    make_role(ram_a, "visible")
    make_role(ram_a, "other")
    with wire(cloud) as seen:
        ram_a.get_role(M.GetRoleRequest(role_name="visible"))
    sent = seen.requests[-1]
    headers = {k: v for k, v in sent.headers.items() if k not in ("content-length",)}
    params = dict(parse_qsl(urlsplit(sent.url).query))
    tampered = f"https://ram.aliyuncs.com/?{urlencode(dict(params, RoleName='other'))}"
    status, body = send(tampered, headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    status, body = send(sent.url, headers)  # the untouched request, sent a second time
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    assert body["Message"] == "Specified signature nonce was used already."


def test_tampered_signed_header_is_rejected(root_a, ram_a):
    make_role(ram_a)
    url, headers = signed_request(root_a, "GetRole", {"RoleName": "r"})
    status, body = send(url, dict(headers, **{"x-acs-action": "DeleteRole"}))
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert ram_a.get_role(M.GetRoleRequest(role_name="r")).body.role.role_name == "r"


def test_body_not_matching_its_signed_hash_is_rejected(root_a):
    url, headers = signed_request(root_a, "ListRoles", {})
    reply = requests.post(url, headers=headers, data=b"RoleName=smuggled")
    assert (reply.status_code, reply.json()["Code"]) == (400, "SignatureDoesNotMatch")


def test_nonces_are_remembered_for_the_skew_window_only():
    nonces, start = NonceCache(), datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(1000):
        assert nonces.use(f"n{i}", start + timedelta(seconds=i / 100))
    assert not nonces.use("n5", start + timedelta(minutes=14))
    assert nonces.use("fresh", start + timedelta(minutes=16))  # the first 1000 have left the window
    assert len(nonces._seen) == 1  # memory follows the request rate, not the process lifetime


def test_unknown_access_key(cloud):
    with api_error("InvalidAccessKeyId.NotFound", 404) as failed:
        ram_client(Credentials("LTAI5tNOSUCHKEY000000000", "s" * 30)).list_roles(M.ListRolesRequest())
    assert "Specified access key is not found." in failed.value.message


@pytest.mark.parametrize("offset_minutes, code", [(-16, "InvalidTimeStamp.Expired"), (16, "InvalidTimeStamp.Expired"),
                                                  (-14, None), (14, None)])
def test_request_date_must_be_within_15_minutes(root_a, offset_minutes, code):
    date = iso(datetime.now(timezone.utc) + timedelta(minutes=offset_minutes))
    status, body = send(*signed_request(root_a, "ListRoles", {}, date=date))
    if code is None:
        assert status == 200, body
    else:
        assert (status, body["Code"], body["Message"]) == (
            400, code, "Specified time stamp or date value is expired.")


def test_badly_formatted_date(root_a):
    status, body = send(*signed_request(root_a, "ListRoles", {}, date="yesterday"))
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Format")


def test_missing_or_incomplete_signature(root_a):
    url, headers = signed_request(root_a, "ListRoles", {})
    status, body = send(url, {k: v for k, v in headers.items() if k != "Authorization"})
    assert (status, body["Code"]) == (400, "MissingSignature")
    status, body = send(url, dict(headers, Authorization="ACS3-HMAC-SHA256 Credential=only"))
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_unknown_action_and_wrong_version(root_a):
    status, body = send(*signed_request(root_a, "StealEverything", {}))
    assert (status, body["Code"]) == (404, "InvalidAction.NotFound")
    assert body["Message"] == "Specified api is not found, please check your url and method."
    status, body = send(*signed_request(root_a, "ListRoles", {}, version="2015-04-01"))
    assert (status, body["Code"]) == (400, "InvalidVersion")


def test_error_body_shape(root_a):
    status, body = send(*signed_request(root_a, "GetRole", {"RoleName": "ghost"}))
    assert status == 404
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert (body["Code"], body["HostId"]) == ("EntityNotExist.Role", "ram.aliyuncs.com")


def test_sts_credentials_sign_with_their_token(cloud, root_a, ram_a, root_b):
    ram_a.create_role(M.CreateRoleRequest(role_name="r", assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_B}:root")))
    ram_a.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="System", policy_name="AliyunRAMReadOnlyAccess",
                                                            role_name="r"))
    alice = make_user(cloud, root_b, "alice", "AliyunSTSAssumeRoleAccess")
    session, _ = assume(alice, f"acs:ram::{ACCOUNT_A}:role/r")
    status, body = send(*signed_request(session, "GetRole", {"RoleName": "r"}))
    assert status == 200, body
    url, headers = signed_request(session, "GetRole", {"RoleName": "r"})
    headers["x-acs-security-token"] = "CAIS" + "x" * 40  # token swapped after signing
    status, body = send(url, headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


# --------------------------------------------------------------------------- classic RPC signature (aliyun-python-sdk-core)


def rpc_client(creds: Credentials) -> AcsClient:
    if creds.security_token:
        return AcsClient(region_id="cn-hangzhou", credential=StsTokenCredential(
            creds.access_key_id, creds.access_key_secret, creds.security_token))
    return AcsClient(creds.access_key_id, creds.access_key_secret, "cn-hangzhou")


def rpc(creds: Credentials, action: str, *, method: str = "POST", domain: str = "ram.aliyuncs.com",
        version: str = "2015-05-01", query: dict | None = None, body: dict | None = None) -> dict:
    request = CommonRequest(domain=domain, version=version, action_name=action)
    request.set_method(method)
    for key, value in (query or {}).items():
        request.add_query_param(key, value)
    for key, value in (body or {}).items():
        request.add_body_params(key, value)
    return json.loads(rpc_client(creds).do_action_with_exception(request))


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_rpc_signature_get_role(root_a, ram_a, method):
    make_role(ram_a, "ecs-admin")
    reply = rpc(root_a, "GetRole", method=method, query={"RoleName": "ecs-admin"})
    assert reply["Role"]["Arn"] == f"acs:ram::{ACCOUNT_A}:role/ecs-admin"


def test_rpc_signature_with_form_body_and_special_characters(root_a, ram_a):
    description = "a b+c/d*e~f é 中 !'()%"
    reply = rpc(root_a, "CreateRole", body={
        "RoleName": "from-rpc", "Description": description,
        "AssumeRolePolicyDocument": trust(f"acs:ram::{ACCOUNT_B}:root")})
    assert reply["Role"]["Description"] == description
    assert ram_a.get_role(M.GetRoleRequest(role_name="from-rpc")).body.role.description == description


def test_rpc_signature_failures(cloud, root_a):
    with pytest.raises(ServerException) as failed:
        rpc(Credentials(root_a.access_key_id, "w" * 30), "ListRoles")
    assert (failed.value.get_error_code(), failed.value.get_http_status()) == ("SignatureDoesNotMatch", 400)
    with pytest.raises(ServerException) as failed:
        rpc(Credentials("LTAI5tNOSUCHKEY000000000", "s" * 30), "ListRoles")
    assert (failed.value.get_error_code(), failed.value.get_http_status()) == ("InvalidAccessKeyId.NotFound", 404)
    with pytest.raises(ServerException) as failed:
        rpc(root_a, "NoSuchAction")
    assert (failed.value.get_error_code(), failed.value.get_http_status()) == ("InvalidAction.NotFound", 404)


def test_rpc_sts_assume_role_and_token_use(cloud, ram_a, root_b):
    make_role(ram_a, "r")
    ram_a.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="System", policy_name="AliyunRAMReadOnlyAccess",
                                                            role_name="r"))
    alice = make_user(cloud, root_b, "alice", "AliyunSTSAssumeRoleAccess")
    reply = rpc(alice, "AssumeRole", domain="sts.aliyuncs.com", version="2015-04-01",
                query={"RoleArn": f"acs:ram::{ACCOUNT_A}:role/r", "RoleSessionName": "rpc"})
    creds = reply["Credentials"]
    session = Credentials(creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"])
    listed = rpc(session, "ListRoles")
    assert [r["RoleName"] for r in listed["Roles"]["Role"]] == ["r"]
    identity = rpc(session, "GetCallerIdentity", domain="sts.aliyuncs.com", version="2015-04-01")
    assert identity["Arn"] == f"acs:ram::{ACCOUNT_A}:assumed-role/r/rpc"
    with pytest.raises(ServerException) as failed:
        rpc(Credentials(session.access_key_id, session.access_key_secret), "ListRoles")
    assert failed.value.get_error_code() == "MissingSecurityToken"


def test_rpc_request_with_everything_in_a_form_body(root_a, ram_a):
    """Older clients (aliyun CLI, SDKs before 2.16) POST every parameter, Action and Version included, as a form."""
    make_role(ram_a, "form-role")
    params = {"Action": "GetRole", "Version": "2015-05-01", "Format": "JSON", "RoleName": "form-role",
              "AccessKeyId": root_a.access_key_id, "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
              "SignatureNonce": uuid.uuid4().hex, "Timestamp": iso(datetime.now(timezone.utc))}
    canonical = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params.items()))
    to_sign = "POST&%2F&" + quote(canonical, safe="~")
    params["Signature"] = base64.b64encode(hmac.new(f"{root_a.access_key_secret}&".encode(), to_sign.encode(),
                                                    hashlib.sha1).digest()).decode()
    reply = requests.post("https://ram.aliyuncs.com/", data=params)
    assert reply.status_code == 200, reply.text
    assert reply.json()["Role"]["RoleName"] == "form-role"
    params["RoleName"] = "other"  # tampered after signing
    reply = requests.post("https://ram.aliyuncs.com/", data=params)
    assert (reply.status_code, reply.json()["Code"]) == (400, "SignatureDoesNotMatch")


# --------------------------------------------------------------------------- ACS3 edge cases (review)


def signed_pairs(creds: Credentials, action: str, pairs: list[tuple[str, str]], *,
                 unsigned: dict[str, str] | None = None, signed_names: list[str] | None = None):
    """Like `signed_request`, for query pairs that may repeat a key, sorted by key only (the spec's
    rule; repeated keys keep their order). `unsigned` headers are added after signing;
    `signed_names` restricts SignedHeaders to those names."""
    headers = {
        "host": "ram.aliyuncs.com", "x-acs-action": action, "x-acs-version": "2015-05-01",
        "x-acs-date": iso(datetime.now(timezone.utc)), "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": EMPTY_SHA256, "accept": "application/json",
    }
    names = sorted(signed_names or headers)
    query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(pairs, key=lambda kv: kv[0]))
    canonical = "\n".join(["POST", "/", query, "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                           ";".join(names), EMPTY_SHA256])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(creds.access_key_secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"ACS3-HMAC-SHA256 Credential={creds.access_key_id},"
                                f"SignedHeaders={';'.join(names)},Signature={signature}")
    headers.update(unsigned or {})
    return f"https://ram.aliyuncs.com/?{urlencode(pairs)}", headers


@pytest.mark.parametrize("value", ["", " ", "+", "a+b c", "/~*", "%2F%20", "é中😀", "x=y&z", "\t"])
def test_acs3_values_with_reserved_and_unicode_characters_through_the_sdk(ram_a, value):
    """The tea SDK puts `+`-encoded query values on the wire and signs them RFC 3986-encoded; the
    fake must decode and re-encode exactly that way, empty values included."""
    ram_a.create_role(M.CreateRoleRequest(role_name="r", assume_role_policy_document=trust(
        f"acs:ram::{ACCOUNT_B}:root"), description=value))
    assert ram_a.get_role(M.GetRoleRequest(role_name="r")).body.role.description == value


def test_acs3_repeated_query_keys_are_signed_in_order_and_tamper_proof(root_a, ram_a):
    make_role(ram_a, "r")
    pairs = [("RoleName", "r"), ("Extra", "2"), ("Extra", "1"), ("Empty", "")]
    status, body = send(*signed_pairs(root_a, "GetRole", pairs))
    assert status == 200, body
    url, headers = signed_pairs(root_a, "GetRole", pairs)
    swapped = url.replace("Extra=2&Extra=1", "Extra=1&Extra=2")
    assert swapped != url
    status, body = send(swapped, headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


@pytest.mark.parametrize("left_out", ["x-acs-action", "x-acs-version", "host", "x-acs-signature-nonce"])
def test_acs3_every_common_header_present_must_be_signed(root_a, ram_a, left_out):
    """A header outside SignedHeaders could be rewritten in flight (an unsigned x-acs-action turns
    a signed GetRole into DeleteRole): the V3 rules require host and every x-acs-* header signed."""
    make_role(ram_a, "r")
    names = [n for n in ("accept", "host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
                         "x-acs-signature-nonce", "x-acs-version") if n != left_out]
    url, headers = signed_pairs(root_a, "GetRole", [("RoleName", "r")], signed_names=names)
    if left_out == "x-acs-action":
        headers["x-acs-action"] = "DeleteRole"
    status, body = send(url, headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature"), body
    assert left_out in body["Message"]
    assert ram_a.get_role(M.GetRoleRequest(role_name="r")).body.role.role_name == "r"


def test_acs3_an_extra_unsigned_x_acs_header_is_refused(root_a):
    url, headers = signed_pairs(root_a, "ListRoles", [], unsigned={"x-acs-security-token": "CAISsmuggled"})
    status, body = send(url, headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature")
