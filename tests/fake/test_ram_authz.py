"""Authorization of RAM API calls made by RAM users: system and custom policies, scoping, Deny."""
from __future__ import annotations

import pytest

from iam_support import (ACCOUNT_A, ACCOUNT_B, allow, api_error, cloud, make_user, policy, ram_a,  # noqa: F401
                         ram_client, ram_models as M, root_a, root_b, trust)

TRUST = trust(f"acs:ram::{ACCOUNT_B}:root")


def create_role(ram, name: str):
    return ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST))


def test_read_only_user_can_list_but_not_create(cloud, root_a, ram_a):
    create_role(ram_a, "existing")
    reader = ram_client(make_user(cloud, root_a, "reader", "AliyunRAMReadOnlyAccess"))
    assert [r.role_name for r in reader.list_roles(M.ListRolesRequest()).body.roles.role] == ["existing"]
    reader.get_role(M.GetRoleRequest(role_name="existing"))
    reader.list_policies_for_role(M.ListPoliciesForRoleRequest(role_name="existing"))
    with api_error("NoPermission", 403) as denied:
        create_role(reader, "new")
    error = denied.value
    assert error.message.startswith("code: 403, You are not authorized to do this action.")
    detail = error.access_denied_detail
    assert detail["AuthAction"] == "ram:CreateRole"
    assert detail["AuthPrincipalType"] == "SubUser"
    assert detail["AuthPrincipalOwnerId"] == ACCOUNT_A
    assert detail["NoPermissionType"] == "ImplicitDeny"
    for forbidden in (lambda: reader.delete_role(M.DeleteRoleRequest(role_name="existing")),
                      lambda: reader.attach_policy_to_role(M.AttachPolicyToRoleRequest(
                          policy_type="System", policy_name="AdministratorAccess", role_name="existing")),
                      lambda: reader.set_account_alias(M.SetAccountAliasRequest(account_alias="taken-over"))):
        with api_error("NoPermission", 403):
            forbidden()
    assert [r.role_name for r in ram_a.list_roles(M.ListRolesRequest()).body.roles.role] == ["existing"]


def test_user_without_policies_can_do_nothing(cloud, root_a):
    nobody = ram_client(make_user(cloud, root_a, "nobody"))
    with api_error("NoPermission", 403):
        nobody.list_roles(M.ListRolesRequest())
    with api_error("NoPermission", 403):
        nobody.get_account_alias()


@pytest.mark.parametrize("resource", [
    f"acs:ram:*:{ACCOUNT_A}:role/app-*",
    f"acs:ram::{ACCOUNT_A}:role/app-*",  # the empty-region form must match too
    "acs:ram:*:*:role/app-*",
])
def test_custom_policy_scoped_to_role_name_prefix(cloud, root_a, ram_a, resource):
    ram_a.create_policy(M.CreatePolicyRequest(policy_name="app-roles", policy_document=policy(
        allow(["ram:CreateRole", "ram:GetRole", "ram:DeleteRole"], resource))))
    dev = ram_client(make_user(cloud, root_a, "dev", custom=("app-roles",)))
    create_role(dev, "app-x")
    dev.get_role(M.GetRoleRequest(role_name="app-x"))
    with api_error("NoPermission", 403):
        create_role(dev, "db-x")
    create_role(ram_a, "db-y")
    with api_error("NoPermission", 403):
        dev.delete_role(M.DeleteRoleRequest(role_name="db-y"))
    with api_error("NoPermission", 403):
        dev.list_roles(M.ListRolesRequest())
    dev.delete_role(M.DeleteRoleRequest(role_name="app-x"))


def test_policy_for_another_account_grants_nothing(cloud, root_a, ram_a):
    ram_a.create_policy(M.CreatePolicyRequest(policy_name="wrong-account", policy_document=policy(
        allow("ram:*", f"acs:ram:*:{ACCOUNT_B}:*"))))
    confused = ram_client(make_user(cloud, root_a, "confused", custom=("wrong-account",)))
    with api_error("NoPermission", 403):
        create_role(confused, "app-x")


def test_explicit_deny_wins_over_full_access(cloud, root_a, ram_a):
    ram_a.create_policy(M.CreatePolicyRequest(policy_name="no-delete", policy_document=policy(
        allow("ram:DeleteRole", "*", effect="Deny"))))
    admin = ram_client(make_user(cloud, root_a, "admin", "AliyunRAMFullAccess", custom=("no-delete",)))
    create_role(admin, "r")
    with api_error("NoPermission", 403) as denied:
        admin.delete_role(M.DeleteRoleRequest(role_name="r"))
    assert denied.value.access_denied_detail["NoPermissionType"] == "ExplicitDeny"
    ram_a.detach_policy_from_user(M.DetachPolicyFromUserRequest(policy_type="Custom", policy_name="no-delete",
                                                                user_name="admin"))
    admin.delete_role(M.DeleteRoleRequest(role_name="r"))


def test_source_ip_condition_in_identity_policy(cloud, root_a, ram_a):
    ram_a.create_policy(M.CreatePolicyRequest(policy_name="office-only", policy_document=policy(
        allow("ram:ListRoles", condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}))))
    creds = make_user(cloud, root_a, "office", custom=("office-only",))
    office = ram_client(creds)
    with api_error("NoPermission", 403):
        office.list_roles(M.ListRolesRequest())  # default source IP is outside 10/8
    cloud.set_caller_context(creds.access_key_id, source_ip="10.1.2.3")
    office.list_roles(M.ListRolesRequest())


def test_mfa_condition_in_identity_policy(cloud, root_a, ram_a):
    ram_a.create_policy(M.CreatePolicyRequest(policy_name="mfa-only", policy_document=policy(
        allow("ram:ListRoles", condition={"Bool": {"acs:MFAPresent": "true"}}))))
    creds = make_user(cloud, root_a, "mfa", custom=("mfa-only",))
    with api_error("NoPermission", 403):
        ram_client(creds).list_roles(M.ListRolesRequest())  # an AccessKey call never carries MFA
    ram_client(cloud.console_logon(ACCOUNT_A, "mfa", mfa=True)).list_roles(M.ListRolesRequest())
    with api_error("NoPermission", 403):
        ram_client(cloud.console_logon(ACCOUNT_A, "mfa", mfa=False)).list_roles(M.ListRolesRequest())


def test_users_act_only_in_their_own_account(cloud, root_a, root_b, ram_a):
    create_role(ram_a, "a-only")
    b_admin = ram_client(make_user(cloud, root_b, "admin", "AdministratorAccess"))
    with api_error("EntityNotExist.Role", 404):
        b_admin.get_role(M.GetRoleRequest(role_name="a-only"))  # B's admin sees B's (empty) account
    assert b_admin.list_roles(M.ListRolesRequest()).body.roles.role == []
