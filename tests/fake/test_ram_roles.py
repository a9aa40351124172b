"""RAM roles through the official SDK: CRUD, names, limits, paging, tags and the account alias."""
from __future__ import annotations

import json

import pytest

from fakecloud import Limits, mock_cloud
from iam_support import (ACCOUNT_A, ACCOUNT_B, api_error, assert_sdk_shape, cloud, policy, allow, ram_a,  # noqa: F401
                         ram_client, ram_models as M, root_a, root_b, trust, wire)

TRUST_B = trust(f"acs:ram::{ACCOUNT_B}:root")


def create_role(ram, name: str, **extra):
    request = M.CreateRoleRequest(role_name=name, assume_role_policy_document=extra.pop("trust", TRUST_B), **extra)
    return ram.create_role(request).body.role


def list_roles(ram, **extra):
    return ram.list_roles(M.ListRolesRequest(**extra)).body


# --------------------------------------------------------------------------- CRUD


def test_role_crud_round_trip(ram_a):
    created = ram_a.create_role(M.CreateRoleRequest(
        role_name="ecs-admin", assume_role_policy_document=TRUST_B, description="ops for B",
        max_session_duration=7200, allow_console_login=False,
        tag=[M.CreateRoleRequestTag(key="owner", value="b")])).body
    assert_sdk_shape(created)
    role = created.role
    assert role.arn == f"acs:ram::{ACCOUNT_A}:role/ecs-admin"
    assert role.role_id.isdigit() and len(role.role_id) == 18 and role.role_id.startswith("3")
    assert (role.description, role.max_session_duration, role.allow_console_login) == ("ops for B", 7200, False)
    assert json.loads(role.assume_role_policy_document) == json.loads(TRUST_B)

    got = ram_a.get_role(M.GetRoleRequest(role_name="ecs-admin")).body
    assert_sdk_shape(got, optional={"role.latest_deletion_task"})
    assert got.role.role_id == role.role_id
    assert got.role.role_principal_name == f"ecs-admin@role.{ACCOUNT_A}.onaliyunservice.com"
    assert got.role.is_service_linked_role is False

    new_trust = trust(f"acs:ram::{ACCOUNT_B}:user/alice")
    updated = ram_a.update_role(M.UpdateRoleRequest(
        role_name="ecs-admin", new_assume_role_policy_document=new_trust, new_description="changed",
        new_max_session_duration=43200, new_allow_console_login=True)).body
    assert_sdk_shape(updated, optional={"role.latest_deletion_task"})
    again = ram_a.get_role(M.GetRoleRequest(role_name="ecs-admin")).body.role
    assert (again.description, again.max_session_duration, again.allow_console_login) == ("changed", 43200, True)
    assert json.loads(again.assume_role_policy_document) == json.loads(new_trust)
    assert again.role_id == role.role_id

    ram_a.delete_role(M.DeleteRoleRequest(role_name="ecs-admin"))
    with api_error("EntityNotExist.Role", 404):
        ram_a.get_role(M.GetRoleRequest(role_name="ecs-admin"))
    with api_error("EntityNotExist.Role", 404):
        ram_a.delete_role(M.DeleteRoleRequest(role_name="ecs-admin"))
    with api_error("EntityNotExist.Role", 404):
        ram_a.update_role(M.UpdateRoleRequest(role_name="ecs-admin", new_description="x"))


def test_update_role_changes_only_what_is_given(ram_a):
    create_role(ram_a, "keep", description="original", max_session_duration=5000)
    ram_a.update_role(M.UpdateRoleRequest(role_name="keep", new_description="new"))
    role = ram_a.get_role(M.GetRoleRequest(role_name="keep")).body.role
    assert (role.description, role.max_session_duration, role.allow_console_login) == ("new", 5000, True)
    assert json.loads(role.assume_role_policy_document) == json.loads(TRUST_B)


def test_role_names_are_unique_case_insensitively_and_keep_their_case(ram_a):
    create_role(ram_a, "App-Role")
    with api_error("EntityAlreadyExists.Role", 409):
        create_role(ram_a, "app-role")
    assert ram_a.get_role(M.GetRoleRequest(role_name="APP-ROLE")).body.role.role_name == "App-Role"
    ram_a.delete_role(M.DeleteRoleRequest(role_name="aPP-rOLE"))
    assert list_roles(ram_a).roles.role == []


def test_roles_are_per_account(cloud, ram_a, root_b):
    create_role(ram_a, "same-name")
    ram_b = ram_client(root_b)
    with api_error("EntityNotExist.Role", 404):
        ram_b.get_role(M.GetRoleRequest(role_name="same-name"))
    create_role(ram_b, "same-name")
    assert ram_b.get_role(M.GetRoleRequest(role_name="same-name")).body.role.arn.startswith(f"acs:ram::{ACCOUNT_B}:")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name, code", [
    ("a" * 64, None),
    ("a.b-C9", None),
    ("a" * 65, "InvalidParameter.RoleName.Length"),
    ("under_score", "InvalidParameter.RoleName.InvalidChars"),
    ("with space", "InvalidParameter.RoleName.InvalidChars"),
    ("at@sign", "InvalidParameter.RoleName.InvalidChars"),
    ("rôle", "InvalidParameter.RoleName.InvalidChars"),
    ("", "MissingParameter"),
])
def test_role_name_rules(ram_a, name, code):
    if code is None:
        assert create_role(ram_a, name).role_name == name
    else:
        with api_error(code, 400):
            create_role(ram_a, name)


@pytest.mark.parametrize("seconds, ok", [(3599, False), (3600, True), (43200, True), (43201, False)])
def test_max_session_duration_bounds(ram_a, seconds, ok):
    if ok:
        assert create_role(ram_a, "r", max_session_duration=seconds).max_session_duration == seconds
        ram_a.update_role(M.UpdateRoleRequest(role_name="r", new_max_session_duration=seconds))
        return
    with api_error("InvalidParameter.MaxSessionDuration", 400):
        create_role(ram_a, "r", max_session_duration=seconds)
    create_role(ram_a, "r")
    with api_error("InvalidParameter.MaxSessionDuration", 400):
        ram_a.update_role(M.UpdateRoleRequest(role_name="r", new_max_session_duration=seconds))
    assert ram_a.get_role(M.GetRoleRequest(role_name="r")).body.role.max_session_duration == 3600


def test_description_is_at_most_1024_chars(ram_a):
    assert create_role(ram_a, "ok", description="d" * 1024).description == "d" * 1024
    with api_error("InvalidParameter.Description.Length", 400):
        create_role(ram_a, "too-long", description="d" * 1025)


BAD_TRUST = {
    "not json": "{not json",
    "wrong version": json.dumps({"Version": "2", "Statement": json.loads(TRUST_B)["Statement"]}),
    "no principal": json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
    "resource in trust": json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*", "Principal": {"RAM": ["acs:ram::1:root"]}}]}),
    "bad effect": json.dumps({"Version": "1", "Statement": [
        {"Effect": "allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{ACCOUNT_B}:root"]}}]}),
    "unknown principal type": json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ["arn:aws:iam::1:root"]}}]}),
    "bad principal": json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["company-b"]}}]}),
    "empty statement": json.dumps({"Version": "1", "Statement": []}),
}


@pytest.mark.parametrize("problem", sorted(BAD_TRUST))
def test_malformed_trust_policy_is_rejected(ram_a, problem):
    with api_error("MalformedPolicyDocument", 400):
        create_role(ram_a, "r", trust=BAD_TRUST[problem])
    create_role(ram_a, "r")
    with api_error("MalformedPolicyDocument", 400):
        ram_a.update_role(M.UpdateRoleRequest(role_name="r", new_assume_role_policy_document=BAD_TRUST[problem]))
    kept = ram_a.get_role(M.GetRoleRequest(role_name="r")).body.role.assume_role_policy_document
    assert json.loads(kept) == json.loads(TRUST_B)


def test_trust_policy_length_limit(ram_a):
    long_trust = trust(*[f"acs:ram::{ACCOUNT_B}:user/u{i:04d}" for i in range(80)])
    assert len(long_trust) > 2048
    with api_error("InvalidParameter.AssumeRolePolicyDocument.Length", 400):
        create_role(ram_a, "r", trust=long_trust)
    create_role(ram_a, "r")
    with api_error("InvalidParameter.NewAssumeRolePolicyDocument.Length", 400):
        ram_a.update_role(M.UpdateRoleRequest(role_name="r", new_assume_role_policy_document=long_trust))


def test_missing_trust_policy(ram_a):
    with api_error("MissingParameter", 400):
        ram_a.create_role(M.CreateRoleRequest(role_name="r"))


def test_role_count_limit():
    with mock_cloud(limits=Limits(roles_per_account=3)) as cloud:
        ram = ram_client(cloud.add_account(ACCOUNT_A))
        for i in range(3):
            create_role(ram, f"r{i}")
        with api_error("LimitExceeded.Role", 409):
            create_role(ram, "r3")
        ram.delete_role(M.DeleteRoleRequest(role_name="r0"))
        create_role(ram, "r3")
        assert cloud.calls.count("CreateRole", ok=False) == 1


# --------------------------------------------------------------------------- ListRoles paging


def test_list_roles_pages_250_roles_with_markers(ram_a):
    names = [f"role-{i:03d}" for i in range(250)]
    for name in reversed(names):
        create_role(ram_a, name)
    seen, pages, marker = [], [], None
    while True:
        body = list_roles(ram_a, max_items=100, marker=marker)
        assert_sdk_shape(body, optional={"marker"})
        pages.append((len(body.roles.role), body.is_truncated, body.marker is not None))
        seen += [r.role_name for r in body.roles.role]
        if not body.is_truncated:
            break
        marker = body.marker
    assert pages == [(100, True, True), (100, True, True), (50, False, False)]
    assert seen == names  # every role exactly once, in name order


def test_list_roles_defaults_to_100_items(ram_a):
    for i in range(101):
        create_role(ram_a, f"r{i:03d}")
    body = list_roles(ram_a)
    assert len(body.roles.role) == 100 and body.is_truncated
    assert [r.role_name for r in list_roles(ram_a, marker=body.marker).roles.role] == ["r100"]


def test_list_roles_paging_survives_deletes_and_creates_between_pages(ram_a):
    for i in range(10):
        create_role(ram_a, f"r{i}")
    first = list_roles(ram_a, max_items=4)
    ram_a.delete_role(M.DeleteRoleRequest(role_name="r4"))  # the first item of the next page
    create_role(ram_a, "r0a")  # sorts into the page already returned
    second = list_roles(ram_a, max_items=4, marker=first.marker)
    assert [r.role_name for r in second.roles.role] == ["r5", "r6", "r7", "r8"]
    third = list_roles(ram_a, max_items=4, marker=second.marker)
    assert [r.role_name for r in third.roles.role] == ["r9"] and third.is_truncated is False


@pytest.mark.parametrize("marker", ["not-a-marker", "cm9sZS0x", "%%%", "ZmFrZWNsb3Vk"])
def test_list_roles_rejects_a_marker_it_did_not_issue(ram_a, marker):
    create_role(ram_a, "r")
    with api_error("InvalidParameter.Marker", 400):
        list_roles(ram_a, marker=marker)


@pytest.mark.parametrize("max_items", [0, 1001])
def test_list_roles_max_items_range(ram_a, max_items):
    with api_error("InvalidParameter.MaxItems", 400):
        list_roles(ram_a, max_items=max_items)


def test_list_roles_items_carry_tags_but_no_trust_policy(cloud, ram_a):
    create_role(ram_a, "tagged", tag=[M.CreateRoleRequestTag(key="team", value="blue")])
    with wire(cloud) as seen:
        item = list_roles(ram_a).roles.role[0]
    assert "AssumeRolePolicyDocument" not in seen.last["Roles"]["Role"][0]
    assert "Marker" not in seen.last  # only sent while IsTruncated
    assert [(t.tag_key, t.tag_value) for t in item.tags.tag] == [("team", "blue")]


def test_list_roles_tag_filter(ram_a):
    create_role(ram_a, "blue-1", tag=[M.CreateRoleRequestTag(key="team", value="blue")])
    create_role(ram_a, "blue-2", tag=[M.CreateRoleRequestTag(key="team", value="blue"),
                                      M.CreateRoleRequestTag(key="env", value="prod")])
    create_role(ram_a, "red", tag=[M.CreateRoleRequestTag(key="team", value="red")])
    create_role(ram_a, "none")

    def names(*tags):
        body = list_roles(ram_a, tag=[M.ListRolesRequestTag(key=k, value=v) for k, v in tags])
        return [r.role_name for r in body.roles.role]

    assert names(("team", "blue")) == ["blue-1", "blue-2"]
    assert names(("team", "blue"), ("env", "prod")) == ["blue-2"]
    assert names(("team", "green")) == []
    assert names() == ["blue-1", "blue-2", "none", "red"]


# --------------------------------------------------------------------------- tags


def test_tag_untag_and_list_tag_resources(ram_a):
    create_role(ram_a, "r1")
    create_role(ram_a, "r2")
    ram_a.create_policy(M.CreatePolicyRequest(policy_name="p1", policy_document=policy(allow("ecs:*"))))
    ram_a.tag_resources(M.TagResourcesRequest(
        resource_type="role", resource_names=["r1", "r2"],
        tag=[M.TagResourcesRequestTag(key="a", value="1"), M.TagResourcesRequestTag(key="b", value="2")]))
    ram_a.tag_resources(M.TagResourcesRequest(
        resource_type="policy", resource_names=["p1"], tag=[M.TagResourcesRequestTag(key="a", value="p")]))

    body = ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="role")).body
    assert_sdk_shape(body, optional={"next_token"})
    assert isinstance(body.tag_resources, list)  # flat list, not {"TagResource": [...]}
    assert [(t.resource_name, t.resource_type, t.tag_key, t.tag_value) for t in body.tag_resources] == [
        ("r1", "role", "a", "1"), ("r1", "role", "b", "2"), ("r2", "role", "a", "1"), ("r2", "role", "b", "2")]

    only_r2_b = ram_a.list_tag_resources(M.ListTagResourcesRequest(
        resource_type="role", resource_names=["r2"], tag=[M.ListTagResourcesRequestTag(key="b")])).body
    assert [(t.resource_name, t.tag_key) for t in only_r2_b.tag_resources] == [("r2", "b")]

    policies = ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="policy")).body
    assert [(t.resource_name, t.tag_value) for t in policies.tag_resources] == [("p1", "p")]

    ram_a.untag_resources(M.UntagResourcesRequest(resource_type="role", resource_names=["r1"], tag_keys=["a"]))
    ram_a.untag_resources(M.UntagResourcesRequest(resource_type="role", resource_names=["r2"], all=True))
    left = ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="role")).body.tag_resources
    assert [(t.resource_name, t.tag_key) for t in left] == [("r1", "b")]


def test_list_tag_resources_pages_with_next_token(ram_a):
    create_role(ram_a, "r")
    ram_a.tag_resources(M.TagResourcesRequest(resource_type="role", resource_names=["r"], tag=[
        M.TagResourcesRequestTag(key=f"k{i:02d}", value=str(i)) for i in range(5)]))
    keys, token = [], None
    while True:
        body = ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="role", page_size=2,
                                                                  next_token=token)).body
        keys += [t.tag_key for t in body.tag_resources]
        token = body.next_token
        if token is None:
            break
    assert keys == [f"k{i:02d}" for i in range(5)]
    with api_error("InvalidParameter.NextToken", 400):
        ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="role", next_token="bogus"))


def test_tag_errors(ram_a):
    create_role(ram_a, "r")
    tag = [M.TagResourcesRequestTag(key="k", value="v")]
    with api_error("InvalidParameter.ResourceType", 400):
        ram_a.tag_resources(M.TagResourcesRequest(resource_type="instance", resource_names=["r"], tag=tag))
    with api_error("InvalidParameter.ResourceType", 400):
        ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="user"))
    with api_error("EntityNotExist.Role", 404):
        ram_a.tag_resources(M.TagResourcesRequest(resource_type="role", resource_names=["ghost"], tag=tag))
    with api_error("InvalidParameter.Tag", 400):
        ram_a.tag_resources(M.TagResourcesRequest(resource_type="role", resource_names=["r"],
                                                  tag=[M.TagResourcesRequestTag(key="acs:reserved", value="v")]))
    with api_error("InvalidParameter.Tag", 400):
        ram_a.tag_resources(M.TagResourcesRequest(resource_type="role", resource_names=["r"],
                                                  tag=[M.TagResourcesRequestTag(key="k" * 129, value="v")]))
    too_many = [M.TagResourcesRequestTag(key=f"k{i}", value="v") for i in range(21)]
    with api_error("LimitExceeded.Tags", 409):
        ram_a.tag_resources(M.TagResourcesRequest(resource_type="role", resource_names=["r"], tag=too_many))
    assert ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="role")).body.tag_resources == []


# --------------------------------------------------------------------------- account alias


def test_account_alias(cloud, ram_a, root_b):
    body = ram_a.get_account_alias().body
    assert_sdk_shape(body)
    assert body.account_alias == "company-a"
    ram_a.set_account_alias(M.SetAccountAliasRequest(account_alias="acme-prod-01"))
    assert ram_a.get_account_alias().body.account_alias == "acme-prod-01"
    with api_error("EntityAlreadyExists.AccountAlias", 409):
        ram_client(root_b).set_account_alias(M.SetAccountAliasRequest(account_alias="acme-prod-01"))


@pytest.mark.parametrize("alias, code", [
    ("ab", "InvalidParameter.AccountAlias.Length"),
    ("a" * 33, "InvalidParameter.AccountAlias.Length"),
    ("-abc", "InvalidParameter.AccountAlias.Format"),
    ("abc-", "InvalidParameter.AccountAlias.Format"),
    ("ab--c", "InvalidParameter.AccountAlias.Format"),
    ("Upper", "InvalidParameter.AccountAlias.Format"),
    ("dot.ted", "InvalidParameter.AccountAlias.Format"),
])
def test_account_alias_rules(ram_a, alias, code):
    with api_error(code, 400):
        ram_a.set_account_alias(M.SetAccountAliasRequest(account_alias=alias))
    ram_a.set_account_alias(M.SetAccountAliasRequest(account_alias="a" * 32))
