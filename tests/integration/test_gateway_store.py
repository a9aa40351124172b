"""ObjectStore (oss2) against fakecloud's OSS."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from gateway_support import BUCKET, OWNER, cloud, make_user, owner, settings_for, trust  # noqa: F401

from shared.errors import CloudError
from shared.gateways import Gateways
from shared.gateways.oss import ObjectMeta, ObjectStore


def test_put_get_head_delete(cloud, owner):
    _, _, gateways = owner
    store = gateways.store
    assert store.get("agreements/a.yaml") is None
    assert store.get_with_meta("agreements/a.yaml") is None
    assert store.head("agreements/a.yaml") is None
    assert store.get_json("state/a.json") is None

    assert store.put("agreements/a.yaml", b"kind: Agreement\n", content_type="application/yaml") is True
    assert store.get("agreements/a.yaml") == b"kind: Agreement\n"
    data, etag, modified, size = store.get_with_meta("agreements/a.yaml")
    assert data == b"kind: Agreement\n" and size == len(data) and etag and not etag.startswith('"')
    assert isinstance(modified, datetime) and modified.tzinfo is not None
    meta = store.head("agreements/a.yaml")
    assert isinstance(meta, ObjectMeta)
    assert (meta.etag, meta.size, meta.content_type) == (etag, size, "application/yaml")

    store.delete("agreements/a.yaml")
    assert store.get("agreements/a.yaml") is None
    store.delete("agreements/a.yaml")  # idempotent
    assert cloud.calls.count("DeleteObject", service="oss") == 2


def test_keys_with_spaces_and_unicode_round_trip(owner):
    store = owner[2].store
    key = "reports/2026 06/报告+1.json"
    store.put_json(key, {"ok": True})
    assert store.get_json(key) == {"ok": True}
    assert list(store.iter_keys("reports/")) == [key]


def test_put_json_is_stable_utf8(cloud, owner):
    store = owner[2].store
    store.put_json("state/x.json", {"b": 1, "a": "ü"})
    raw = cloud.backend("oss").get_object_direct(OWNER, BUCKET, "state/x.json")
    assert raw == json.dumps({"a": "ü", "b": 1}, ensure_ascii=False, indent=1).encode("utf-8")
    assert store.head("state/x.json").content_type == "application/json"
    assert store.get_json("state/x.json") == {"a": "ü", "b": 1}


def test_forbid_overwrite_is_create_if_absent(cloud, owner):
    store = owner[2].store
    assert store.put_json("leases/tick", {"owner": "first"}, forbid_overwrite=True) is True
    assert store.put_json("leases/tick", {"owner": "second"}, forbid_overwrite=True) is False
    assert store.get_json("leases/tick") == {"owner": "first"}
    assert store.put_json("leases/tick", {"owner": "third"}) is True  # a plain put overwrites
    assert store.get_json("leases/tick") == {"owner": "third"}
    assert cloud.calls.count("PutObject", service="oss") == 3  # the refusal is not retried


def test_iter_keys_pages_through_2500_keys(cloud, owner):
    store = owner[2].store
    oss = cloud.backend("oss")
    for n in range(2500):
        oss.put_object_direct(OWNER, BUCKET, f"agreements/{n:05d}.yaml", b"x")
    oss.put_object_direct(OWNER, BUCKET, "other/0.yaml", b"x")

    keys = list(store.iter_keys("agreements/"))
    assert keys == [f"agreements/{n:05d}.yaml" for n in range(2500)]
    assert cloud.calls.count("ListObjectsV2", service="oss") == 3

    assert list(store.iter_keys("agreements/", start_after="agreements/02497.yaml")) == \
        ["agreements/02498.yaml", "agreements/02499.yaml"]
    page = store.list_page("agreements/", "agreements/00009.yaml", 5)
    assert page == [f"agreements/{n:05d}.yaml" for n in range(10, 15)]
    assert store.list_page("agreements/", None, 1200)[-1] == "agreements/01199.yaml"
    assert len(list(store.iter_keys("agreements/", max_keys=700))) == 2500


def test_missing_bucket_keeps_the_cloud_error(cloud, owner):
    _, settings, _ = owner
    store = ObjectStore(settings, bucket="no-such-bucket-here")
    with pytest.raises(CloudError) as raised:
        store.get("x")
    assert (raised.value.service, raised.value.code, raised.value.status) == ("oss", "NoSuchBucket", 404)
    assert raised.value.request_id


def test_throttled_put_is_retried(cloud, owner):
    _, settings, gateways = owner
    cloud.faults.fail("PutObject", service="oss", code="ServiceUnavailable")
    assert gateways.store.put("k", b"v") is True
    assert cloud.calls.count("PutObject", service="oss") == 2 and len(settings.sleep) == 1


def test_sts_credentials_use_sts_auth(cloud, owner):
    """Inside FC the gateway runs on the service role's STS token: oss2.StsAuth signs with it."""
    root, _, gateways = owner
    user = make_user(root, "deployer", "AliyunSTSAssumeRoleAccess")
    for name, policy in (("fn-writer", "AliyunOSSFullAccess"), ("fn-reader", "AliyunOSSReadOnlyAccess")):
        gateways.ram.create_role(name, trust(f"acs:ram::{OWNER}:root"), "d", 3600, {})
        gateways.ram.attach_policy_to_role(name, "System", policy)
    as_user = Gateways.connect(settings_for(user))

    writer = as_user.sts.assume_role(f"acs:ram::{OWNER}:role/fn-writer", "fn")
    writer_settings = settings_for(writer)
    store = Gateways.connect(writer_settings).store
    assert store.put("from-role", b"1") and store.get("from-role") == b"1"

    reader = as_user.sts.assume_role(f"acs:ram::{OWNER}:role/fn-reader", "fn")
    reader_settings = settings_for(reader)
    read_only = Gateways.connect(reader_settings).store
    assert read_only.get("from-role") == b"1"
    with pytest.raises(CloudError) as raised:
        read_only.put("from-role", b"2")
    assert (raised.value.code, raised.value.status) == ("AccessDenied", 403)
    assert reader_settings.sleep == []  # a denial is not retried


def test_a_read_garbled_in_transit_is_refused_not_returned(cloud, owner):
    """OSS sends each object's CRC-64; bytes that do not match it never reach the caller (oss2 alone
    computes a GetObject's CRC but leaves the comparison to the caller)."""
    store = owner[2].store
    store.put("state/a.json", b'{"phase": "active"}')
    cloud.faults.garble("oss", method="GET")
    with pytest.raises(CloudError) as caught:
        store.get("state/a.json")
    assert caught.value.code == "InconsistentError" and caught.value.action == "GetObject"
    assert "CRC-64" in caught.value.message
    assert store.get("state/a.json") == b'{"phase": "active"}'  # the next read is clean


def test_a_write_garbled_in_transit_is_an_error(cloud, owner):
    store = owner[2].store
    cloud.faults.garble("oss", method="PUT", request=True)
    with pytest.raises(CloudError) as caught:
        store.put("state/b.json", b'{"phase": "active"}')
    assert caught.value.code == "InconsistentError" and caught.value.action == "PutObject"
    assert store.put("state/b.json", b'{"phase": "active"}') is True
    assert store.get("state/b.json") == b'{"phase": "active"}'


def test_crc64_is_the_one_oss_and_oss2_compute():
    import oss2

    from shared.gateways.oss import crc64

    assert crc64(b"123456789") == 0x995DC9BBDF1939FA  # the CRC-64/XZ check value (ECMA-182, reflected)
    payload = "报告 ✓".encode() * 100
    reference = oss2.utils.Crc64()
    reference.update(payload)
    assert crc64(payload) == reference.crc
