"""Every RAM and STS response the fake sends carries each field the SDK models read, with its JSON type.

Fields listed as optional are ones the real service omits in the situation tested (e.g. `Marker`
on the last page, `LastLoginDate` for a user who never signed in).
"""
from __future__ import annotations

import pytest

from iam_support import (ACCOUNT_A, ACCOUNT_B, allow, assert_sdk_shape, assume, cloud, make_user, policy,  # noqa: F401
                         ram_a, ram_models as M, root_a, root_b, sdk_keys, sts_client, sts_models as S, trust)


def test_shape_checker_catches_a_missing_or_mistyped_field():
    complete = {"RequestId": "r", "Role": {"RoleId": "1", "RoleName": "n", "Arn": "a", "Description": "",
                                           "MaxSessionDuration": 3600, "CreateDate": "d", "UpdateDate": "d",
                                           "AssumeRolePolicyDocument": "{}", "AllowConsoleLogin": True,
                                           "IsServiceLinkedRole": False, "RolePrincipalName": "p"}}
    assert_sdk_shape(M.GetRoleResponseBody().from_map(complete), optional={"role.latest_deletion_task"})
    missing = {**complete, "Role": {k: v for k, v in complete["Role"].items() if k != "Arn"}}
    with pytest.raises(AssertionError, match="role.arn"):
        assert_sdk_shape(M.GetRoleResponseBody().from_map(missing), optional={"role.latest_deletion_task"})
    mistyped = {**complete, "Role": {**complete["Role"], "MaxSessionDuration": "3600"}}
    with pytest.raises(AssertionError, match="max_session_duration"):
        assert_sdk_shape(M.GetRoleResponseBody().from_map(mistyped), optional={"role.latest_deletion_task"})
    assert "MaxSessionDuration" in sdk_keys(M.GetRoleResponseBodyRole)


def test_every_ram_and_sts_response_matches_the_sdk_models(cloud, root_a, root_b, ram_a):
    checked = {}

    def check(action, call, optional=()):
        body = call().body
        assert_sdk_shape(body, optional)
        checked[action] = body

    doc = policy(allow("ecs:Describe*"))
    tag = [M.CreateRoleRequestTag(key="k", value="v")]
    check("CreateRole", lambda: ram_a.create_role(M.CreateRoleRequest(
        role_name="r", assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_B}:root"), tag=tag)))
    check("GetRole", lambda: ram_a.get_role(M.GetRoleRequest(role_name="r")), {"role.latest_deletion_task"})
    check("UpdateRole", lambda: ram_a.update_role(M.UpdateRoleRequest(role_name="r", new_description="d")),
          {"role.latest_deletion_task"})
    check("ListRoles", lambda: ram_a.list_roles(M.ListRolesRequest()), {"marker"})
    check("CreateUser", lambda: ram_a.create_user(M.CreateUserRequest(user_name="u")))
    check("GetUser", lambda: ram_a.get_user(M.GetUserRequest(user_name="u")), {"user.last_login_date"})
    check("ListUsers", lambda: ram_a.list_users(M.ListUsersRequest()), {"marker"})
    check("CreateAccessKey", lambda: ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="u")))
    check("ListAccessKeys", lambda: ram_a.list_access_keys(M.ListAccessKeysRequest(user_name="u")))
    check("CreatePolicy", lambda: ram_a.create_policy(M.CreatePolicyRequest(policy_name="p", policy_document=doc)))
    check("GetPolicy", lambda: ram_a.get_policy(M.GetPolicyRequest(policy_name="p", policy_type="Custom")))
    check("ListPolicies", lambda: ram_a.list_policies(M.ListPoliciesRequest()), {"marker"})
    check("CreatePolicyVersion", lambda: ram_a.create_policy_version(M.CreatePolicyVersionRequest(
        policy_name="p", policy_document=doc)))
    check("GetPolicyVersion", lambda: ram_a.get_policy_version(M.GetPolicyVersionRequest(
        policy_name="p", policy_type="Custom", version_id="v2")))
    check("ListPolicyVersions", lambda: ram_a.list_policy_versions(M.ListPolicyVersionsRequest(
        policy_name="p", policy_type="Custom")))
    check("SetDefaultPolicyVersion", lambda: ram_a.set_default_policy_version(M.SetDefaultPolicyVersionRequest(
        policy_name="p", version_id="v2")))
    check("DeletePolicyVersion", lambda: ram_a.delete_policy_version(M.DeletePolicyVersionRequest(
        policy_name="p", version_id="v1")))
    check("AttachPolicyToRole", lambda: ram_a.attach_policy_to_role(M.AttachPolicyToRoleRequest(
        policy_type="Custom", policy_name="p", role_name="r")))
    check("AttachPolicyToUser", lambda: ram_a.attach_policy_to_user(M.AttachPolicyToUserRequest(
        policy_type="Custom", policy_name="p", user_name="u")))
    check("ListPoliciesForRole", lambda: ram_a.list_policies_for_role(M.ListPoliciesForRoleRequest(role_name="r")))
    check("ListPoliciesForUser", lambda: ram_a.list_policies_for_user(M.ListPoliciesForUserRequest(user_name="u")))
    check("ListEntitiesForPolicy", lambda: ram_a.list_entities_for_policy(M.ListEntitiesForPolicyRequest(
        policy_name="p", policy_type="Custom")), {"groups.group"})
    check("TagResources", lambda: ram_a.tag_resources(M.TagResourcesRequest(
        resource_type="role", resource_names=["r"], tag=[M.TagResourcesRequestTag(key="a", value="b")])))
    check("ListTagResources", lambda: ram_a.list_tag_resources(M.ListTagResourcesRequest(resource_type="role")),
          {"next_token"})
    check("UntagResources", lambda: ram_a.untag_resources(M.UntagResourcesRequest(
        resource_type="role", resource_names=["r"], all=True)))
    check("GetAccountAlias", lambda: ram_a.get_account_alias())
    check("SetAccountAlias", lambda: ram_a.set_account_alias(M.SetAccountAliasRequest(account_alias="acme")))
    check("DetachPolicyFromRole", lambda: ram_a.detach_policy_from_role(M.DetachPolicyFromRoleRequest(
        policy_type="Custom", policy_name="p", role_name="r")))
    check("DetachPolicyFromUser", lambda: ram_a.detach_policy_from_user(M.DetachPolicyFromUserRequest(
        policy_type="Custom", policy_name="p", user_name="u")))
    key_id = checked["CreateAccessKey"].access_key.access_key_id
    check("UpdateAccessKey", lambda: ram_a.update_access_key(M.UpdateAccessKeyRequest(
        user_name="u", user_access_key_id=key_id, status="Inactive")))
    check("DeleteAccessKey", lambda: ram_a.delete_access_key(M.DeleteAccessKeyRequest(
        user_name="u", user_access_key_id=key_id)))
    check("DeleteUser", lambda: ram_a.delete_user(M.DeleteUserRequest(user_name="u")))
    check("DeletePolicy", lambda: ram_a.delete_policy(M.DeletePolicyRequest(policy_name="p")))

    ram_a.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="System",
                                                            policy_name="AliyunRAMReadOnlyAccess", role_name="r"))
    alice = make_user(cloud, root_b, "alice", "AliyunSTSAssumeRoleAccess")
    check("GetCallerIdentity(root)", lambda: sts_client(root_a).get_caller_identity(), {"role_id"})
    check("GetCallerIdentity(user)", lambda: sts_client(alice).get_caller_identity(), {"role_id"})
    check("AssumeRole", lambda: sts_client(alice).assume_role(S.AssumeRoleRequest(
        role_arn=f"acs:ram::{ACCOUNT_A}:role/r", role_session_name="shape", source_identity="alice")))
    session, _ = assume(alice, f"acs:ram::{ACCOUNT_A}:role/r")
    check("GetCallerIdentity(role)", lambda: sts_client(session).get_caller_identity(), {"user_id"})
    ram_a.detach_policy_from_role(M.DetachPolicyFromRoleRequest(policy_type="System",
                                                                policy_name="AliyunRAMReadOnlyAccess", role_name="r"))
    check("DeleteRole", lambda: ram_a.delete_role(M.DeleteRoleRequest(role_name="r")))

    implemented = set(cloud.service("ram").actions) | set(cloud.service("sts").actions)
    assert {a.split("(")[0] for a in checked} == implemented
