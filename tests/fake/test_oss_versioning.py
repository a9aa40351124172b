"""Bucket versioning in the fake, through oss2 ([D] OSS PutBucketVersioning, PutObject, "Delete
marker", "Manage objects in a versioning-suspended bucket"): above all, `x-oss-forbid-overwrite`
has no effect once versioning is enabled or suspended — every first-writer-wins marker rolepact
keeps in OSS relies on that header."""
from __future__ import annotations

import json

import oss2
import pytest
from oss2 import exceptions as oe
from oss_support import BUCKET, bucket, make_user, oss_raises, ram_client, ram_models, raw

from iam_support import cloud, root_a, root_b  # noqa: F401 - shared fixtures

FORBID = {"x-oss-forbid-overwrite": "true"}


@pytest.fixture
def data(root_a):
    b = bucket(root_a)
    b.create_bucket()
    return b


def versioning(b, status: str):
    return b.put_bucket_versioning(oss2.models.BucketVersioningConfig(status))


def test_versioning_states(data):
    assert data.get_bucket_versioning().status is None  # never configured
    assert versioning(data, oss2.BUCKET_VERSIONING_ENABLE).status == 200
    assert data.get_bucket_versioning().status == "Enabled"
    versioning(data, oss2.BUCKET_VERSIONING_SUSPEND)
    assert data.get_bucket_versioning().status == "Suspended"
    with oss_raises(oe.ServerError, "MalformedXML", 400):
        versioning(data, "Off")  # a bucket never goes back to unversioned
    assert data.get_bucket_versioning().status == "Suspended"


def test_forbid_overwrite_holds_only_without_versioning(data):
    data.put_object("state/claims/a.json", b"first", headers=FORBID)
    with oss_raises(oe.ServerError, "FileAlreadyExists", 409):
        data.put_object("state/claims/a.json", b"second", headers=FORBID)
    versioning(data, oss2.BUCKET_VERSIONING_ENABLE)
    second = data.put_object("state/claims/a.json", b"second", headers=FORBID)  # the header is now ignored
    third = data.put_object("state/claims/a.json", b"third", headers=FORBID)
    assert second.versionid and third.versionid and second.versionid != third.versionid
    assert data.get_object("state/claims/a.json").read() == b"third"
    assert data.get_object("state/claims/a.json", params={"versionId": second.versionid}).read() == b"second"
    assert data.get_object("state/claims/a.json", params={"versionId": "null"}).read() == b"first"
    listing = data.list_object_versions()
    assert [(v.versionid, v.is_latest) for v in listing.versions] == [
        (third.versionid, True), (second.versionid, False), ("null", False)]


def test_suspended_versioning_also_ignores_the_header_and_keeps_one_null_version(data):
    versioning(data, oss2.BUCKET_VERSIONING_SUSPEND)
    first = data.put_object("state/notices/x", b"1", headers=FORBID)
    second = data.put_object("state/notices/x", b"2", headers=FORBID)
    assert (first.versionid, second.versionid) == ("null", "null")
    assert data.get_object("state/notices/x").read() == b"2"
    assert [v.versionid for v in data.list_object_versions().versions] == ["null"]


def test_delete_markers(data):
    versioning(data, oss2.BUCKET_VERSIONING_ENABLE)
    put = data.put_object("agreements/a.json", b"{}")
    deleted = data.delete_object("agreements/a.json")
    assert deleted.delete_marker and deleted.versionid and deleted.versionid != put.versionid
    with oss_raises(oe.NoSuchKey, "NoSuchKey", 404) as info:
        data.get_object("agreements/a.json")
    assert info.value.headers["x-oss-delete-marker"] == "true"
    assert [o.key for o in oss2.ObjectIteratorV2(data)] == []
    listing = data.list_object_versions()
    assert [(m.versionid, m.is_latest) for m in listing.delete_marker] == [(deleted.versionid, True)]
    with oss_raises(oe.ServerError, "NoSuchVersion", 404):
        data.get_object("agreements/a.json", params={"versionId": "CAEQ-no-such"})
    undone = data.delete_object("agreements/a.json", params={"versionId": deleted.versionid})
    assert undone.delete_marker and undone.versionid == deleted.versionid
    assert data.get_object("agreements/a.json").read() == b"{}"  # the data was never gone


def test_a_versioned_bucket_is_empty_only_without_versions_and_markers(data):
    versioning(data, oss2.BUCKET_VERSIONING_ENABLE)
    put = data.put_object("k", b"v")
    marker = data.delete_object("k")
    with oss_raises(oe.BucketNotEmpty, "BucketNotEmpty", 409):
        data.delete_bucket()
    data.delete_object("k", params={"versionId": put.versionid})
    with oss_raises(oe.BucketNotEmpty, "BucketNotEmpty", 409):
        data.delete_bucket()
    data.delete_object("k", params={"versionId": marker.versionid})
    assert data.delete_bucket().status == 204


def test_listing_versions_pages_with_both_markers(data):
    versioning(data, oss2.BUCKET_VERSIONING_ENABLE)
    ids = [data.put_object("a", str(i).encode()).versionid for i in range(3)] + [data.put_object("b", b"x").versionid]
    first = data.list_object_versions(max_keys=2)
    assert first.is_truncated and [v.versionid for v in first.versions] == [ids[2], ids[1]]
    rest = data.list_object_versions(key_marker=first.next_key_marker, versionid_marker=first.next_versionid_marker)
    assert not rest.is_truncated and [v.versionid for v in rest.versions] == [ids[0], ids[3]]


def test_version_reads_and_deletes_need_their_own_actions(cloud, root_a, data):
    versioning(data, oss2.BUCKET_VERSIONING_ENABLE)
    put = data.put_object("k", b"v")
    ram = ram_client(root_a)
    ram.create_policy(ram_models.CreatePolicyRequest(policy_name="plain", policy_document=json.dumps({
        "Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject", "oss:DeleteObject"],
                                       "Resource": f"acs:oss:*:*:{BUCKET}/*"}]})))
    user = bucket(make_user(cloud, root_a, "plain", custom=("plain",)))
    assert user.get_object("k").read() == b"v"
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        user.get_object("k", params={"versionId": put.versionid})  # oss:GetObjectVersion
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        user.delete_object("k", params={"versionId": put.versionid})  # oss:DeleteObjectVersion
    assert user.delete_object("k").delete_marker  # a plain delete only hides it


def test_forbid_overwrite_takes_true_or_false_only(root_a, data):
    answer = raw(root_a, "PUT", BUCKET, "k", data=b"v", headers={"x-oss-forbid-overwrite": "yes"})
    assert answer.status_code == 400 and b"<Code>InvalidArgument</Code>" in answer.content
    assert data.put_object("k", b"v", headers={"x-oss-forbid-overwrite": "false"}).status == 200
