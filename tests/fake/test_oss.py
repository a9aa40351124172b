"""Fake OSS through the official `oss2` SDK (and raw signed requests for the wire details)."""
from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone

import oss2
import pytest
import requests
import time_machine
from oss2 import exceptions as oe
from oss_support import (ACCOUNT_A, ACCOUNT_B, BUCKET, ENDPOINT, INTERNAL, bucket, error_fields, make_user,
                         oss_raises, ram_client, ram_models, raw, role_session, service)

from fakecloud import FakeCrash, Limits, mock_cloud
from fakecloud.server import FakeCloudServer
from iam_support import cloud, root_a, root_b  # noqa: F401 - shared fixtures

NO_RIGHT = "You have no right to access this object because of bucket acl."


@pytest.fixture
def data(root_a):
    """Account A's bucket `rolepact-data`, as an oss2.Bucket of A's root."""
    b = bucket(root_a)
    b.create_bucket()
    return b


def crc64(payload: bytes) -> int:
    crc = oss2.utils.Crc64()
    crc.update(payload)
    return crc.crc


# ============================================================================ buckets
def test_create_list_and_describe_buckets(cloud, root_a, root_b):
    assert bucket(root_a).create_bucket().status == 200
    bucket(root_a, "rolepact-logs").create_bucket(oss2.BUCKET_ACL_PRIVATE)
    bucket(root_b, "other-company").create_bucket()

    listed = service(root_a).list_buckets()
    assert [b.name for b in listed.buckets] == ["rolepact-data", "rolepact-logs"]
    first = listed.buckets[0]
    assert (first.location, first.extranet_endpoint, first.intranet_endpoint, first.storage_class) == (
        "oss-cn-hangzhou", "oss-cn-hangzhou.aliyuncs.com", "oss-cn-hangzhou-internal.aliyuncs.com", "Standard")
    assert first.creation_date > 0
    assert listed.owner.id == ACCOUNT_A

    info = bucket(root_a).get_bucket_info()
    assert (info.name, info.location, info.owner.id, info.acl.grant) == (
        "rolepact-data", "oss-cn-hangzhou", ACCOUNT_A, "private")
    assert bucket(root_a).get_bucket_location().location == "oss-cn-hangzhou"
    assert cloud.backend("oss").buckets["rolepact-data"].owner == ACCOUNT_A


def test_list_buckets_prefix_and_paging(root_a):
    for name in ("alpha-1", "alpha-2", "alpha-3", "beta-1"):
        bucket(root_a, name).create_bucket()
    first = service(root_a).list_buckets(prefix="alpha", max_keys=2)
    assert [b.name for b in first.buckets] == ["alpha-1", "alpha-2"] and first.is_truncated
    rest = service(root_a).list_buckets(prefix="alpha", marker=first.next_marker, max_keys=2)
    assert [b.name for b in rest.buckets] == ["alpha-3"] and not rest.is_truncated
    assert [b.name for b in oss2.BucketIterator(service(root_a))] == ["alpha-1", "alpha-2", "alpha-3", "beta-1"]


def test_bucket_names_are_global_across_accounts(root_a, root_b):
    bucket(root_a).create_bucket()
    with oss_raises(oe.ServerError, "BucketAlreadyExists", 409) as info:
        bucket(root_b).create_bucket()
    assert info.value.message.startswith("The requested bucket name is not available")
    assert bucket(root_a).create_bucket().status == 200  # the owner re-creating it is a no-op
    with oss_raises(oe.ServerError, "BucketAlreadyExists", 409) as info:
        bucket(root_a, endpoint="https://oss-cn-shanghai.aliyuncs.com", region="cn-shanghai").create_bucket()
    assert info.value.message == "Bucket already exists can't modify location."


def test_invalid_bucket_name(root_a):
    b = bucket(root_a)
    b.bucket_name = "Bad_Name"  # oss2 refuses such names itself; send one anyway (path style)
    with oss_raises(oe.ServerError, "InvalidBucketName", 400) as info:
        b.create_bucket()
    assert info.value.details["BucketName"] == "Bad_Name"
    assert info.value.details["Message"] == "The specified bucket is not valid."


def test_too_many_buckets():
    with mock_cloud(limits=Limits(oss_buckets_per_account=2)) as cloud:
        root = cloud.add_account(ACCOUNT_A)
        bucket(root, "b-one").create_bucket()
        bucket(root, "b-two").create_bucket()
        with oss_raises(oe.ServerError, "TooManyBuckets", 400):
            bucket(root, "b-three").create_bucket()
        bucket(root, "b-three", endpoint="https://oss-cn-beijing.aliyuncs.com").create_bucket()  # per region


def test_delete_bucket(data, root_a):
    data.put_object("k", b"x")
    with oss_raises(oe.BucketNotEmpty, "BucketNotEmpty", 409):
        data.delete_bucket()
    data.delete_object("k")
    assert data.delete_bucket().status == 204
    with oss_raises(oe.NoSuchBucket, "NoSuchBucket", 404) as info:
        data.delete_bucket()
    assert info.value.details["BucketName"] == BUCKET
    assert service(root_a).list_buckets().buckets == []


def test_missing_bucket_on_object_calls(root_a):
    b = bucket(root_a, "no-such-bucket")
    with oss_raises(oe.NoSuchBucket, "NoSuchBucket", 404):
        b.get_object("k")
    with oss_raises(oe.NoSuchBucket, "NoSuchBucket", 404):  # HEAD: read from x-oss-err
        b.head_object("k")
    with oss_raises(oe.NoSuchBucket, "NoSuchBucket", 404):
        b.object_exists("k")


def test_internal_endpoint_and_wrong_region_endpoint(data, root_a):
    data.put_object("k", b"v")
    assert bucket(root_a, endpoint=INTERNAL).get_object("k").read() == b"v"
    elsewhere = bucket(root_a, endpoint="https://oss-cn-beijing.aliyuncs.com", region="cn-beijing")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        elsewhere.get_object("k")
    assert info.value.details["Endpoint"] == "oss-cn-hangzhou.aliyuncs.com"


# ============================================================================ objects
def test_put_get_head_roundtrip(data):
    payload = b'{"grant": "ops"}'
    put = data.put_object("grants/ops.json", payload, headers={"x-oss-meta-Owner": "alice",
                                                               "Cache-Control": "no-cache"})
    md5 = hashlib.md5(payload)
    assert put.status == 200
    assert put.etag == md5.hexdigest().upper()
    assert put.headers["ETag"] == f'"{md5.hexdigest().upper()}"'
    assert put.crc == crc64(payload)  # oss2 also compared it with its own CRC and did not raise
    assert put.headers["x-oss-request-id"] and put.headers["Server"] == "AliyunOSS" and put.headers["Date"]

    got = data.get_object("grants/ops.json")
    assert got.read() == payload
    assert got.client_crc == got.server_crc == crc64(payload)
    assert got.content_type == "application/json"  # oss2 guessed it from the extension
    assert got.headers["x-oss-meta-owner"] == "alice" and got.headers["Cache-Control"] == "no-cache"
    assert (got.etag, got.content_length, got.object_type) == (put.etag, len(payload), "Normal")

    head = data.head_object("grants/ops.json")
    assert (head.content_length, head.etag, head.content_type) == (len(payload), put.etag, "application/json")
    assert head.headers["x-oss-meta-owner"] == "alice"
    assert abs(head.last_modified - datetime.now(timezone.utc).timestamp()) < 5
    meta = data.get_object_meta("grants/ops.json")
    assert (meta.content_length, meta.etag) == (len(payload), put.etag)
    assert data.object_exists("grants/ops.json") and not data.object_exists("grants/none.json")


def test_garbled_transfers_keep_the_crc_of_what_oss_holds(cloud, data):
    """`faults.garble`: a network that flips a byte. The CRC header keeps describing the object OSS
    holds, so a client that checks (oss2 does on upload) sees the mismatch."""
    payload = b'{"grant": "ops"}'
    cloud.faults.garble("oss", method="PUT", request=True)
    with pytest.raises(oe.InconsistentError):
        data.put_object("grants/ops.json", payload)
    stored = data.get_object("grants/ops.json").read()
    assert stored != payload and len(stored) == len(payload)  # the server stored what it received

    data.put_object("grants/ops.json", payload)
    cloud.faults.garble("oss", method="GET", nth=2)
    first, second, third = (data.get_object("grants/ops.json") for _ in range(3))
    assert first.read() == payload and third.read() == payload
    assert second.read() != payload and second.server_crc == crc64(payload) != second.client_crc


def test_default_and_explicit_content_type(data):
    data.put_object("blob", b"\x00\x01")
    assert data.head_object("blob").content_type == "application/octet-stream"
    data.put_object("page", b"<p/>", headers={"Content-Type": "text/html"})
    assert data.get_object("page").content_type == "text/html"


def test_get_object_ranges(data):
    data.put_object("r", b"0123456789")
    part = data.get_object("r", byte_range=(2, 5))
    assert (part.status, part.read(), part.content_range) == (206, b"2345", "bytes 2-5/10")
    assert part.server_crc == crc64(b"0123456789")  # the whole object's CRC, as OSS sends it
    tail = data.get_object("r", byte_range=(None, 3))
    assert (tail.status, tail.read()) == (206, b"789")
    rest = data.get_object("r", byte_range=(7, None))
    assert rest.read() == b"789"
    clamped = data.get_object("r", headers={"Range": "bytes=8-100"})
    assert (clamped.status, clamped.read()) == (206, b"89")
    beyond = data.get_object("r", headers={"Range": "bytes=20-30"})  # unsatisfiable: OSS returns it all
    assert (beyond.status, beyond.read()) == (200, b"0123456789")


def test_no_such_key(data):
    with oss_raises(oe.NoSuchKey, "NoSuchKey", 404) as info:
        data.get_object("missing/key.json")
    assert info.value.message == "The specified key does not exist."
    assert info.value.details["Key"] == "missing/key.json"
    assert info.value.details["EC"] == "0026-00000001"
    assert info.value.details["HostId"] == "rolepact-data.oss-cn-hangzhou.aliyuncs.com"
    with oss_raises(oe.NoSuchKey, "NoSuchKey", 404):
        data.head_object("missing/key.json")


def test_error_body_and_headers_on_the_wire(data, root_a):
    response = raw(root_a, "GET", BUCKET, "missing")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/xml"
    assert response.headers["Server"] == "AliyunOSS" and response.headers["Date"]
    assert response.headers["x-oss-ec"] == "0026-00000001"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    fields = error_fields(response)
    assert list(fields) == ["Code", "Message", "RequestId", "HostId", "Key", "EC"]
    assert fields["RequestId"] == response.headers["x-oss-request-id"]

    head = raw(root_a, "HEAD", BUCKET, "missing")
    assert head.status_code == 404 and head.content == b""
    decoded = ElementTree.fromstring(base64.b64decode(head.headers["x-oss-err"]))
    assert decoded.findtext("Code") == "NoSuchKey"


def test_delete_object_is_idempotent(data):
    data.put_object("gone", b"x")
    assert data.delete_object("gone").status == 204
    assert data.delete_object("gone").status == 204
    assert data.delete_object("never-there").status == 204
    assert not data.object_exists("gone")


def test_delete_multiple_objects_verbose_and_quiet(data, root_a):
    for key in ("a", "b c", "d+e", "keep"):
        data.put_object(key, b"x")
    result = data.batch_delete_objects(["a", "b c", "d+e", "never-there"])
    assert result.deleted_keys == ["a", "b c", "d+e", "never-there"]
    assert [o.key for o in oss2.ObjectIterator(data)] == ["keep"]

    body = b"<Delete><Quiet>true</Quiet><Object><Key>keep</Key></Object></Delete>"
    quiet = raw(root_a, "POST", BUCKET, params={"delete": ""}, data=body,
                headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
    assert quiet.status_code == 200
    assert ElementTree.fromstring(quiet.content).findall("Deleted") == []
    assert list(oss2.ObjectIterator(data)) == []


def test_delete_multiple_objects_needs_a_good_content_md5(data, root_a):
    body = b"<Delete><Quiet>false</Quiet><Object><Key>a</Key></Object></Delete>"
    missing = raw(root_a, "POST", BUCKET, params={"delete": ""}, data=body)
    assert missing.status_code == 400 and error_fields(missing)["Code"] == "InvalidRequest"
    wrong = raw(root_a, "POST", BUCKET, params={"delete": ""}, data=body,
                headers={"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()})
    assert wrong.status_code == 400 and error_fields(wrong)["Code"] == "InvalidDigest"
    bad_xml = b"<Delete><Object>"
    malformed = raw(root_a, "POST", BUCKET, params={"delete": ""}, data=bad_xml,
                    headers={"Content-MD5": base64.b64encode(hashlib.md5(bad_xml).digest()).decode()})
    assert malformed.status_code == 400 and error_fields(malformed)["Code"] == "MalformedXML"


def test_content_md5_is_checked(data):
    payload = b"checked"
    good = base64.b64encode(hashlib.md5(payload).digest()).decode()
    assert data.put_object("ok", payload, headers={"Content-MD5": good}).status == 200
    with oss_raises(oe.InvalidDigest, "InvalidDigest", 400):
        data.put_object("bad", payload, headers={"Content-MD5": base64.b64encode(b"0" * 16).decode()})
    assert not data.object_exists("bad")


def test_forbid_overwrite_on_put_and_copy(data):
    data.put_object("once", b"first", headers={"x-oss-forbid-overwrite": "true"})
    with oss_raises(oe.ServerError, "FileAlreadyExists", 409) as info:
        data.put_object("once", b"second", headers={"x-oss-forbid-overwrite": "true"})
    assert info.value.message == "The object you specified already exists and can not be overwritten."
    with oss_raises(oe.ServerError, "FileAlreadyExists", 409):
        data.copy_object(BUCKET, "once", "once", headers={"x-oss-forbid-overwrite": "true"})
    assert data.get_object("once").read() == b"first"
    data.put_object("once", b"third", headers={"x-oss-forbid-overwrite": "false"})
    assert data.get_object("once").read() == b"third"


def test_object_size_limit():
    with mock_cloud(limits=Limits(oss_object_bytes=10)) as cloud:
        b = bucket(cloud.add_account(ACCOUNT_A))
        b.create_bucket()
        b.put_object("small", b"0123456789")
        with oss_raises(oe.ServerError, "EntityTooLarge", 400):
            b.put_object("big", b"0123456789A")


def test_invalid_object_names(data):
    with oss_raises(oe.ServerError, "InvalidObjectName", 400):
        data.put_object("x" * 1024, b"v")
    with oss_raises(oe.ServerError, "InvalidObjectName", 400):
        data.put_object("/leading-slash", b"v")


def test_copy_object_within_and_across_buckets(data, root_a):
    data.put_object("src.json", b"{}", headers={"x-oss-meta-k": "v1"})
    copied = data.copy_object(BUCKET, "src.json", "dst.json")
    assert copied.status == 200 and copied.etag == hashlib.md5(b"{}").hexdigest().upper()
    head = data.head_object("dst.json")
    assert head.headers["x-oss-meta-k"] == "v1" and head.content_type == "application/json"

    data.copy_object(BUCKET, "src.json", "replaced", headers={"x-oss-metadata-directive": "REPLACE",
                                                              "x-oss-meta-k": "v2", "Content-Type": "text/plain"})
    head = data.head_object("replaced")
    assert head.headers["x-oss-meta-k"] == "v2" and head.content_type == "text/plain"
    data.update_object_meta("src.json", {"x-oss-meta-k": "v3"})
    assert data.head_object("src.json").headers["x-oss-meta-k"] == "v3"

    logs = bucket(root_a, "rolepact-logs")
    logs.create_bucket()
    logs.copy_object(BUCKET, "src.json", "from-data/src.json")
    assert logs.get_object("from-data/src.json").read() == b"{}"
    with oss_raises(oe.NoSuchKey, "NoSuchKey", 404):
        logs.copy_object(BUCKET, "nope", "x")
    with oss_raises(oe.NoSuchBucket, "NoSuchBucket", 404):
        logs.copy_object("no-such-bucket", "src.json", "x")


def test_conditional_get(data):
    data.put_object("c", b"v")
    etag = data.head_object("c").etag
    with pytest.raises(oe.NotModified):
        data.get_object("c", headers={"If-None-Match": f'"{etag}"'})
    with oss_raises(oe.PreconditionFailed, "PreconditionFailed", 412):
        data.get_object("c", headers={"If-Match": '"0000"'})
    assert data.get_object("c", headers={"If-Match": f'"{etag}"'}).read() == b"v"
    later = oss2.utils.http_date(int(datetime.now(timezone.utc).timestamp()) + 3600)
    earlier = oss2.utils.http_date(int(datetime.now(timezone.utc).timestamp()) - 3600)
    with pytest.raises(oe.NotModified):
        data.get_object("c", headers={"If-Modified-Since": later})
    assert data.get_object("c", headers={"If-Modified-Since": earlier}).read() == b"v"
    with oss_raises(oe.PreconditionFailed, "PreconditionFailed", 412):
        data.get_object("c", headers={"If-Unmodified-Since": earlier})


def test_response_header_overrides(data):
    data.put_object("o", b"v")
    got = data.get_object("o", params={"response-content-type": "text/csv",
                                       "response-content-disposition": "attachment"})
    assert got.headers["Content-Type"] == "text/csv" and got.headers["Content-Disposition"] == "attachment"


def test_unsupported_operations_fail_loudly(data, root_a):
    data.put_object("k", b"v")
    for attempt in (lambda: data.put_object_acl("k", oss2.OBJECT_ACL_PUBLIC_READ),
                    lambda: data.get_object("k", process="image/resize,w_10"),
                    lambda: service(root_a).describe_regions()):
        with pytest.raises(oe.ServerError) as info:
            attempt()
        assert (info.value.status, info.value.code) == (501, "NotImplemented")
    not_allowed = raw(root_a, "DELETE")
    assert not_allowed.status_code == 405 and error_fields(not_allowed)["Code"] == "MethodNotAllowed"


def test_bucket_storage_class(root_a):
    archive = bucket(root_a, "cold-data")
    archive.create_bucket(input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_IA))
    assert archive.get_bucket_info().storage_class == "IA"
    with oss_raises(oe.ServerError, "BucketAlreadyExists", 409):
        archive.create_bucket(input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_STANDARD))


# ============================================================================ listings
TRICKY = ["a b.txt", "c+d.txt", "e%20f.txt", "dir/one.txt", "dir/sub/two.txt", "dir/three.txt", "ünï/cödé.txt",
          "z"]


def test_list_objects_v2_keys_with_special_characters(data):
    for key in TRICKY:
        data.put_object(key, b"x")
    listed = data.list_objects_v2(max_keys=1000)
    assert [o.key for o in listed.object_list] == sorted(TRICKY)
    assert not listed.is_truncated
    first = listed.object_list[0]
    assert (first.etag, first.size, first.type, first.storage_class) == (
        hashlib.md5(b"x").hexdigest().upper(), 1, "Normal", "Standard")
    assert first.owner is None
    assert data.list_objects_v2(fetch_owner=True).object_list[0].owner.id == ACCOUNT_A


def test_list_objects_v2_encodes_keys_only_when_asked(data, root_a):
    data.put_object("a b+c%/ü", b"x")
    encoded = ElementTree.fromstring(raw(root_a, "GET", BUCKET, params={"list-type": "2",
                                                                        "encoding-type": "url"}).content)
    assert encoded.findtext("EncodingType") == "url"
    assert encoded.findtext("Contents/Key") == "a%20b%2Bc%25%2F%C3%BC"
    plain = ElementTree.fromstring(raw(root_a, "GET", BUCKET, params={"list-type": "2"}).content)
    assert plain.find("EncodingType") is None
    assert plain.findtext("Contents/Key") == "a b+c%/ü"
    assert plain.findtext("KeyCount") == "1"


def test_list_objects_v2_delimiter_and_common_prefixes(data):
    for key in TRICKY:
        data.put_object(key, b"x")
    top = data.list_objects_v2(delimiter="/")
    assert top.prefix_list == ["dir/", "ünï/"]
    assert [o.key for o in top.object_list] == ["a b.txt", "c+d.txt", "e%20f.txt", "z"]
    sub = data.list_objects_v2(prefix="dir/", delimiter="/")
    assert [o.key for o in sub.object_list] == ["dir/one.txt", "dir/three.txt"]
    assert sub.prefix_list == ["dir/sub/"]
    after = data.list_objects_v2(start_after="dir/three.txt")
    assert [o.key for o in after.object_list] == ["e%20f.txt", "z", "ünï/cödé.txt"]  # code point order


def test_list_objects_v2_continuation_across_pages(data):
    keys = [f"logs/{i:03d} file+{i}.json" for i in range(7)] + ["other/x"]
    for key in keys:
        data.put_object(key, b"x")
    seen, token, pages = [], "", 0
    while True:
        page = data.list_objects_v2(prefix="logs/", continuation_token=token, max_keys=3)
        pages += 1
        seen += [o.key for o in page.object_list]
        if not page.is_truncated:
            break
        token = page.next_continuation_token
    assert (seen, pages) == (keys[:7], 3)
    assert [o.key for o in oss2.ObjectIteratorV2(data, max_keys=2)] == sorted(keys)

    # a page boundary on a common prefix never repeats it
    prefixes, token = [], ""
    while True:
        page = data.list_objects_v2(delimiter="/", continuation_token=token, max_keys=1)
        prefixes += page.prefix_list
        if not page.is_truncated:
            break
        token = page.next_continuation_token
    assert prefixes == ["logs/", "other/"]


def test_list_objects_v2_max_keys_limit(data):
    with oss_raises(oe.InvalidArgument, "InvalidArgument", 400) as info:
        data.list_objects_v2(max_keys=1001)
    assert info.value.name == "max-keys"


def test_list_objects_v1_marker_paging_and_delimiter(data):
    for key in TRICKY:
        data.put_object(key, b"x")
    page = data.list_objects(max_keys=3)
    assert [o.key for o in page.object_list] == sorted(TRICKY)[:3]
    assert page.is_truncated and page.next_marker == sorted(TRICKY)[2]
    assert page.object_list[0].owner.id == ACCOUNT_A
    rest = data.list_objects(marker=page.next_marker, max_keys=100)
    assert [o.key for o in rest.object_list] == sorted(TRICKY)[3:]
    top = data.list_objects(delimiter="/")
    assert top.prefix_list == ["dir/", "ünï/"]
    assert [o.key for o in oss2.ObjectIterator(data, prefix="dir/", delimiter="/", max_keys=1)] == [
        "dir/one.txt", "dir/sub/", "dir/three.txt"]


# ============================================================================ authentication
def test_signature_v4_and_v2(root_a):
    v4 = bucket(root_a, version="v4")
    v4.create_bucket()
    v4.put_object("dir/a b+c.txt", b"v4 data", headers={"x-oss-meta-x": "1"})
    assert v4.get_object("dir/a b+c.txt").read() == b"v4 data"
    assert [o.key for o in v4.list_objects_v2(prefix="dir/").object_list] == ["dir/a b+c.txt"]
    assert v4.batch_delete_objects(["dir/a b+c.txt"]).deleted_keys == ["dir/a b+c.txt"]
    assert [b.name for b in service(root_a, version="v4").list_buckets().buckets] == [BUCKET]
    v2 = bucket(root_a, version="v2")
    v2.put_object("k", b"v2 data")
    assert v2.get_object("k").read() == b"v2 data"


def test_wrong_secret_v1_and_v4(data, root_a):
    data.put_object("k", b"v")
    for version in ("v1", "v4", "v2"):
        wrong = root_a.__class__(root_a.access_key_id, "not-the-secret", None, ACCOUNT_A)
        with oss_raises(oe.SignatureDoesNotMatch, "SignatureDoesNotMatch", 403) as info:
            bucket(wrong, version=version).get_object("k")
        details = info.value.details
        assert details["Message"].startswith("The request signature we calculated does not match")
        assert details["StringToSign"] and details["OSSAccessKeyId"] == root_a.access_key_id


def test_signature_mismatch_body_carries_the_server_string_to_sign(data, root_a):
    response = raw(root_a, "PUT", BUCKET, "k", data=b"v", headers={"x-oss-meta-a": "1"},
                   tamper=lambda h: h.update({"x-oss-meta-a": "2"}))
    fields = error_fields(response)
    assert response.status_code == 403 and fields["Code"] == "SignatureDoesNotMatch"
    assert fields["StringToSign"].startswith("PUT\n")
    assert "x-oss-meta-a:2\n/rolepact-data/k" in fields["StringToSign"]
    assert fields["StringToSignBytes"].startswith("50 55 54 0A")
    assert fields["EC"] == "0002-00000040"
    assert not data.object_exists("k")


def test_v4_scope_for_another_region_does_not_match(data, root_a):
    with oss_raises(oe.SignatureDoesNotMatch, "SignatureDoesNotMatch", 403):
        bucket(root_a, version="v4", region="cn-shanghai").get_bucket_info()


def test_unknown_key_anonymous_and_malformed_authorization(data, root_a):
    ghost = root_a.__class__("LTAI5tUnknownKey000000000", "secret", None, None)
    with oss_raises(oe.ServerError, "InvalidAccessKeyId", 403) as info:
        bucket(ghost).get_object("k")
    assert info.value.details["OSSAccessKeyId"] == "LTAI5tUnknownKey000000000"
    assert info.value.message == "The OSS Access Key Id you provided does not exist in our records."

    anonymous = raw(None, "GET", BUCKET, "k")
    assert anonymous.status_code == 403 and error_fields(anonymous)["Message"] == NO_RIGHT
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        oss2.Bucket(oss2.AnonymousAuth(), ENDPOINT, BUCKET).put_object("k", b"v")
    assert raw(None, "GET", "no-such-bucket", "k").status_code == 404
    anonymous_list = raw(None, "GET")
    assert error_fields(anonymous_list)["Message"] == "Anonymous access is forbidden for this operation."

    malformed = raw(None, "GET", BUCKET, "k", headers={"Authorization": "Bearer x"})
    assert malformed.status_code == 400 and error_fields(malformed)["Code"] == "InvalidArgument"


def test_request_time_too_skewed(data, root_a):
    data.put_object("k", b"v")
    for version in ("v1", "v4"):
        stale = raw(root_a, "GET", BUCKET, "k", version=version,
                    signed_at=datetime.now(timezone.utc) - timedelta(minutes=16))
        assert stale.status_code == 403 and error_fields(stale)["Code"] == "RequestTimeTooSkewed"
        recent = raw(root_a, "GET", BUCKET, "k", version=version,
                     signed_at=datetime.now(timezone.utc) - timedelta(minutes=14))
        assert recent.status_code == 200


def test_presigned_urls_v1_and_v4(data, root_a):
    data.put_object("shared/report.csv", b"a,b")
    url = data.sign_url("GET", "shared/report.csv", 60)
    assert "OSSAccessKeyId=" in url and requests.get(url).content == b"a,b"
    put_url = data.sign_url("PUT", "shared/upload.bin", 60)
    assert requests.put(put_url, data=b"up").status_code == 200
    assert data.get_object("shared/upload.bin").read() == b"up"
    assert requests.get(url.replace("report.csv", "other.csv")).status_code == 403  # signature covers the key

    v4_url = bucket(root_a, version="v4").sign_url("GET", "shared/report.csv", 60)
    assert "x-oss-signature=" in v4_url and requests.get(v4_url).content == b"a,b"

    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=5)):
        for expired in (requests.get(url), requests.get(v4_url)):
            assert expired.status_code == 403
            assert error_fields(expired)["Message"] == "Request has expired."


KEYS_WITH_SPECIAL_CHARACTERS = ["a b+c", "中文/文件 名.txt", "x?y#z", "~*'()!$&,;=:@", "a%2Fb", "emoji😀", "a//b", "dir/"]


@pytest.mark.parametrize("version", ["v1", "v2", "v4"])
def test_presigned_urls_of_every_version_for_awkward_keys(cloud, root_a, version):
    """sign_url with Auth, AuthV2 and AuthV4: unicode and reserved characters in the key, a
    sub-resource (response-content-type) in the signed query, PUT with a signed Content-Type, and
    expiry. An AuthV2 URL used to be taken for an anonymous request."""
    b = bucket(root_a, "presigned", version=version)
    b.create_bucket()
    for key in KEYS_WITH_SPECIAL_CHARACTERS:
        put = b.sign_url("PUT", key, 60, headers={"Content-Type": "text/plain"})
        assert requests.put(put, data=key.encode(), headers={"Content-Type": "text/plain"}).status_code == 200, key
        url = b.sign_url("GET", key, 60, params={"response-content-type": "application/json"})
        got = requests.get(url)
        assert (got.status_code, got.content, got.headers["Content-Type"]) == (200, key.encode(), "application/json")
        other = b.sign_url("GET", key, 60, params={"response-content-type": "text/html"})
        tampered = requests.get(other.replace("text%2Fhtml", "application%2Fjson"))
        assert tampered.status_code == 403 and error_fields(tampered)["Code"] == "SignatureDoesNotMatch", key
    assert b.get_object("a b+c").read() == b"a b+c"
    stale = b.sign_url("GET", "a b+c", 60)
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=5)):
        expired = requests.get(stale)
    assert (expired.status_code, error_fields(expired)["Message"]) == (403, "Request has expired.")
    assert cloud.calls.count("PutObject", ok=True) == len(KEYS_WITH_SPECIAL_CHARACTERS)


def test_presigned_v2_url_with_sts_credentials(cloud, root_a, root_b):
    bucket(root_a).create_bucket()
    bucket(root_a).put_object("k", b"for the role")
    creds, _ = role_session(root_a, root_b, actions=("oss:GetObject",), cloud=cloud)
    url = bucket(creds, version="v2").sign_url("GET", "k", 60)
    assert "security-token=" in url and "x-oss-signature-version=OSS2" in url
    assert requests.get(url).content == b"for the role"
    wrong_secret = bucket(creds.__class__(creds.access_key_id, "x" * 30, creds.security_token), version="v2")
    refused = requests.get(wrong_secret.sign_url("GET", "k", 60))
    assert (refused.status_code, error_fields(refused)["Code"]) == (403, "SignatureDoesNotMatch")


def test_sts_credentials(cloud, data, root_a, root_b):
    data.put_object("k", b"for the role")
    creds, body = role_session(root_a, root_b, actions=("oss:GetObject",), cloud=cloud)
    assert bucket(creds).get_object("k").read() == b"for the role"
    assert bucket(creds, version="v4").get_object("k").read() == b"for the role"
    assert requests.get(bucket(creds).sign_url("GET", "k", 60)).content == b"for the role"

    no_token = creds.__class__(creds.access_key_id, creds.access_key_secret, None, ACCOUNT_A)
    with oss_raises(oe.ServerError, "InvalidAccessKeyId", 403) as info:
        bucket(no_token).get_object("k")
    assert "The Security Token may be lost" in info.value.message
    wrong_token = creds.__class__(creds.access_key_id, creds.access_key_secret, creds.security_token + "x", None)
    with oss_raises(oe.ServerError, "InvalidSecurityToken", 403):
        bucket(wrong_token).get_object("k")
    token_with_root_key = root_a.__class__(root_a.access_key_id, root_a.access_key_secret, "CAISbogus", None)
    with oss_raises(oe.ServerError, "InvalidAccessKeyId", 403):
        bucket(token_with_root_key).get_object("k")

    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=2)):
        with oss_raises(oe.ServerError, "SecurityTokenExpired", 403) as info:
            bucket(creds).get_object("k")
    assert info.value.message == "The security token you provided has expired."
    assert info.value.details["EC"] == "0002-00000007"


def test_disabled_access_key(cloud, data, root_a):
    alice = make_user(cloud, root_a, "alice", "AliyunOSSFullAccess")
    assert bucket(alice).list_objects_v2().object_list == []
    ram_client(root_a).update_access_key(ram_models.UpdateAccessKeyRequest(
        user_name="alice", user_access_key_id=alice.access_key_id, status="Inactive"))
    with oss_raises(oe.ServerError, "InvalidAccessKeyId", 403) as info:
        bucket(alice).list_objects_v2()
    assert info.value.message == "The OSS Access Key Id you provided is disabled."


# ============================================================================ authorization
def test_ram_user_permissions(cloud, data, root_a):
    data.put_object("k", b"v")
    nobody = make_user(cloud, root_a, "nobody")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        bucket(nobody).get_object("k")
    assert info.value.message == NO_RIGHT
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(nobody).head_object("k")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        service(nobody).list_buckets()
    assert info.value.message == "You are forbidden to list buckets."

    reader = make_user(cloud, root_a, "reader", "AliyunOSSReadOnlyAccess")
    assert bucket(reader).get_object("k").read() == b"v"
    assert [o.key for o in bucket(reader).list_objects_v2().object_list] == ["k"]
    assert [b.name for b in service(reader).list_buckets().buckets] == [BUCKET]
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(reader).put_object("k", b"overwrite")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(reader).delete_object("k")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(reader).batch_delete_objects(["k"])
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        bucket(reader, "reader-bucket").create_bucket()
    assert data.get_object("k").read() == b"v"


def test_custom_policy_on_a_prefix_and_explicit_deny(cloud, data, root_a):
    ram = ram_client(root_a)
    document = ('{"Version":"1","Statement":['
                '{"Effect":"Allow","Action":["oss:PutObject","oss:GetObject"],'
                '"Resource":"acs:oss:*:%s:rolepact-data/inbox/*"},'
                '{"Effect":"Deny","Action":"oss:GetObject","Resource":"acs:oss:*:*:rolepact-data/inbox/secret*"}]}'
                % ACCOUNT_A)
    ram.create_policy(ram_models.CreatePolicyRequest(policy_name="inbox-only", policy_document=document))
    writer = make_user(cloud, root_a, "writer", custom=("inbox-only",))
    b = bucket(writer)
    b.put_object("inbox/a.json", b"1")
    assert b.get_object("inbox/a.json").read() == b"1"
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        b.put_object("outbox/a.json", b"1")
    assert info.value.message == NO_RIGHT
    b.put_object("inbox/secret.txt", b"s")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        b.get_object("inbox/secret.txt")
    assert info.value.message == "Access denied by bucket policy."
    assert info.value.details["EC"] == "0003-00000201"


def test_another_account_is_denied(cloud, data, root_a, root_b):
    data.put_object("k", b"v")
    outsider = bucket(root_b)
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        outsider.get_object("k")
    assert info.value.message == NO_RIGHT
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        outsider.put_object("k", b"overwrite")
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        outsider.list_objects_v2()
    assert info.value.message == "The bucket you visit is not belong to you."
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        outsider.delete_bucket()
    assert service(root_b).list_buckets().buckets == []
    b_bucket = bucket(root_b, "b-side")
    b_bucket.create_bucket()
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):  # copy needs GetObject on A's source
        b_bucket.copy_object(BUCKET, "k", "stolen")
    assert not b_bucket.object_exists("stolen")
    assert data.get_object("k").read() == b"v"


def test_user_of_b_in_a_role_of_a(cloud, data, root_a, root_b):
    data.put_object("reports/q1.csv", b"q1")
    creds, body = role_session(root_a, root_b, actions=("oss:GetObject", "oss:ListObjects"), cloud=cloud)
    session = bucket(creds)
    assert session.get_object("reports/q1.csv").read() == b"q1"
    assert [o.key for o in session.list_objects_v2().object_list] == ["reports/q1.csv"]
    with oss_raises(oe.AccessDenied, "AccessDenied", 403) as info:
        session.put_object("reports/q2.csv", b"q2")
    assert info.value.details["Message"] == NO_RIGHT
    assert not data.object_exists("reports/q2.csv")
    # the role's permissions are read at every call: detaching the policy takes effect at once
    ram_client(root_a).detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="Custom", policy_name="oss-from-b-policy", role_name="oss-from-b"))
    with oss_raises(oe.AccessDenied, "AccessDenied", 403):
        session.get_object("reports/q1.csv")


def test_access_denied_detail_on_the_wire(cloud, data, root_a):
    nobody = make_user(cloud, root_a, "nobody")
    fields = ElementTree.fromstring(raw(nobody, "GET", BUCKET, "k").content)
    detail = fields.find("AccessDeniedDetail")
    assert detail.findtext("AuthAction") == "oss:GetObject"
    assert detail.findtext("AuthPrincipalType") == "SubUser"
    assert detail.findtext("NoPermissionType") == "ImplicitDeny"
    assert fields.findtext("EC") == "0003-00000001"


# ============================================================================ ActionTrail, call log, faults
def test_actiontrail_records_oss_calls(cloud, data, root_a):
    data.put_object("k", b"v")
    bucket(root_a, endpoint=INTERNAL).get_object("k")
    data.list_objects_v2()
    events = cloud.trail.events(ACCOUNT_A)
    assert [e["eventName"] for e in events] == ["PutBucket", "PutObject", "GetObject", "ListObjectsV2"]
    create, put, get, listing = events
    assert create["resourceType"] == "ACS::OSS::Bucket" and create["resourceName"] == BUCKET
    assert (put["serviceName"], put["eventSource"], put["eventRW"], put["acsRegion"]) == (
        "Oss", "oss-cn-hangzhou.aliyuncs.com", "Write", "cn-hangzhou")
    assert (put["resourceType"], put["resourceName"]) == ("ACS::OSS::Object", "rolepact-data/k")
    assert put["userIdentity"]["type"] == "root-account" and "errorCode" not in put
    assert put["requestParameters"]["BucketName"] == BUCKET and put["requestParameters"]["ObjectName"] == "k"
    assert (get["eventSource"], get["eventRW"]) == ("oss-cn-hangzhou-internal.aliyuncs.com", "Read")
    assert listing["eventRW"] == "Read"
    assert cloud.calls.count("PutObject", service="oss") == 1
    assert cloud.calls.count(service="oss", write=True) == 2


def test_actiontrail_denials_and_role_sessions(cloud, data, root_a, root_b):
    data.put_object("k", b"v")
    with pytest.raises(oe.AccessDenied):
        bucket(root_b).get_object("k")
    denied = cloud.trail.events(ACCOUNT_B)[-1]  # a foreign caller's denial lands in its own account
    assert (denied["eventName"], denied["errorCode"], denied["errorMessage"]) == ("GetObject", "AccessDenied",
                                                                                  NO_RIGHT)
    creds, body = role_session(root_a, root_b, cloud=cloud)
    bucket(creds).get_object("k")
    event = cloud.trail.events(ACCOUNT_A)[-1]
    assert event["eventName"] == "GetObject"
    assert event["userIdentity"]["type"] == "assumed-role"
    assert event["userIdentity"]["principalId"] == body.assumed_role_user.assumed_role_id
    assert event["requestParameters"]["stsTokenPlayerUid"] == ACCOUNT_B


def test_only_bucket_writes_reach_trail_subscribers(cloud, root_a):
    seen = []
    cloud.trail.subscribe(lambda account, event: seen.append(event["eventName"]))
    b = bucket(root_a)
    b.create_bucket()
    b.put_object("k", b"v")
    b.delete_object("k")
    b.delete_bucket()
    assert seen == ["PutBucket", "DeleteBucket"]


def test_fault_injection(cloud, data):
    cloud.faults.fail("PutObject", service="oss", code="ServiceUnavailable")
    with pytest.raises(oe.ServerError) as info:
        data.put_object("k", b"v")
    assert (info.value.status, info.value.code) == (503, "ServiceUnavailable")
    assert not data.object_exists("k")
    cloud.faults.crash_after("PutObject", service="oss")
    with pytest.raises(FakeCrash):
        data.put_object("k", b"v")
    assert data.get_object("k").read() == b"v"  # applied before the "crash"


# ============================================================================ server mode
@pytest.fixture
def served():
    from fakecloud import FakeCloud

    cloud = FakeCloud()
    with FakeCloudServer(cloud) as server:
        yield cloud, server


def test_server_mode_with_oss2_on_an_ip_endpoint(served):
    cloud, server = served
    root = cloud.add_account(ACCOUNT_A)
    for version in ("v1", "v4"):
        b = bucket(root, f"served-{version}", endpoint=server.url, version=version)
        b.create_bucket()
        b.put_object("dir/a b+c.json", b"{}")
        assert b.get_object("dir/a b+c.json").read() == b"{}"
        assert b.head_object("dir/a b+c.json").content_length == 2
        assert [o.key for o in b.list_objects_v2(prefix="dir/").object_list] == ["dir/a b+c.json"]
        with oss_raises(oe.NoSuchKey, "NoSuchKey", 404):
            b.head_object("missing")
        assert requests.get(b.sign_url("GET", "dir/a b+c.json", 60)).content == b"{}"
    assert [x.name for x in service(root, endpoint=server.url).list_buckets().buckets] == ["served-v1",
                                                                                          "served-v4"]
    assert cloud.backend("oss").notifications[0].event["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
