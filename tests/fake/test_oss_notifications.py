"""OSS event notifications: the exact FC OSS-trigger payloads the fake hands to subscribers."""
from __future__ import annotations

import hashlib
import json
import re
import threading

import oss2
import pytest
from oss_support import ACCOUNT_A, ACCOUNT_B, BUCKET, bucket, make_user, ram_client, ram_models, role_session

from iam_support import cloud, root_a  # noqa: F401 - shared fixtures

EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def data(root_a):
    b = bucket(root_a)
    b.create_bucket()
    return b


@pytest.fixture
def received(cloud):
    """Every (bucket, payload) delivered to a subscriber during the test."""
    got: list[tuple[str, bytes]] = []
    unsubscribe = cloud.backend("oss").subscribe(lambda name, payload: got.append((name, payload)))
    yield got
    unsubscribe()


def only_event(payload: bytes) -> dict:
    body = json.loads(payload)
    assert list(body) == ["events"] and len(body["events"]) == 1
    return body["events"][0]


def test_put_object_payload_is_exactly_the_fc_trigger_shape(cloud, data, received):
    result = data.put_object("incoming/a b+c.json", b'{"n": 1}')
    assert len(received) == 1
    name, payload = received[0]
    assert name == BUCKET and isinstance(payload, bytes)
    event = only_event(payload)
    rule_id = cloud.backend("oss").buckets[BUCKET].rule_id
    assert EVENT_TIME.match(event.pop("eventTime"))
    assert event == {
        "eventName": "ObjectCreated:PutObject",
        "eventSource": "acs:oss",
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"arn": f"acs:oss:cn-hangzhou:{ACCOUNT_A}:{BUCKET}", "name": BUCKET,
                       "ownerIdentity": ACCOUNT_A},
            "object": {"deltaSize": 8, "eTag": hashlib.md5(b'{"n": 1}').hexdigest().upper(),
                       "key": "incoming/a b+c.json", "size": 8},
            "ossSchemaVersion": "1.0",
            "ruleId": rule_id,
        },
        "region": "cn-hangzhou",
        "requestParameters": {"sourceIPAddress": cloud.default_source_ip},
        "responseElements": {"requestId": result.request_id},
        "userIdentity": {"principalId": ACCOUNT_A},
    }
    assert cloud.backend("oss").notifications == [(BUCKET, payload)]
    assert cloud.backend("oss").notifications[0].event["eventName"] == "ObjectCreated:PutObject"


def test_overwrite_delta_size_and_copy(data, received):
    data.put_object("k", b"12345")
    data.put_object("k", b"12")
    data.copy_object(BUCKET, "k", "copy-of-k")
    events = [only_event(p) for _, p in received]
    assert [(e["eventName"], e["oss"]["object"]["size"], e["oss"]["object"]["deltaSize"]) for e in events] == [
        ("ObjectCreated:PutObject", 5, 5), ("ObjectCreated:PutObject", 2, -3), ("ObjectCreated:CopyObject", 2, 2)]
    assert events[2]["oss"]["object"]["key"] == "copy-of-k"
    assert events[2]["oss"]["object"]["eTag"] == hashlib.md5(b"12").hexdigest().upper()


def test_removals(data, received):
    data.put_object("one", b"111")
    for key in ("two", "three"):
        data.put_object(key, b"22")
    received.clear()
    data.delete_object("one")
    data.delete_object("one")  # nothing left to remove: no event
    data.batch_delete_objects(["two", "three", "never-there"])
    events = [only_event(p) for _, p in received]
    assert [(e["eventName"], e["oss"]["object"]["key"], e["oss"]["object"]["size"],
             e["oss"]["object"]["deltaSize"]) for e in events] == [
        ("ObjectRemoved:DeleteObject", "one", 0, -3),
        ("ObjectRemoved:DeleteObjects", "two", 0, -2),
        ("ObjectRemoved:DeleteObjects", "three", 0, -2),
    ]
    batch_ids = {e["responseElements"]["requestId"] for e in events[1:]}
    assert len(batch_ids) == 1  # one payload per object, all from the same request


def test_principal_ids_of_each_kind_of_uploader(cloud, data, root_a, received):
    root_b = cloud.add_account(ACCOUNT_B)
    alice = make_user(cloud, root_a, "alice", "AliyunOSSFullAccess")
    alice_id = ram_client(root_a).get_user(ram_models.GetUserRequest(user_name="alice")).body.user.user_id
    creds, body = role_session(root_a, root_b, actions=("oss:PutObject",), session="uploader", cloud=cloud)

    data.put_object("by-root", b"r")
    bucket(alice).put_object("by-alice", b"a")
    bucket(creds).put_object("by-role", b"s")
    principals = [only_event(p)["userIdentity"]["principalId"] for _, p in received]
    role_id = body.assumed_role_user.assumed_role_id.split(":")[0]
    assert principals == [ACCOUNT_A, alice_id, f"{role_id}:uploader"]
    assert alice_id.startswith("2") and len(alice_id) == 18


def test_source_ip_comes_from_the_caller_context(cloud, data, root_a, received):
    cloud.set_caller_context(root_a.access_key_id, source_ip="203.0.113.7")
    data.put_object("k", b"v")
    assert only_event(received[0][1])["requestParameters"]["sourceIPAddress"] == "203.0.113.7"


def test_failed_and_denied_calls_notify_nothing(cloud, data, root_a, received):
    data.put_object("k", b"v", headers={"x-oss-forbid-overwrite": "true"})
    received.clear()
    with pytest.raises(oss2.exceptions.ServerError):
        data.put_object("k", b"w", headers={"x-oss-forbid-overwrite": "true"})
    nobody = make_user(cloud, root_a, "nobody")
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket(nobody).put_object("x", b"v")
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket(nobody).delete_object("k")
    data.get_object("k").read()
    data.list_objects_v2()
    assert received == []


def test_a_change_applied_before_a_fault_still_notifies(cloud, data, received):
    cloud.faults.fail("PutObject", service="oss", code="InternalError", after=True)
    with pytest.raises(oss2.exceptions.ServerError):
        data.put_object("k", b"v")
    assert data.get_object("k").read() == b"v"
    assert [only_event(p)["eventName"] for _, p in received] == ["ObjectCreated:PutObject"]


def test_delivery_is_synchronous_outside_the_lock_and_isolated(cloud, data):
    backend = cloud.backend("oss")
    lock_free, order = [], []

    def probe(name, payload):
        grabbed = []
        worker = threading.Thread(target=lambda: grabbed.append(cloud.lock.acquire(timeout=2) and
                                                                (cloud.lock.release() or True)))
        worker.start()
        worker.join()
        lock_free.append(grabbed == [True])
        order.append("probe")

    def broken(name, payload):
        order.append("broken")
        raise RuntimeError("subscriber bug")

    def after(name, payload):
        order.append("after")

    unsubscribers = [backend.subscribe(fn) for fn in (probe, broken, after)]
    result = data.put_object("k", b"v")  # the subscriber's bug does not fail the upload
    assert result.status == 200
    assert order == ["probe", "broken", "after"]  # all ran before put_object returned
    assert lock_free == [True]
    assert len(backend.delivery_errors) == 1
    failed = backend.delivery_errors[0]
    assert failed.bucket == BUCKET and isinstance(failed.error, RuntimeError)
    assert json.loads(failed.payload)["events"][0]["oss"]["object"]["key"] == "k"

    for unsubscribe in unsubscribers:
        unsubscribe()
    data.put_object("k2", b"v")
    assert order == ["probe", "broken", "after"]
    assert len(backend.notifications) == 2  # still kept for inspection


def test_a_subscriber_may_call_oss_itself(cloud, data, root_a):
    """An FC function triggered by an upload writes its output elsewhere, within the same request."""
    backend = cloud.backend("oss")
    out = bucket(root_a, "rolepact-out")
    out.create_bucket()

    def function(name, payload):
        event = only_event(payload)
        if name == BUCKET:
            out.put_object("processed/" + event["oss"]["object"]["key"], payload)

    backend.subscribe(function)
    data.put_object("in.json", b"{}")
    assert json.loads(out.get_object("processed/in.json").read())["events"][0]["oss"]["object"]["key"] == "in.json"
    assert [n.bucket for n in backend.notifications] == [BUCKET, "rolepact-out"]


def test_direct_helpers_for_test_setup(cloud, root_a, received):
    backend = cloud.backend("oss")
    backend.put_object_direct(ACCOUNT_A, "seeded", "config/app.json", b'{"a": 1}', metadata={"Owner": "ops"})
    assert received == [] and backend.notifications == []  # setup is silent
    assert cloud.trail.events(ACCOUNT_A) == []
    seeded = bucket(root_a, "seeded")
    got = seeded.get_object("config/app.json")
    assert got.read() == b'{"a": 1}' and got.headers["x-oss-meta-owner"] == "ops"
    seeded.put_object("config/other.json", b"2")
    assert backend.get_object_direct(ACCOUNT_A, "seeded", "config/other.json") == b"2"
    assert backend.get_object_direct(ACCOUNT_A, "seeded", "missing") is None
    assert backend.get_object_direct(ACCOUNT_A, "no-bucket", "k") is None
    assert backend.keys_direct(ACCOUNT_A, "seeded") == ["config/app.json", "config/other.json"]
    with pytest.raises(ValueError):
        backend.put_object_direct(ACCOUNT_B, "seeded", "k", b"v")  # someone else's bucket
