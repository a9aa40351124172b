"""RAM users and their access keys through the official SDK."""
from __future__ import annotations

import pytest

from fakecloud import Credentials, Limits, mock_cloud
from iam_support import (ACCOUNT_A, api_error, assert_sdk_shape, cloud, make_user, ram_a, ram_client,  # noqa: F401
                         ram_models as M, root_a, sts_client)


def test_user_crud_round_trip(ram_a):
    created = ram_a.create_user(M.CreateUserRequest(
        user_name="alice", display_name="Alice W", comments="on-call", email="alice@example.com",
        mobile_phone="86-18600008888")).body
    assert_sdk_shape(created)
    user = created.user
    assert user.user_id.isdigit() and len(user.user_id) == 18 and user.user_id.startswith("2")
    assert (user.display_name, user.comments, user.email, user.mobile_phone) == (
        "Alice W", "on-call", "alice@example.com", "86-18600008888")
    got = ram_a.get_user(M.GetUserRequest(user_name="ALICE")).body
    assert_sdk_shape(got, optional={"user.last_login_date"})  # never logged on to the console
    assert (got.user.user_name, got.user.user_id) == ("alice", user.user_id)
    listed = ram_a.list_users(M.ListUsersRequest()).body
    assert_sdk_shape(listed, optional={"marker"})
    assert [u.user_name for u in listed.users.user] == ["alice"]
    ram_a.delete_user(M.DeleteUserRequest(user_name="alice"))
    with api_error("EntityNotExist.User", 404):
        ram_a.get_user(M.GetUserRequest(user_name="alice"))


@pytest.mark.parametrize("field, value, code", [
    ("user_name", "a" * 65, "InvalidParameter.UserName.Length"),
    ("user_name", "al ice", "InvalidParameter.UserName.InvalidChars"),
    ("user_name", "alice@corp", "InvalidParameter.UserName.InvalidChars"),
    ("display_name", "d" * 129, "InvalidParameter.DisplayName.Length"),
    ("comments", "c" * 129, "InvalidParameter.Comments.Length"),
    ("email", "not-an-email", "InvalidParameter.Email.Format"),
    ("mobile_phone", "18600008888", "InvalidParameter.MobilePhone.Format"),
])
def test_user_parameter_rules(ram_a, field, value, code):
    request = {"user_name": "alice", field: value}
    with api_error(code, 400):
        ram_a.create_user(M.CreateUserRequest(**request))
    ram_a.create_user(M.CreateUserRequest(user_name="a.b_c-" + "d" * 58, display_name="x" * 128))


def test_user_names_are_unique_case_insensitively(ram_a):
    ram_a.create_user(M.CreateUserRequest(user_name="Alice"))
    with api_error("EntityAlreadyExists.User", 409):
        ram_a.create_user(M.CreateUserRequest(user_name="alice"))


def test_user_count_limit():
    with mock_cloud(limits=Limits(users_per_account=1)) as cloud:
        ram = ram_client(cloud.add_account(ACCOUNT_A))
        ram.create_user(M.CreateUserRequest(user_name="one"))
        with api_error("LimitExceeded.User", 409):
            ram.create_user(M.CreateUserRequest(user_name="two"))


def test_delete_user_conflicts_with_keys_and_policies(ram_a):
    ram_a.create_user(M.CreateUserRequest(user_name="alice"))
    key = ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="alice")).body.access_key
    ram_a.attach_policy_to_user(M.AttachPolicyToUserRequest(policy_type="System", policy_name="AliyunECSFullAccess",
                                                            user_name="alice"))
    with api_error("DeleteConflict.User.AccessKey", 409):
        ram_a.delete_user(M.DeleteUserRequest(user_name="alice"))
    ram_a.delete_access_key(M.DeleteAccessKeyRequest(user_name="alice", user_access_key_id=key.access_key_id))
    with api_error("DeleteConflict.User.Policy", 409):
        ram_a.delete_user(M.DeleteUserRequest(user_name="alice"))
    ram_a.detach_policy_from_user(M.DetachPolicyFromUserRequest(policy_type="System",
                                                                policy_name="AliyunECSFullAccess", user_name="alice"))
    ram_a.delete_user(M.DeleteUserRequest(user_name="alice"))


# --------------------------------------------------------------------------- access keys


def test_access_keys_limit_list_and_delete(cloud, ram_a):
    ram_a.create_user(M.CreateUserRequest(user_name="alice"))
    first = ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="alice")).body
    assert_sdk_shape(first)
    key = first.access_key
    assert key.access_key_id.startswith("LTAI") and len(key.access_key_secret) == 30 and key.status == "Active"
    second = ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="alice")).body.access_key
    with api_error("LimitExceeded.User.AccessKey", 409):
        ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="alice"))

    listed = ram_a.list_access_keys(M.ListAccessKeysRequest(user_name="alice")).body
    assert_sdk_shape(listed)
    assert {k.access_key_id for k in listed.access_keys.access_key} == {key.access_key_id, second.access_key_id}
    assert all(not hasattr(k, "access_key_secret") for k in listed.access_keys.access_key)

    alice = Credentials(key.access_key_id, key.access_key_secret)
    assert sts_client(alice).get_caller_identity().body.identity_type == "RAMUser"
    ram_a.delete_access_key(M.DeleteAccessKeyRequest(user_name="alice", user_access_key_id=key.access_key_id))
    with api_error("InvalidAccessKeyId.NotFound", 404):
        sts_client(alice).get_caller_identity()
    with api_error("EntityNotExist.User.AccessKey", 404):
        ram_a.delete_access_key(M.DeleteAccessKeyRequest(user_name="alice", user_access_key_id=key.access_key_id))
    ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="alice"))  # room for one again


def test_disabled_access_key_is_refused_until_reenabled(cloud, root_a, ram_a):
    alice = make_user(cloud, root_a, "alice", "AliyunRAMReadOnlyAccess")
    ram_alice = ram_client(alice)
    ram_alice.list_roles(M.ListRolesRequest())
    ram_a.update_access_key(M.UpdateAccessKeyRequest(user_name="alice", user_access_key_id=alice.access_key_id,
                                                     status="Inactive"))
    listed = ram_a.list_access_keys(M.ListAccessKeysRequest(user_name="alice")).body.access_keys.access_key
    assert [k.status for k in listed] == ["Inactive"]
    with api_error("InvalidAccessKeyId.Inactive", 400):
        ram_alice.list_roles(M.ListRolesRequest())
    with api_error("InvalidAccessKeyId.Inactive", 400):
        sts_client(alice).get_caller_identity()
    ram_a.update_access_key(M.UpdateAccessKeyRequest(user_name="alice", user_access_key_id=alice.access_key_id,
                                                     status="Active"))
    ram_alice.list_roles(M.ListRolesRequest())
    with api_error("InvalidParameter.Status", 400):
        ram_a.update_access_key(M.UpdateAccessKeyRequest(user_name="alice", user_access_key_id=alice.access_key_id,
                                                         status="Disabled"))


def test_access_keys_belong_to_their_user(ram_a):
    for name in ("alice", "bob"):
        ram_a.create_user(M.CreateUserRequest(user_name=name))
    key = ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="alice")).body.access_key
    with api_error("EntityNotExist.User.AccessKey", 404):
        ram_a.delete_access_key(M.DeleteAccessKeyRequest(user_name="bob", user_access_key_id=key.access_key_id))
    with api_error("EntityNotExist.User", 404):
        ram_a.create_access_key(M.CreateAccessKeyRequest(user_name="carol"))


def test_user_without_user_name_manages_own_keys(cloud, root_a, ram_a):
    ram_a.create_policy(M.CreatePolicyRequest(policy_name="own-keys", policy_document=(
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":["ram:CreateAccessKey","ram:ListAccessKeys"],'
        f'"Resource":"acs:ram:*:{ACCOUNT_A}:user/alice"}}]}}')))
    alice = make_user(cloud, root_a, "alice", custom=("own-keys",))
    ram_alice = ram_client(alice)
    created = ram_alice.create_access_key(M.CreateAccessKeyRequest()).body.access_key
    own = ram_alice.list_access_keys(M.ListAccessKeysRequest()).body.access_keys.access_key
    assert {k.access_key_id for k in own} == {alice.access_key_id, created.access_key_id}
    ram_a.create_user(M.CreateUserRequest(user_name="bob"))
    with api_error("NoPermission", 403):
        ram_alice.create_access_key(M.CreateAccessKeyRequest(user_name="bob"))
