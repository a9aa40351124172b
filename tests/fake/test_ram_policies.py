"""RAM policies through the official SDK: documents, versions, attachments, deletion rules, catalogue."""
from __future__ import annotations

import json

import pytest

from fakecloud import Limits, mock_cloud
from iam_support import (ACCOUNT_A, ACCOUNT_B, allow, api_error, assert_sdk_shape, cloud, make_user, policy,  # noqa: F401
                         ram_a, ram_client, ram_models as M, root_a, trust)

DOC = policy(allow("ecs:Describe*"))


def doc_of_length(n: int) -> str:
    """A valid identity policy of exactly `n` characters (padding in a Resource ARN)."""
    base = policy(allow("ecs:DescribeInstances", f"acs:ecs:*:{ACCOUNT_A}:instance/"))
    pad = n - len(base)
    assert pad >= 0
    return policy(allow("ecs:DescribeInstances", f"acs:ecs:*:{ACCOUNT_A}:instance/" + "i" * pad))


def create_policy(ram, name: str, document: str = DOC, **extra):
    return ram.create_policy(M.CreatePolicyRequest(policy_name=name, policy_document=document, **extra)).body


def new_version(ram, name: str, document: str = DOC, **extra):
    return ram.create_policy_version(M.CreatePolicyVersionRequest(
        policy_name=name, policy_document=document, **extra)).body.policy_version


def versions(ram, name: str) -> list[tuple[str, bool]]:
    body = ram.list_policy_versions(M.ListPolicyVersionsRequest(policy_name=name, policy_type="Custom")).body
    return [(v.version_id, v.is_default_version) for v in body.policy_versions.policy_version]


def make_role(ram, name: str = "r") -> None:
    ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_B}:root")))


def attach_role(ram, policy_name: str, role: str = "r", policy_type: str = "Custom"):
    return ram.attach_policy_to_role(M.AttachPolicyToRoleRequest(
        policy_type=policy_type, policy_name=policy_name, role_name=role))


def detach_role(ram, policy_name: str, role: str = "r", policy_type: str = "Custom"):
    return ram.detach_policy_from_role(M.DetachPolicyFromRoleRequest(
        policy_type=policy_type, policy_name=policy_name, role_name=role))


# --------------------------------------------------------------------------- documents and names


def test_create_and_get_custom_policy(ram_a):
    created = create_policy(ram_a, "ecs-read", description="read ECS")
    assert_sdk_shape(created)
    assert (created.policy.policy_type, created.policy.default_version) == ("Custom", "v1")
    got = ram_a.get_policy(M.GetPolicyRequest(policy_name="ecs-read", policy_type="Custom")).body
    assert_sdk_shape(got)
    assert got.default_policy_version.version_id == "v1"
    assert got.default_policy_version.is_default_version is True
    assert json.loads(got.default_policy_version.policy_document) == json.loads(DOC)
    assert (got.policy.description, got.policy.attachment_count) == ("read ECS", 0)


def test_policy_document_length_limit_is_6144_chars(ram_a):
    exact = doc_of_length(6144)
    assert len(exact) == 6144
    create_policy(ram_a, "exact", exact)
    with api_error("InvalidParameter.PolicyDocument.Length", 400):
        create_policy(ram_a, "over", doc_of_length(6145))
    new_version(ram_a, "exact", exact)
    with api_error("InvalidParameter.PolicyDocument.Length", 400):
        new_version(ram_a, "exact", doc_of_length(6145))


BAD_IDENTITY = {
    "not json": "[",
    "no resource": json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:*"}]}),
    "principal in identity policy": json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*", "Principal": {"RAM": ["acs:ram::1:root"]}}]}),
    "bad action": policy(allow("DescribeInstances")),
    "bad resource": policy(allow("ecs:*", "instance/i-1")),
    "bad condition operator": policy(allow("ecs:*", condition={"StringMaybe": {"acs:SourceIp": "1.2.3.4"}})),
    "bad version": json.dumps({"Version": "2012-10-17", "Statement": [allow("ecs:*")]}),
}


@pytest.mark.parametrize("problem", sorted(BAD_IDENTITY))
def test_malformed_identity_policy_is_rejected(ram_a, problem):
    with api_error("MalformedPolicyDocument", 400):
        create_policy(ram_a, "p", BAD_IDENTITY[problem])
    create_policy(ram_a, "p")
    with api_error("MalformedPolicyDocument", 400):
        new_version(ram_a, "p", BAD_IDENTITY[problem])
    assert versions(ram_a, "p") == [("v1", True)]


@pytest.mark.parametrize("name, code", [
    ("a" * 128, None),
    ("Ab-9", None),
    ("a" * 129, "InvalidParameter.PolicyName.Length"),
    ("under_score", "InvalidParameter.PolicyName.InvalidChars"),
    ("dot.ted", "InvalidParameter.PolicyName.InvalidChars"),
])
def test_policy_name_rules(ram_a, name, code):
    if code is None:
        assert create_policy(ram_a, name).policy.policy_name == name
    else:
        with api_error(code, 400):
            create_policy(ram_a, name)


def test_policy_description_is_at_most_1024_chars(ram_a):
    assert create_policy(ram_a, "ok", description="d" * 1024).policy.description == "d" * 1024
    with api_error("InvalidParameter.Description.Length", 400):
        create_policy(ram_a, "too-long", description="d" * 1025)


def test_policy_names_are_unique_case_insensitively(ram_a):
    create_policy(ram_a, "Ops")
    with api_error("EntityAlreadyExists.Policy", 409):
        create_policy(ram_a, "ops")
    assert ram_a.get_policy(M.GetPolicyRequest(policy_name="OPS", policy_type="Custom")).body.policy.policy_name == "Ops"


def test_policy_type_must_be_system_or_custom(ram_a):
    create_policy(ram_a, "p")
    with api_error("InvalidParameter.PolicyType", 400):
        ram_a.get_policy(M.GetPolicyRequest(policy_name="p", policy_type="custom-ish"))
    with api_error("EntityNotExist.Policy", 404):
        ram_a.get_policy(M.GetPolicyRequest(policy_name="p", policy_type="System"))


def test_custom_policy_count_limit():
    with mock_cloud(limits=Limits(custom_policies_per_account=2)) as cloud:
        ram = ram_client(cloud.add_account(ACCOUNT_A))
        create_policy(ram, "p1")
        create_policy(ram, "p2")
        with api_error("LimitExceeded.Policy", 409):
            create_policy(ram, "p3")


# --------------------------------------------------------------------------- versions


def test_versions_limit_rotation_and_increasing_ids(ram_a):
    create_policy(ram_a, "p")
    for expected in ("v2", "v3", "v4", "v5"):
        version = new_version(ram_a, "p")
        assert version.version_id == expected and version.is_default_version is False
    with api_error("LimitExceeded.Policy.Version", 409):
        new_version(ram_a, "p")
    assert [v for v, _ in versions(ram_a, "p")] == ["v1", "v2", "v3", "v4", "v5"]

    # v1 is the default, so rotation drops the oldest *non-default* version, v2.
    rotated = new_version(ram_a, "p", rotate_strategy="DeleteOldestNonDefaultVersionWhenLimitExceeded",
                          set_as_default=True)
    assert (rotated.version_id, rotated.is_default_version) == ("v6", True)
    assert versions(ram_a, "p") == [("v1", False), ("v3", False), ("v4", False), ("v5", False), ("v6", True)]

    ram_a.delete_policy_version(M.DeletePolicyVersionRequest(policy_name="p", version_id="v3"))
    assert new_version(ram_a, "p").version_id == "v7"  # ids are never reused
    ram_a.set_default_policy_version(M.SetDefaultPolicyVersionRequest(policy_name="p", version_id="v1"))
    got = ram_a.get_policy(M.GetPolicyRequest(policy_name="p", policy_type="Custom")).body
    assert (got.policy.default_version, got.default_policy_version.version_id) == ("v1", "v1")
    with api_error("InvalidParameter.RotateStrategy", 400):
        new_version(ram_a, "p", rotate_strategy="DeleteNewest")


def test_set_default_version_changes_what_the_policy_allows(cloud, root_a, ram_a):
    create_policy(ram_a, "p", policy(allow("ram:ListRoles")))
    ram_user = ram_client(make_user(cloud, root_a, "u", custom=("p",)))
    ram_user.list_roles(M.ListRolesRequest())
    new_version(ram_a, "p", policy(allow("ram:GetAccountAlias")), set_as_default=True)
    with api_error("NoPermission", 403):
        ram_user.list_roles(M.ListRolesRequest())
    ram_user.get_account_alias()
    ram_a.set_default_policy_version(M.SetDefaultPolicyVersionRequest(policy_name="p", version_id="v1"))
    ram_user.list_roles(M.ListRolesRequest())


def test_get_and_delete_policy_version_errors(ram_a):
    create_policy(ram_a, "p")
    new_version(ram_a, "p", policy(allow("ecs:StopInstance")))
    got = ram_a.get_policy_version(M.GetPolicyVersionRequest(policy_name="p", policy_type="Custom",
                                                             version_id="v2")).body
    assert_sdk_shape(got)
    assert json.loads(got.policy_version.policy_document)["Statement"][0]["Action"] == "ecs:StopInstance"
    with api_error("EntityNotExist.Policy.Version", 404):
        ram_a.get_policy_version(M.GetPolicyVersionRequest(policy_name="p", policy_type="Custom", version_id="v9"))
    for bad in ("2", "v0", "V2", "v2a"):
        with api_error("InvalidParameter.VersionId.Format", 400):
            ram_a.get_policy_version(M.GetPolicyVersionRequest(policy_name="p", policy_type="Custom", version_id=bad))
    with api_error("DeleteConflict.Policy.Version.Default", 409):
        ram_a.delete_policy_version(M.DeletePolicyVersionRequest(policy_name="p", version_id="v1"))
    with api_error("EntityNotExist.Policy.Version", 404):
        ram_a.set_default_policy_version(M.SetDefaultPolicyVersionRequest(policy_name="p", version_id="v3"))
    with api_error("EntityNotExist.Policy", 404):
        new_version(ram_a, "ghost")


def test_delete_policy_with_versions_needs_cascading_delete(ram_a):
    create_policy(ram_a, "p")
    new_version(ram_a, "p")
    with api_error("DeleteConflict.Policy.Version", 409):
        ram_a.delete_policy(M.DeletePolicyRequest(policy_name="p"))
    with api_error("DeleteConflict.Policy.Version", 409):
        ram_a.delete_policy(M.DeletePolicyRequest(policy_name="p", cascading_delete=False))
    ram_a.delete_policy(M.DeletePolicyRequest(policy_name="p", cascading_delete=True))
    with api_error("EntityNotExist.Policy", 404):
        ram_a.get_policy(M.GetPolicyRequest(policy_name="p", policy_type="Custom"))
    create_policy(ram_a, "q")
    ram_a.delete_policy(M.DeletePolicyRequest(policy_name="q"))  # only the default version: no flag needed


# --------------------------------------------------------------------------- attachments


def test_attach_detach_role_policy_and_listings(ram_a):
    make_role(ram_a, "r")
    create_policy(ram_a, "mine", description="custom one")
    attach_role(ram_a, "mine")
    attach_role(ram_a, "AliyunECSFullAccess", policy_type="System")

    listed = ram_a.list_policies_for_role(M.ListPoliciesForRoleRequest(role_name="r")).body
    assert_sdk_shape(listed)
    assert sorted((p.policy_name, p.policy_type, p.default_version) for p in listed.policies.policy) == [
        ("AliyunECSFullAccess", "System", "v1"), ("mine", "Custom", "v1")]

    entities = ram_a.list_entities_for_policy(M.ListEntitiesForPolicyRequest(policy_name="mine",
                                                                             policy_type="Custom")).body
    assert_sdk_shape(entities, optional={"groups.group"})
    assert [(r.role_name, r.arn) for r in entities.roles.role] == [("r", f"acs:ram::{ACCOUNT_A}:role/r")]
    assert entities.users.user == [] and entities.groups.group == []
    got = ram_a.get_policy(M.GetPolicyRequest(policy_name="mine", policy_type="Custom")).body
    assert got.policy.attachment_count == 1

    with api_error("EntityAlreadyExists.Role.Policy", 409):
        attach_role(ram_a, "MINE")
    detach_role(ram_a, "mine")
    with api_error("EntityNotExist.Role.Policy", 404):
        detach_role(ram_a, "mine")
    assert [p.policy_name for p in ram_a.list_policies_for_role(
        M.ListPoliciesForRoleRequest(role_name="r")).body.policies.policy] == ["AliyunECSFullAccess"]


@pytest.mark.parametrize("role, policy_type, policy_name, code, status", [
    ("ghost", "Custom", "mine", "EntityNotExist.Role", 404),
    ("r", "Custom", "ghost", "EntityNotExist.Policy", 404),
    ("r", "System", "mine", "EntityNotExist.Policy", 404),
    ("r", "Managed", "mine", "InvalidParameter.PolicyType", 400),
    ("r", "Custom", "bad_name", "InvalidParameter.PolicyName.InvalidChars", 400),
    ("bad_role", "Custom", "mine", "InvalidParameter.RoleName.InvalidChars", 400),
])
def test_attach_and_detach_role_errors(ram_a, role, policy_type, policy_name, code, status):
    make_role(ram_a, "r")
    create_policy(ram_a, "mine")
    with api_error(code, status):
        attach_role(ram_a, policy_name, role, policy_type)
    with api_error(code, status):
        detach_role(ram_a, policy_name, role, policy_type)


def test_attach_detach_user_policy_and_errors(ram_a):
    ram_a.create_user(M.CreateUserRequest(user_name="alice"))
    create_policy(ram_a, "mine")
    request = dict(policy_type="Custom", policy_name="mine", user_name="alice")
    ram_a.attach_policy_to_user(M.AttachPolicyToUserRequest(**request))
    with api_error("EntityAlreadyExists.User.Policy", 409):
        ram_a.attach_policy_to_user(M.AttachPolicyToUserRequest(**request))
    listed = ram_a.list_policies_for_user(M.ListPoliciesForUserRequest(user_name="alice")).body
    assert_sdk_shape(listed)
    assert [p.policy_name for p in listed.policies.policy] == ["mine"]
    entities = ram_a.list_entities_for_policy(M.ListEntitiesForPolicyRequest(policy_name="mine",
                                                                             policy_type="Custom")).body
    assert_sdk_shape(entities, optional={"groups.group"})
    assert [u.user_name for u in entities.users.user] == ["alice"]
    ram_a.detach_policy_from_user(M.DetachPolicyFromUserRequest(**request))
    with api_error("EntityNotExist.User.Policy", 404):
        ram_a.detach_policy_from_user(M.DetachPolicyFromUserRequest(**request))
    with api_error("EntityNotExist.User", 404):
        ram_a.attach_policy_to_user(M.AttachPolicyToUserRequest(**dict(request, user_name="bob")))


def test_policies_per_role_limit_counts_custom_and_system_separately():
    with mock_cloud(limits=Limits(custom_policies_per_role=2, system_policies_per_role=1)) as cloud:
        ram = ram_client(cloud.add_account(ACCOUNT_A))
        make_role(ram, "r")
        for name in ("c1", "c2", "c3"):
            create_policy(ram, name)
        attach_role(ram, "c1")
        attach_role(ram, "c2")
        with api_error("LimitExceeded.Role.Policy", 409):
            attach_role(ram, "c3")
        attach_role(ram, "AliyunECSFullAccess", policy_type="System")
        with api_error("LimitExceeded.Role.Policy", 409):
            attach_role(ram, "AliyunSTSAssumeRoleAccess", policy_type="System")


def test_delete_role_with_attached_policy_conflicts_until_detached(ram_a):
    make_role(ram_a, "r")
    attach_role(ram_a, "AliyunECSFullAccess", policy_type="System")
    with api_error("DeleteConflict.Role.Policy", 409):
        ram_a.delete_role(M.DeleteRoleRequest(role_name="r"))
    ram_a.get_role(M.GetRoleRequest(role_name="r"))
    detach_role(ram_a, "AliyunECSFullAccess", policy_type="System")
    ram_a.delete_role(M.DeleteRoleRequest(role_name="r"))


def test_delete_policy_while_attached_conflicts(ram_a):
    make_role(ram_a, "r")
    ram_a.create_user(M.CreateUserRequest(user_name="alice"))
    create_policy(ram_a, "mine")
    attach_role(ram_a, "mine")
    with api_error("DeleteConflict.Role.Policy", 409):
        ram_a.delete_policy(M.DeletePolicyRequest(policy_name="mine", cascading_delete=True))
    detach_role(ram_a, "mine")
    ram_a.attach_policy_to_user(M.AttachPolicyToUserRequest(policy_type="Custom", policy_name="mine",
                                                            user_name="alice"))
    with api_error("DeleteConflict.Policy.User", 409):
        ram_a.delete_policy(M.DeletePolicyRequest(policy_name="mine"))
    ram_a.detach_policy_from_user(M.DetachPolicyFromUserRequest(policy_type="Custom", policy_name="mine",
                                                                user_name="alice"))
    ram_a.delete_policy(M.DeletePolicyRequest(policy_name="mine"))


# --------------------------------------------------------------------------- system catalogue and listing


def test_system_policy_catalogue(ram_a):
    got = ram_a.get_policy(M.GetPolicyRequest(policy_name="AliyunECSFullAccess", policy_type="System")).body
    assert_sdk_shape(got)
    assert got.policy.policy_type == "System"
    document = json.loads(got.default_policy_version.policy_document)
    assert {"Action": "ecs:*", "Resource": "*", "Effect": "Allow"} in document["Statement"]
    assert got.default_policy_version.is_default_version is True
    sts = ram_a.get_policy(M.GetPolicyRequest(policy_name="AliyunSTSAssumeRoleAccess", policy_type="System")).body
    assert json.loads(sts.default_policy_version.policy_document)["Statement"][0]["Action"] == "sts:AssumeRole"
    with api_error("EntityNotExist.Policy", 404):
        new_version(ram_a, "AliyunECSFullAccess")  # system policies are not editable
    with api_error("EntityNotExist.Policy", 404):
        ram_a.delete_policy(M.DeletePolicyRequest(policy_name="AliyunECSFullAccess"))


def test_list_policies_by_type_and_paging(ram_a):
    for i in range(3):
        create_policy(ram_a, f"p{i}", tag=[M.CreatePolicyRequestTag(key="n", value=str(i))])
    custom = ram_a.list_policies(M.ListPoliciesRequest(policy_type="Custom")).body
    assert_sdk_shape(custom, optional={"marker"})
    assert [p.policy_name for p in custom.policies.policy] == ["p0", "p1", "p2"]
    assert [t.tag_value for t in custom.policies.policy[1].tags.tag] == ["1"]
    system = ram_a.list_policies(M.ListPoliciesRequest(policy_type="System")).body.policies.policy
    assert {"AliyunECSFullAccess", "AliyunSTSAssumeRoleAccess", "AliyunRAMReadOnlyAccess"} <= {p.policy_name
                                                                                            for p in system}
    assert {p.policy_type for p in system} == {"System"}
    page = ram_a.list_policies(M.ListPoliciesRequest(policy_type="Custom", max_items=2)).body
    rest = ram_a.list_policies(M.ListPoliciesRequest(policy_type="Custom", max_items=2, marker=page.marker)).body
    assert [p.policy_name for p in page.policies.policy + rest.policies.policy] == ["p0", "p1", "p2"]
    assert (page.is_truncated, rest.is_truncated) == (True, False)


def test_list_policies_tag_filter_follows_tag_changes(ram_a):
    def tagged(*pairs):
        tags = [M.ListPoliciesRequestTag(key=k, value=v) for k, v in pairs]
        body = ram_a.list_policies(M.ListPoliciesRequest(tag=tags)).body
        return [p.policy_name for p in body.policies.policy]

    create_policy(ram_a, "p1", tag=[M.CreatePolicyRequestTag(key="agreement", value="a-1")])
    create_policy(ram_a, "p2", tag=[M.CreatePolicyRequestTag(key="agreement", value="a-1"),
                                    M.CreatePolicyRequestTag(key="env", value="prod")])
    create_policy(ram_a, "p3", tag=[M.CreatePolicyRequestTag(key="agreement", value="a-2")])
    assert tagged(("agreement", "a-1")) == ["p1", "p2"]
    assert tagged(("agreement", "a-1"), ("env", "prod")) == ["p2"]
    assert tagged(("agreement", None)) == ["p1", "p2", "p3"]  # key only: any value
    ram_a.tag_resources(M.TagResourcesRequest(resource_type="policy", resource_names=["p3"],
                                              tag=[M.TagResourcesRequestTag(key="agreement", value="a-1")]))
    assert tagged(("agreement", "a-1")) == ["p1", "p2", "p3"] and tagged(("agreement", "a-2")) == []
    ram_a.untag_resources(M.UntagResourcesRequest(resource_type="policy", resource_names=["p1"],
                                                  tag_keys=["agreement"]))
    ram_a.delete_policy(M.DeletePolicyRequest(policy_name="p2"))
    assert tagged(("agreement", "a-1")) == ["p3"]
    create_policy(ram_a, "p2")  # re-created without tags
    assert tagged(("agreement", "a-1")) == ["p3"]
    with api_error("EntityNotExist.Policy", 404):  # all names are checked before any tag changes
        ram_a.untag_resources(M.UntagResourcesRequest(resource_type="policy", resource_names=["p3", "ghost"],
                                                      all=True))
    assert tagged(("agreement", "a-1")) == ["p3"]


def test_attachment_counts_follow_attach_and_detach(ram_a):
    create_policy(ram_a, "shared")
    for name in ("r1", "r2", "r3"):
        make_role(ram_a, name)
        attach_role(ram_a, "shared", name)
    ram_a.create_user(M.CreateUserRequest(user_name="u"))
    ram_a.attach_policy_to_user(M.AttachPolicyToUserRequest(policy_type="Custom", policy_name="shared",
                                                            user_name="u"))
    detach_role(ram_a, "shared", "r2")
    listed = ram_a.list_policies(M.ListPoliciesRequest(policy_type="Custom")).body.policies.policy
    assert [(p.policy_name, p.attachment_count) for p in listed] == [("shared", 3)]
    entities = ram_a.list_entities_for_policy(M.ListEntitiesForPolicyRequest(policy_name="shared",
                                                                             policy_type="Custom")).body
    assert [r.role_name for r in entities.roles.role] == ["r1", "r3"]
    assert [u.user_name for u in entities.users.user] == ["u"]
    system = ram_a.get_policy(M.GetPolicyRequest(policy_name="AliyunECSFullAccess", policy_type="System")).body
    assert system.policy.attachment_count == 0


def test_list_all_policies_pages_across_system_and_custom(ram_a):
    for i in range(5):
        create_policy(ram_a, f"p{i}")
    everything = ram_a.list_policies(M.ListPoliciesRequest(max_items=1000)).body.policies.policy
    seen, marker = [], None
    for _ in range(len(everything)):  # bounded: a marker that restarts the listing would loop forever
        body = ram_a.list_policies(M.ListPoliciesRequest(max_items=4, marker=marker)).body
        seen += [(p.policy_type, p.policy_name) for p in body.policies.policy]
        if not body.is_truncated:
            break
        marker = body.marker
    assert seen == [(p.policy_type, p.policy_name) for p in everything]
    assert seen[-5:] == [("Custom", f"p{i}") for i in range(5)]
