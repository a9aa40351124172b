"""Bucket ACLs in the fake, through oss2: Put/GetBucketAcl, and what OSS documents they grant — public-read lets
anyone, anonymous callers included, read objects; public-read-write also write them (help/en/oss/user-guide/
bucket-acl). An explicit Deny in the bucket policy still wins. The product's approved-uploaders lock relies on
the fake not being safer than OSS here (docs/fake-fidelity.md)."""
from __future__ import annotations

import json

import oss2
import pytest
from oss2 import exceptions as oe
from oss_support import ACCOUNT_A, BUCKET, ENDPOINT, bucket, oss_raises

from iam_support import cloud, root_a  # noqa: F401 - shared fixtures


@pytest.fixture
def data(root_a):
    b = bucket(root_a)
    b.create_bucket()
    b.put_object("agreements/a.json", b"{}")
    return b


def anonymous() -> oss2.Bucket:
    return oss2.Bucket(oss2.AnonymousAuth(), ENDPOINT, BUCKET)


def test_put_and_get_bucket_acl(data):
    assert data.get_bucket_acl().acl == "private"
    assert data.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ).status == 200
    assert data.get_bucket_acl().acl == "public-read"
    with pytest.raises(oe.ServerError):
        data.put_bucket_acl("everyone")


@pytest.mark.parametrize("acl, reads, writes", [
    ("private", False, False), ("public-read", True, False), ("public-read-write", True, True)])
def test_what_each_acl_lets_an_anonymous_caller_do(data, acl, reads, writes):
    data.put_bucket_acl(acl)
    if reads:
        assert anonymous().get_object("agreements/a.json").read() == b"{}"
    else:
        with oss_raises(oe.AccessDenied, "AccessDenied", 403):
            anonymous().get_object("agreements/a.json")
    if writes:
        anonymous().put_object("agreements/b.json", b"[]")
        assert data.get_object("agreements/b.json").read() == b"[]"
    else:
        with oss_raises(oe.AccessDenied, "AccessDenied", 403):
            anonymous().put_object("agreements/b.json", b"[]")


def test_an_explicit_deny_in_the_bucket_policy_wins_over_the_acl(data):
    data.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    data.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
        "Effect": "Deny", "Action": ["oss:PutObject"], "Principal": ["*"],
        "Resource": [f"acs:oss:*:{ACCOUNT_A}:{BUCKET}/agreements/*"]}]}))
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        anonymous().put_object("agreements/c.json", b"[]")
    anonymous().put_object("other/c.json", b"[]")
