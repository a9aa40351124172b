"""RAM and STS gateways, the retry policy, error mapping and the lazy bundle, against fakecloud."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_support import OWNER, PARTNER, allow, cloud, make_user, owner, settings_for, trust  # noqa: F401

from fakecloud import Limits, mock_cloud
from fakecloud.server import FakeCloudServer
from shared.documents import canonical
from shared.errors import CloudError
from shared.gateways import Gateways, split_endpoint
from shared.gateways.retry import call_with_retry, to_cloud_error
from shared.gateways.sts import AssumedCredentials
from shared.settings import Credentials, Endpoints, Settings
from shared.state import PolicySnapshot, RoleSnapshot, RoleSummary

ROOT = Path(__file__).resolve().parents[2]
TRUST = trust(f"acs:ram::{PARTNER}:root")
ECS_READ = allow("ecs:Describe*")


# -- the bundle ----------------------------------------------------------------------------------------

def test_connect_imports_no_sdk_until_a_gateway_is_used():
    code = ("import sys\n"
            "from shared.gateways import Gateways\n"
            "from shared.settings import Settings, Credentials\n"
            "g = Gateways.connect(Settings(account_id='1', credentials=Credentials('a', 'b')))\n"
            "heavy = ('oss2', 'fc2', 'alibabacloud_ram20150501', 'alibabacloud_sts20150401',\n"
            "         'alibabacloud_actiontrail20200706', 'alibabacloud_tea_openapi', 'requests')\n"
            "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
            "g.store\n"
            "assert 'oss2' in sys.modules and 'alibabacloud_ram20150501' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_gateways_are_built_once_on_first_access(owner):
    _, settings, gateways = owner
    assert "ram" not in vars(gateways)
    assert gateways.ram is gateways.ram
    assert gateways.store is gateways.store and gateways.store.bucket_name == settings.bucket
    assert gateways.dingtalk is None  # no robot configured


def test_missing_credentials_are_reported_clearly():
    with pytest.raises(Exception, match="no cloud credentials"):
        Gateways.connect(Settings(account_id=OWNER)).ram


def test_split_endpoint():
    assert split_endpoint("127.0.0.1:9000", "http") == ("http", "127.0.0.1:9000")
    assert split_endpoint("https://oss-cn-hangzhou-internal.aliyuncs.com/", "http") == \
        ("https", "oss-cn-hangzhou-internal.aliyuncs.com")


def test_every_gateway_follows_endpoint_overrides_to_a_server_mode_fake():
    """Server mode: one host:port over http for every service, as the local runtime configures it."""
    with FakeCloudServer() as server:
        root = server.cloud.add_account(OWNER)
        server.cloud.backend("oss").create_bucket_direct(OWNER, "rolepact-data")
        server.cloud.backend("fc").register_function(OWNER, "rolepact", "worker", lambda event, context: event)
        host = f"127.0.0.1:{server.port}"
        endpoints = Endpoints(ram=host, sts=host, oss=host, actiontrail=host, fc=host, protocol="http")
        gateways = Gateways.connect(settings_for(root, endpoints=endpoints))
        gateways.ram.create_role("via-server", TRUST, "d", 3600, {})
        assert gateways.ram.get_role("via-server").name == "via-server"
        assert gateways.sts.get_caller_identity()["AccountId"] == OWNER
        assert gateways.store.put("k", b"v") and gateways.store.get("k") == b"v"
        assert json.loads(gateways.fc.invoke_sync("worker", {"n": 1})) == {"n": 1}
        assert server.cloud.calls.count("CreateRole") == 1


# -- RAM: roles ------------------------------------------------------------------------------------------

def test_role_lifecycle(cloud, owner):
    _, _, gateways = owner
    ram = gateways.ram
    assert ram.get_role("partner-ops") is None

    created = ram.create_role("partner-ops", TRUST, "ops for partner", 7200, {"rolepact-managed": "true"})
    assert isinstance(created, RoleSnapshot)
    assert created.arn == f"acs:ram::{OWNER}:role/partner-ops" and created.trust == TRUST
    # the document is sent as canonical JSON
    assert cloud.ram.get_role(OWNER, "partner-ops").trust_document == canonical(TRUST)

    role = ram.get_role("partner-ops")
    assert (role.name, role.description, role.max_session_duration, role.trust) == \
        ("partner-ops", "ops for partner", 7200, TRUST)
    assert role.role_id == created.role_id
    assert role.tags == {} and role.attached == frozenset()  # GetRole alone reads neither

    ram.tag_role("partner-ops", {"rolepact-agreement": "a-1"})
    assert ram.role_tags("partner-ops") == {"rolepact-managed": "true", "rolepact-agreement": "a-1"}

    closed = trust(f"acs:ram::{OWNER}:root")
    updated = ram.update_role("partner-ops", trust=closed, max_session_duration=3600)
    assert updated.trust == closed and updated.max_session_duration == 3600
    assert ram.get_role("partner-ops").description == "ops for partner"  # untouched
    ram.update_role("partner-ops", description="ended")
    assert ram.get_role("partner-ops").description == "ended"

    ram.delete_role("partner-ops")
    assert ram.get_role("partner-ops") is None


def test_get_role_with_details_reads_tags_and_attachments(owner):
    _, _, gateways = owner
    ram = gateways.ram
    ram.create_role("r", TRUST, "d", 3600, (("k", "v"),))
    ram.create_policy("p", ECS_READ, "d")
    ram.attach_policy_to_role("r", "Custom", "p")
    ram.attach_policy_to_role("r", "System", "AliyunECSReadOnlyAccess")
    role = ram.get_role("r", with_details=True)
    assert role.tags == {"k": "v"}
    assert role.attached == {("Custom", "p"), ("System", "AliyunECSReadOnlyAccess")}


def test_unparseable_trust_document_reads_as_none(cloud, owner):
    _, _, gateways = owner
    gateways.ram.create_role("r", TRUST, "d", 3600, {})
    cloud.ram.get_role(OWNER, "r").trust_document = "not json"  # what a broken reply would carry
    assert gateways.ram.get_role("r").trust is None


def test_missing_role_errors_keep_code_status_and_request_id(owner):
    _, _, gateways = owner
    with pytest.raises(CloudError) as raised:
        gateways.ram.update_role("ghost", description="x")
    error = raised.value
    assert (error.service, error.action, error.code, error.status) == ("ram", "UpdateRole", "EntityNotExist.Role", 404)
    assert error.request_id and error.request_id in str(error)
    assert error.message == "The role does not exist."
    for call in (lambda: gateways.ram.delete_role("ghost"), lambda: gateways.ram.list_policies_for_role("ghost"),
                 lambda: gateways.ram.attach_policy_to_role("ghost", "System", "AliyunECSReadOnlyAccess")):
        with pytest.raises(CloudError, match="EntityNotExist.Role"):
            call()


def test_iter_roles_pages_through_2500_roles():
    with mock_cloud(limits=Limits(roles_per_account=3000)) as cloud:
        root = cloud.add_account(OWNER)
        document = json.dumps(TRUST)
        for n in range(2500):  # set up directly: only the reads under test go through the SDK
            cloud.ram.create_role(OWNER, f"role-{n:04d}", document, f"d{n}", 3600,
                                  [{"Key": "n", "Value": str(n)}] if n % 1000 == 0 else None)
        roles = list(Gateways.connect(settings_for(root)).ram.iter_roles())
        assert [r.name for r in roles] == [f"role-{n:04d}" for n in range(2500)]
        assert all(isinstance(r, RoleSummary) for r in roles)
        assert roles[1000].tags == {"n": "1000"} and roles[1].tags == {}
        assert roles[7].arn == f"acs:ram::{OWNER}:role/role-0007" and roles[7].role_id
        assert cloud.calls.count("ListRoles") == 3


def test_iter_roles_filters_by_tag(owner):
    _, _, gateways = owner
    gateways.ram.create_role("mine", TRUST, "d", 3600, {"rolepact-managed": "true"})
    gateways.ram.create_role("theirs", TRUST, "d", 3600, {})
    assert [r.name for r in gateways.ram.iter_roles(tag=("rolepact-managed", "true"))] == ["mine"]


# -- RAM: policies -----------------------------------------------------------------------------------------

def test_policy_lifecycle(cloud, owner):
    _, _, gateways = owner
    ram = gateways.ram
    assert ram.get_policy("rp-x-guard") is None
    ram.create_policy("rp-x-guard", ECS_READ, "guard of x", {"rolepact-agreement": "x"})
    assert ram.get_policy("rp-x-guard") == PolicySnapshot("rp-x-guard", "Custom", ECS_READ, "guard of x")
    assert cloud.ram.get_policy(OWNER, "Custom", "rp-x-guard").default.document == canonical(ECS_READ)

    # more versions than RAM keeps (5): the oldest non-default ones rotate out
    for n in range(6):
        ram.create_policy_version("rp-x-guard", allow(f"ecs:Describe{n}"))
    assert ram.get_policy("rp-x-guard").document == allow("ecs:Describe5")
    assert len(cloud.ram.get_policy(OWNER, "Custom", "rp-x-guard").versions) == 5

    ram.create_role("r", TRUST, "d", 3600, {})
    ram.attach_policy_to_role("r", "Custom", "rp-x-guard")
    assert ram.list_policies_for_role("r") == {("Custom", "rp-x-guard")}
    with pytest.raises(CloudError) as raised:
        ram.delete_policy("rp-x-guard")  # still attached
    assert raised.value.code.startswith("DeleteConflict") and not raised.value.retryable
    ram.detach_policy_from_role("r", "Custom", "rp-x-guard")
    assert ram.list_policies_for_role("r") == frozenset()
    ram.delete_policy("rp-x-guard")  # cascading: the 4 non-default versions go too
    assert ram.get_policy("rp-x-guard") is None
    assert ram.get_policy("AliyunECSReadOnlyAccess", "System").document["Statement"]


def test_list_policies_by_type_and_tag_with_paging(cloud, owner):
    _, _, gateways = owner
    document = json.dumps(ECS_READ)
    for n in range(1100):
        cloud.ram.create_policy(OWNER, f"p-{n:04d}", document, "d", [{"Key": "agreement", "Value": str(n % 2)}])
    custom = gateways.ram.list_policies()
    assert len(custom) == 1100 and custom[0].name == "p-0000" and custom[0].default_version == "v1"
    assert cloud.calls.count("ListPolicies") == 2
    tagged = gateways.ram.list_policies(tag={"agreement": "1"})
    assert len(tagged) == 550 and all(p.tags == {"agreement": "1"} for p in tagged)
    assert {p.policy_type for p in gateways.ram.list_policies("System")} == {"System"}


def test_list_policies_of_both_types(owner):
    _, _, gateways = owner
    gateways.ram.create_policy("mine", ECS_READ, "d")
    kinds = {(p.policy_type, p.name) for p in gateways.ram.list_policies(policy_type=None)}
    assert ("Custom", "mine") in kinds and ("System", "AliyunECSReadOnlyAccess") in kinds


def test_a_marker_that_does_not_advance_is_refused(cloud, owner):
    """A cloud whose paging marker repeats would page forever; the gateway stops instead of looping."""
    page = {"IsTruncated": True, "Policies": {"Policy": [{"PolicyName": "a", "PolicyType": "Custom"}]}}
    cloud.faults.answer("ListPolicies", dict(page, Marker="m1"), dict(page, Marker="m2"), dict(page, Marker="m1"))
    with pytest.raises(CloudError) as raised:
        owner[2].ram.list_policies(policy_type=None)
    assert raised.value.code == "PagingDidNotAdvance"
    assert cloud.calls.count("ListPolicies") == 3

def test_account_alias(owner):
    assert owner[2].ram.get_account_alias() == "owner-co"


# -- STS ------------------------------------------------------------------------------------------------------

def test_caller_identity_of_root(owner):
    identity = owner[2].sts.get_caller_identity()
    assert identity["AccountId"] == OWNER and identity["IdentityType"] == "Account"
    assert "RequestId" not in identity


def test_assume_role_returns_usable_credentials(cloud, owner):
    _, _, gateways = owner
    partner_root = cloud.add_account(PARTNER)
    operator = make_user(partner_root, "operator", "AliyunSTSAssumeRoleAccess")
    gateways.ram.create_role("ops", trust(f"acs:ram::{PARTNER}:root",
                                          condition={"StringEquals": {"sts:ExternalId": "ext-123"}}), "d", 7200, {})
    gateways.ram.attach_policy_to_role("ops", "System", "AliyunRAMReadOnlyAccess")
    partner = Gateways.connect(settings_for(operator, PARTNER))
    arn = f"acs:ram::{OWNER}:role/ops"

    with pytest.raises(CloudError) as raised:
        partner.sts.assume_role(arn, "check")  # the trust policy wants the external id
    assert (raised.value.code, raised.value.status) == ("NoPermission", 403)

    creds = partner.sts.assume_role(arn, "check", duration=1800, external_id="ext-123",
                                    policy=allow("ram:Get*"))
    assert isinstance(creds, AssumedCredentials) and isinstance(creds, Credentials)
    assert creds.security_token and creds.expiration is not None
    assert creds.assumed_role_arn == f"{arn}/check"
    assert creds.access_key_secret not in repr(creds) and creds.security_token not in repr(creds)

    session = Gateways.connect(settings_for(creds, PARTNER))
    identity = session.sts.get_caller_identity()
    assert identity["IdentityType"] == "AssumedRoleUser" and identity["AccountId"] == OWNER
    assert session.ram.get_role("ops").name == "ops"  # allowed by role and session policy
    with pytest.raises(CloudError, match="NoPermission"):
        list(session.ram.iter_roles())  # role allows ListRoles, the session policy does not


# -- retries ---------------------------------------------------------------------------------------------------

def test_throttled_call_succeeds_on_the_third_attempt(cloud, owner, caplog):
    root, settings, gateways = owner
    cloud.faults.fail("CreateRole", nth=1, times=2, code="Throttling.User")
    with caplog.at_level(logging.WARNING, logger="rolepact.gateway"):
        gateways.ram.create_role("r", TRUST, "d", 3600, {})
    assert cloud.calls.count("CreateRole") == 3
    assert gateways.ram.get_role("r") is not None
    assert len(settings.sleep) == 2 and 0 <= settings.sleep[0] <= 0.2 and 0 <= settings.sleep[1] <= 0.4
    retries = [r for r in caplog.records if r.name == "rolepact.gateway"]
    assert len(retries) == 2 and "Throttling.User" in retries[0].getMessage()
    assert retries[0].action == "CreateRole" and retries[0].attempt == 1
    assert root.access_key_secret not in caplog.text


def test_server_errors_are_retried(cloud, owner):
    _, settings, gateways = owner
    cloud.faults.fail("GetRole", code="ServiceUnavailable")
    assert gateways.ram.get_role("none") is None
    assert cloud.calls.count("GetRole") == 2 and len(settings.sleep) == 1


def test_non_retryable_errors_are_raised_at_once(cloud, owner):
    _, settings, gateways = owner
    gateways.ram.create_role("r", TRUST, "d", 3600, {})
    with pytest.raises(CloudError) as raised:
        gateways.ram.create_role("r", TRUST, "d", 3600, {})
    assert (raised.value.code, raised.value.status) == ("EntityAlreadyExists.Role", 409)
    assert cloud.calls.count("CreateRole") == 2 and settings.sleep == []


def test_exhausted_attempts_raise_the_last_error(cloud):
    root = cloud.add_account(OWNER)
    settings = settings_for(root, max_attempts=3)
    cloud.faults.fail("ListRoles", nth=1, times=10, code="Throttling.User")
    with pytest.raises(CloudError) as raised:
        list(Gateways.connect(settings).ram.iter_roles())
    assert (raised.value.code, raised.value.status, raised.value.action) == ("Throttling.User", 400, "ListRoles")
    assert raised.value.retryable and raised.value.request_id
    assert cloud.calls.count("ListRoles") == 3 and len(settings.sleep) == 2


def test_backoff_grows_and_is_capped():
    settings = settings_for(Credentials("a", "b"), max_attempts=12)
    attempts = []

    def always_busy():
        attempts.append(1)
        raise CloudError("ram", "GetRole", "Throttling", "slow down", status=400)

    with pytest.raises(CloudError):
        call_with_retry(always_busy, service="ram", action="GetRole", settings=settings)
    assert len(attempts) == 12 and len(settings.sleep) == 11
    assert all(0 <= delay <= min(10.0, 0.2 * 2 ** n) for n, delay in enumerate(settings.sleep))


def test_connection_refused_becomes_a_retryable_connection_error():
    """No fake here: a real refused TCP connection, through tea and oss2."""
    dead = Endpoints(ram="127.0.0.1:1", oss="127.0.0.1:1", protocol="http")
    settings = settings_for(Credentials("a", "b"), endpoints=dead, max_attempts=2)
    gateways = Gateways.connect(settings)
    for call in (lambda: gateways.ram.get_role("x"), lambda: gateways.store.get("x")):
        with pytest.raises(CloudError) as raised:
            call()
        assert raised.value.code == "ConnectionError" and raised.value.retryable and raised.value.status is None
    assert len(settings.sleep) == 2  # one retry each


def test_sdk_exceptions_map_to_cloud_errors():
    import fc2.fc_exceptions
    import oss2.exceptions
    import requests
    from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

    tea = to_cloud_error(ClientException(code="NoPermission", status_code=403, request_id="R1",
                                         message="code: 403, denied request id: R1",
                                         data={"Message": "denied", "statusCode": 403}), "ram", "GetRole")
    assert (tea.code, tea.status, tea.request_id, tea.message) == ("NoPermission", 403, "R1", "denied")
    assert not tea.retryable
    throttled = to_cloud_error(ThrottlingException(code="Throttling.Api", status_code=429, retry_after=2),
                               "sts", "AssumeRole")
    assert throttled.retryable

    oss = to_cloud_error(oss2.exceptions.NoSuchKey(404, {"x-oss-request-id": "R2"}, b"",
                                                   {"Code": "NoSuchKey", "Message": "gone"}), "oss", "GetObject")
    assert (oss.code, oss.status, oss.request_id, oss.message) == ("NoSuchKey", 404, "R2", "gone")
    dropped = to_cloud_error(oss2.exceptions.RequestError(requests.ConnectionError("reset")), "oss", "GetObject")
    assert dropped.code == "ConnectionError" and dropped.retryable

    body = json.dumps({"ErrorCode": "ResourceThrottled", "ErrorMessage": "busy", "RequestId": "R3"})
    fc = to_cloud_error(fc2.fc_exceptions.FcError(body, 429, "ResourceThrottled", "R3"), "fc", "InvokeFunction")
    assert (fc.code, fc.status, fc.request_id, fc.message) == ("ResourceThrottled", 429, "R3", "busy")
    assert to_cloud_error(fc2.fc_exceptions.FcError("{}", 503, "", "unknown"), "fc", "x").retryable

    url = "https://oapi.dingtalk.com/robot/send?access_token=abc123&timestamp=1&sign=s3cr3t"
    transport = to_cloud_error(requests.ConnectionError(f"Max retries exceeded with url: {url}"), "dingtalk", "x")
    assert transport.code == "ConnectionError" and "abc123" not in str(transport) and "s3cr3t" not in str(transport)
    assert to_cloud_error(requests.Timeout("read timed out"), "x", "y").code == "ConnectionError"
    assert to_cloud_error(KeyError("bug"), "ram", "GetRole") is None


def test_bugs_are_not_retried(owner):
    _, settings, _ = owner
    calls = []

    def broken():
        calls.append(1)
        raise KeyError("a bug, not a cloud error")

    with pytest.raises(KeyError):
        call_with_retry(broken, service="ram", action="GetRole", settings=settings)
    assert calls == [1] and settings.sleep == []

