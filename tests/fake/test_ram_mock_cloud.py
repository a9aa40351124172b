"""`mock_cloud` as decorator and context manager, and the guarantee that no traffic leaves the process."""
from __future__ import annotations

import socket

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ClientException as CoreClientException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from fakecloud import FakeCloud, Limits, UnservedEndpoint, current_cloud, mock_cloud
from iam_support import ACCOUNT_A, ACCOUNT_B, api_error, ram_client, ram_models as M, trust

TRUST = trust(f"acs:ram::{ACCOUNT_B}:root")


@pytest.fixture(autouse=True)
def no_real_network(monkeypatch):
    """Any attempt to open a socket fails the test loudly instead of reaching the internet."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"real network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@mock_cloud
def test_bare_decorator_injects_a_fresh_cloud(cloud):
    assert cloud is current_cloud() and cloud.accounts == {}
    ram = ram_client(cloud.add_account(ACCOUNT_A))
    ram.create_role(M.CreateRoleRequest(role_name="r", assume_role_policy_document=TRUST))


@mock_cloud(limits=Limits(roles_per_account=1))
def test_decorator_with_options(cloud):
    ram = ram_client(cloud.add_account(ACCOUNT_A))
    ram.create_role(M.CreateRoleRequest(role_name="one", assume_role_policy_document=TRUST))
    with api_error("LimitExceeded.Role", 409):
        ram.create_role(M.CreateRoleRequest(role_name="two", assume_role_policy_document=TRUST))


def test_each_decorated_call_gets_its_own_cloud():
    clouds = []

    @mock_cloud
    def build(cloud, name):
        ram = ram_client(cloud.add_account(ACCOUNT_A))  # would fail on a reused cloud: account exists
        ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST))
        clouds.append(cloud)
        return [r.role_name for r in ram.list_roles(M.ListRolesRequest()).body.roles.role]

    assert build(name="first") == ["first"]
    assert build(name="second") == ["second"]
    assert clouds[0] is not clouds[1]


def test_decorator_without_cloud_argument():
    @mock_cloud()
    def uses_current():
        return current_cloud().add_account(ACCOUNT_A).account_id

    assert uses_current() == ACCOUNT_A
    with pytest.raises(RuntimeError):
        current_cloud()


def test_context_manager_routes_to_the_given_cloud():
    mine = FakeCloud()
    with mock_cloud(mine) as cloud:
        assert cloud is mine and current_cloud() is mine
        ram = ram_client(cloud.add_account(ACCOUNT_A))
        ram.create_role(M.CreateRoleRequest(role_name="kept", assume_role_policy_document=TRUST))
        with mock_cloud() as inner:  # nesting: the innermost cloud answers
            assert current_cloud() is inner
            with api_error("InvalidAccessKeyId.NotFound", 404):
                ram.list_roles(M.ListRolesRequest())
        assert current_cloud() is mine
        assert [r.role_name for r in ram.list_roles(M.ListRolesRequest()).body.roles.role] == ["kept"]
    assert mine.backend("ram").find_role(ACCOUNT_A, "kept") is not None


@pytest.mark.parametrize("url", ["https://example.com/", "https://vpc.aliyuncs.com/?Action=DescribeVpcs",
                                 "http://169.254.169.254/latest/meta-data/"])
def test_unserved_hosts_raise_connection_error(url):
    with mock_cloud():
        with pytest.raises(ConnectionError) as raised:
            requests.get(url)
    assert isinstance(raised.value, UnservedEndpoint)


def test_unserved_host_through_the_classic_sdk_never_leaves_the_process():
    with mock_cloud() as cloud:
        creds = cloud.add_account(ACCOUNT_A)
        request = CommonRequest(domain="vpc.aliyuncs.com", version="2016-04-28", action_name="DescribeVpcs")
        with pytest.raises(CoreClientException) as raised:
            AcsClient(creds.access_key_id, creds.access_key_secret, "cn-hangzhou").do_action_with_exception(request)
    assert "fakecloud does not serve host 'vpc.aliyuncs.com'" in str(raised.value)
