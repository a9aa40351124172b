"""OSS bucket policies in the fake, through oss2: Put/Get/DeleteBucketPolicy, the grammar OSS
documents, and evaluation together with RAM policies (an explicit Deny in either wins; an Allow
in either grants; RAM grants nothing on another account's bucket)."""
from __future__ import annotations

import json

import pytest
from oss2 import exceptions as oe
from oss_support import ACCOUNT_A, ACCOUNT_B, BUCKET, bucket, make_user, oss_raises, ram_client, ram_models, role_session

from iam_support import cloud, root_a, root_b  # noqa: F401 - shared fixtures

AGREEMENTS = f"acs:oss:*:{ACCOUNT_A}:{BUCKET}/agreements/*"


@pytest.fixture
def data(root_a):
    b = bucket(root_a)
    b.create_bucket()
    return b


def document(*statements: dict) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def statement(effect: str, actions, principals, resources, condition: dict | None = None) -> dict:
    found = {"Effect": effect, "Action": actions, "Principal": principals, "Resource": resources}
    if condition:
        found["Condition"] = condition
    return found


def user_id(root, name: str) -> str:
    return ram_client(root).get_user(ram_models.GetUserRequest(user_name=name)).body.user.user_id


def test_put_get_delete_bucket_policy(data):
    with oss_raises(oe.ServerError, "NoSuchBucketPolicy", 404):
        data.get_bucket_policy()
    text = document(statement("Allow", ["oss:GetObject"], [ACCOUNT_B], [f"acs:oss:*:{ACCOUNT_A}:{BUCKET}/*"]))
    assert data.put_bucket_policy(text).status == 200
    got = data.get_bucket_policy()
    assert json.loads(got.policy) == json.loads(text)
    assert got.headers["Content-Type"] == "application/json"
    assert data.delete_bucket_policy().status == 204
    with oss_raises(oe.ServerError, "NoSuchBucketPolicy", 404):
        data.get_bucket_policy()


@pytest.mark.parametrize("body, ec", [
    ('{"Version":"2","Statement":[{"Effect":"Allow","Action":"oss:*","Principal":["*"],'
     '"Resource":"acs:oss:*:*:rolepact-data/*"}]}', "0030-00000002"),
    ('{"Version":1,"Statement":[{"Effect":"Allow","Action":"oss:*","Principal":["*"],'
     '"Resource":"acs:oss:*:*:rolepact-data/*"}]}', "0030-00000005"),
    ('{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"acs:oss:*:*:rolepact-data/*"}]}',
     "0030-00000005"),  # no Principal
    ('{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Principal":["*"],'
     '"Resource":"acs:oss:*:*:another-bucket/*"}]}', "0030-00000005"),
    ('{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*","Principal":["*"],'
     '"Resource":"acs:oss:*:*:rolepact-data/*"}]}', "0030-00000005"),
    ('{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Principal":["*"],'
     '"Resource":"acs:oss:*:*:rolepact-data/*","Condition":{"Nope":{"acs:SourceIp":"1.2.3.4"}}}]}',
     "0030-00000005"),
    ('{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Principal":["*"],'
     '"Resource":"acs:oss:*:*:rolepact-data/*","Condition":{"IpAddress":{"acs:SourceIp":"1.2.3.4"}}}]}',
     "0030-00000008"),  # acs:SourceIp without acs:SourceVpc
    ("not json", "0030-00000005"),
])
def test_invalid_policies_are_refused_with_the_documented_ec(data, body, ec):
    with oss_raises(oe.ServerError, "InvalidPolicyDocument", 400) as info:
        data.put_bucket_policy(body)
    assert info.value.ec == ec
    with oss_raises(oe.ServerError, "NoSuchBucketPolicy", 404):
        data.get_bucket_policy()  # nothing was stored


def test_policy_over_16_kb_is_refused(data):
    many = [statement("Allow", ["oss:GetObject"], [str(10 ** 15 + i)], [f"acs:oss:*:*:{BUCKET}/x{i}/*"])
            for i in range(200)]
    with oss_raises(oe.ServerError, "InvalidPolicyDocument", 400) as info:
        data.put_bucket_policy(document(*many))
    assert info.value.ec == "0030-00000001"


def test_bucket_policy_grants_a_prefix_to_a_ram_user_without_ram_permissions(cloud, root_a, data):
    alice = make_user(cloud, root_a, "alice")
    as_alice = bucket(alice)
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        as_alice.put_object("agreements/a.json", b"{}")
    data.put_bucket_policy(document(statement("Allow", ["oss:PutObject"], [user_id(root_a, "alice")], [AGREEMENTS])))
    assert as_alice.put_object("agreements/a.json", b"{}").status == 200
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        as_alice.put_object("status/a.json", b"{}")  # outside the granted prefix
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        as_alice.get_object("agreements/a.json")  # another action


def test_explicit_deny_in_the_bucket_policy_beats_a_ram_allow(cloud, root_a, data):
    mallory = make_user(cloud, root_a, "mallory", "AliyunOSSFullAccess")
    as_mallory = bucket(mallory)
    assert as_mallory.put_object("agreements/x.json", b"{}").status == 200
    data.put_bucket_policy(document(
        statement("Deny", ["oss:PutObject", "oss:DeleteObject"], [user_id(root_a, "mallory")], [AGREEMENTS])))
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        as_mallory.put_object("agreements/x.json", b"{}")
    assert info.value.message == "Access denied by bucket policy."
    assert "<NoPermissionType>ExplicitDeny</NoPermissionType>" in info.value.body.decode()
    assert as_mallory.put_object("reports/x.json", b"{}").status == 200  # the Deny is scoped to agreements/


def test_explicit_deny_in_ram_beats_a_bucket_policy_allow(cloud, root_a, data):
    ram = ram_client(root_a)
    ram.create_policy(ram_models.CreatePolicyRequest(policy_name="no-agreements", policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "oss:PutObject", "Resource": AGREEMENTS}]})))
    carol = make_user(cloud, root_a, "carol", custom=("no-agreements",))
    data.put_bucket_policy(document(statement("Allow", ["oss:*"], [user_id(root_a, "carol")],
                                              [f"acs:oss:*:*:{BUCKET}/*"])))
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(carol).put_object("agreements/c.json", b"{}")
    assert bucket(carol).put_object("other/c.json", b"{}").status == 200


def test_wildcard_principal_without_condition_never_binds_the_owner_root(root_a, data):
    data.put_bucket_policy(document(statement("Deny", ["oss:*"], ["*"], [f"acs:oss:*:*:{BUCKET}/*"])))
    assert data.put_object("agreements/owner.json", b"{}").status == 200  # the bucket owner is exempt


def test_wildcard_principal_with_condition_binds_the_owner_root_too(root_a, data):
    data.put_bucket_policy(document(statement("Deny", ["oss:PutObject"], ["*"], [f"acs:oss:*:*:{BUCKET}/*"],
                                              {"Bool": {"acs:SecureTransport": "true"}})))
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        data.put_object("agreements/owner.json", b"{}")  # the fake's SDK calls use https


def test_cross_account_access_needs_the_bucket_policy(cloud, root_a, root_b, data):
    data.put_object("shared/report.json", b"{}")
    bob = make_user(cloud, root_b, "bob", "AliyunOSSFullAccess")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(bob).get_object("shared/report.json")  # RAM in B grants nothing on A's bucket
    data.put_bucket_policy(document(statement("Allow", ["oss:GetObject"], [user_id(root_b, "bob")],
                                              [f"acs:oss:*:*:{BUCKET}/shared/*"])))
    assert bucket(bob).get_object("shared/report.json").read() == b"{}"
    # The account UID names B's root account, not its RAM users (the documented forms name users by UID).
    data.put_bucket_policy(document(statement("Allow", ["oss:GetObject"], [ACCOUNT_B],
                                              [f"acs:oss:*:*:{BUCKET}/shared/*"])))
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(bob).get_object("shared/report.json")
    assert bucket(root_b).get_object("shared/report.json").read() == b"{}"


def test_role_sessions_are_named_by_their_sts_arn(cloud, root_a, root_b, data):
    data.put_object("agreements/seed.json", b"{}")
    session, _ = role_session(root_a, root_b, actions=("ecs:DescribeInstances",), cloud=cloud)
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(session).get_object("agreements/seed.json")
    data.put_bucket_policy(document(statement(
        "Allow", ["oss:GetObject"], [f"arn:sts::{ACCOUNT_A}:assumed-role/oss-from-b/*"], [AGREEMENTS])))
    assert bucket(session).get_object("agreements/seed.json").read() == b"{}"
    data.put_bucket_policy(document(statement("Deny", ["oss:*"], ["arn:sts::*:*/*/*"], [AGREEMENTS])))
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(session).get_object("agreements/seed.json")


def test_anonymous_access_only_through_the_bucket_policy(data):
    import requests

    data.put_object("public/readme.txt", b"hello")
    url = f"https://{BUCKET}.oss-cn-hangzhou.aliyuncs.com/public/readme.txt"
    assert requests.get(url).status_code == 403
    data.put_bucket_policy(document(statement("Allow", ["oss:GetObject"], [], [f"acs:oss:*:*:{BUCKET}/public/*"])))
    answer = requests.get(url)
    assert (answer.status_code, answer.content) == (200, b"hello")
    assert requests.get(f"https://{BUCKET}.oss-cn-hangzhou.aliyuncs.com/private.txt").status_code == 403


def test_a_ram_user_needs_permission_to_manage_the_bucket_policy(cloud, root_a, data):
    reader = make_user(cloud, root_a, "reader", "AliyunOSSReadOnlyAccess")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(reader).put_bucket_policy(document(statement("Allow", ["oss:*"], ["*"], [f"acs:oss:*:*:{BUCKET}/*"])))
    with oss_raises(oe.ServerError, "NoSuchBucketPolicy", 404):
        bucket(reader).get_bucket_policy()  # GetBucketPolicy is a read: AliyunOSSReadOnlyAccess has oss:Get*
