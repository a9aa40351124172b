"""Fake ActionTrail LookupEvents through the official alibabacloud_actiontrail20200706 SDK."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from helpers import ecs_client, ecs_models, lookup_events, trail_client
from iam_support import (ACCOUNT_A, ACCOUNT_B, api_error, assume, make_user, ram_client, ram_models, sts_client,
                         sts_models, trust)
from iam_support import cloud, root_a  # noqa: F401 - shared fixtures

from fakecloud import mock_cloud
from fakecloud.clock import iso

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def trail(root_a):
    return trail_client(root_a)


def names(body) -> list[str]:
    return [e["eventName"] for e in body.events]


def stop_start(cloud, creds, times: int, region: str = "cn-hangzhou") -> str:
    """`times` pairs of StopInstance/StartInstance on a fresh instance: 2*times Write events."""
    iid = cloud.backend("ecs").seed_instance(creds.account_id, region)
    ecs = ecs_client(creds, region)
    for _ in range(times):
        ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
        ecs.start_instance(ecs_models.StartInstanceRequest(instance_id=iid))
    return iid


def role_for_b(cloud, root_a, *policies: str, name: str = "ops-from-b"):
    """Role in A trusted by account B, with the given system policies; returns its ARN."""
    ram = ram_client(root_a)
    ram.create_role(ram_models.CreateRoleRequest(role_name=name,
                                                 assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_B}:root")))
    for system in policies:
        ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
            policy_type="System", policy_name=system, role_name=name))
    return f"acs:ram::{ACCOUNT_A}:role/{name}"


# --------------------------------------------------------------------------- response and defaults

def test_response_shape_and_default_window(cloud, root_a, trail):
    with time_machine.travel(T0, tick=False):
        iid = stop_start(cloud, root_a, 1)
        body = lookup_events(trail)

    assert body.request_id and body.next_token is None  # one page only: no NextToken
    assert (body.start_time, body.end_time) == (iso(T0 - timedelta(days=7)), iso(T0))
    assert names(body) == ["StartInstance", "StopInstance"]  # newest first
    event = body.events[1]
    for field in ("eventId", "eventVersion", "eventName", "eventSource", "eventTime", "eventType", "eventRW",
                  "serviceName", "acsRegion", "isGlobal", "requestId", "apiVersion", "sourceIpAddress",
                  "userAgent", "requestParameters", "userIdentity", "resourceType", "resourceName"):
        assert field in event, field
    assert (event["resourceName"], event["eventTime"]) == (iid, iso(T0))


def test_lookup_events_is_itself_recorded_as_a_read_event(cloud, root_a, trail):
    lookup_events(trail)
    body = lookup_events(trail, ("EventName", "LookupEvents"))
    assert names(body) == ["LookupEvents"]  # the first call; the second is recorded after answering
    event = body.events[0]
    assert (event["serviceName"], event["eventSource"], event["eventRW"], event["apiVersion"]) == \
        ("Actiontrail", "actiontrail.cn-hangzhou.aliyuncs.com", "Read", "2020-07-06")


# --------------------------------------------------------------------------- LookupAttribute

def test_each_lookup_attribute_key(cloud, root_a, trail):
    alice = make_user(cloud, root_a, "alice", "AliyunECSFullAccess")
    cloud.set_caller_context(alice.access_key_id, source_ip="203.0.113.7")
    iid = stop_start(cloud, alice, 1)
    other = cloud.backend("ecs").seed_instance(ACCOUNT_A)
    ecs_client(root_a).stop_instance(ecs_models.StopInstanceRequest(instance_id=other))
    stop_event = next(e for e in cloud.trail.events(ACCOUNT_A) if e["eventName"] == "StopInstance")

    def found(*attributes):
        return [(e["eventName"], e.get("resourceName")) for e in lookup_events(trail, *attributes).events]

    assert found(("EventName", "StopInstance")) == [("StopInstance", other), ("StopInstance", iid)]
    assert found(("User", "alice")) == [("StartInstance", iid), ("StopInstance", iid)]
    assert found(("EventAccessKeyId", alice.access_key_id)) == [("StartInstance", iid), ("StopInstance", iid)]
    assert found(("SourceIpAddress", "203.0.113.7")) == [("StartInstance", iid), ("StopInstance", iid)]
    assert found(("ResourceName", iid)) == [("StartInstance", iid), ("StopInstance", iid)]
    assert found(("EventId", stop_event["eventId"])) == [("StopInstance", iid)]
    assert len(found(("ServiceName", "Ecs"))) == 3
    assert len(found(("ResourceType", "ACS::ECS::Instance"))) == 3
    assert len(found(("EventRW", "Write"), ("ServiceName", "Ecs"))) == 3
    assert found(("EventType", "ConsoleOperation")) == []
    assert len(found(("EventType", "ApiCall"))) >= 3
    assert found(("ServiceName", "ecs")) == []  # exact, case-sensitive
    assert found(("EventName", "stopinstance")) == []


def test_two_conditions_are_anded_extra_ones_ignored_and_a_repeated_key_takes_the_second(cloud, root_a, trail):
    alice = make_user(cloud, root_a, "alice", "AliyunECSFullAccess")
    stop_start(cloud, alice, 1)
    stop_start(cloud, root_a, 1)

    assert names(lookup_events(trail, ("EventName", "StopInstance"), ("User", "alice"))) == ["StopInstance"]
    # A third condition does not count.
    assert names(lookup_events(trail, ("EventName", "StopInstance"), ("User", "alice"),
                               ("ServiceName", "Nothing"))) == ["StopInstance"]
    # The same key twice: only the second value counts.
    assert names(lookup_events(trail, ("EventName", "StopInstance"), ("EventName", "StartInstance"))) == \
        ["StartInstance", "StartInstance"]
    with api_error("InvalidQueryParameter", 400):
        lookup_events(trail, ("Colour", "blue"))


# --------------------------------------------------------------------------- paging and direction

def test_paging_backward_and_forward(cloud, root_a, trail):
    iid = stop_start(cloud, root_a, 4)  # 8 events: Stop, Start, Stop, ...
    expected = [e["eventId"] for e in cloud.trail.events(ACCOUNT_A) if e.get("resourceName") == iid]
    ecs = ecs_client(root_a)

    def all_pages(direction):
        ids, token, pages = [], None, 0
        while True:
            body = lookup_events(trail, ("ResourceName", iid), MaxResults="3", Direction=direction, NextToken=token)
            pages += 1
            ids += [e["eventId"] for e in body.events]
            # New matching events arriving between pages do not leak into this listing.
            ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
            ecs.start_instance(ecs_models.StartInstanceRequest(instance_id=iid))
            token = body.next_token
            if token is None:
                return ids, pages

    assert all_pages("BACKWARD") == (expected[::-1], 3)
    expected = [e["eventId"] for e in cloud.trail.events(ACCOUNT_A) if e.get("resourceName") == iid]
    assert len(expected) == 14
    assert all_pages("FORWARD") == (expected, 5)


def test_forward_paging_is_a_snapshot_while_new_events_arrive(cloud, root_a, trail):
    iid = stop_start(cloud, root_a, 2)  # 4 events
    first = lookup_events(trail, ("ResourceName", iid), MaxResults="2", Direction="FORWARD")
    ecs_client(root_a).stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))  # a 5th event
    second = lookup_events(trail, ("ResourceName", iid), MaxResults="2", Direction="FORWARD",
                           NextToken=first.next_token)
    assert names(first) + names(second) == ["StopInstance", "StartInstance"] * 2
    assert second.next_token is None
    assert len(lookup_events(trail, ("ResourceName", iid)).events) == 5  # a fresh query sees it


def test_max_results_default_and_range(cloud, root_a, trail):
    stop_start(cloud, root_a, 13)  # 26 events
    assert len(lookup_events(trail, ("ServiceName", "Ecs")).events) == 20
    assert len(lookup_events(trail, ("ServiceName", "Ecs"), MaxResults="50").events) == 26
    assert len(lookup_events(trail, ("ServiceName", "Ecs"), MaxResults="1").events) == 1
    for bad in ("0", "51", "ten", "-1"):
        with api_error("InvalidQueryParameter", 400):
            lookup_events(trail, MaxResults=bad)


def test_bad_next_token_and_direction(cloud, root_a, trail):
    stop_start(cloud, root_a, 2)
    token = lookup_events(trail, ("ServiceName", "Ecs"), MaxResults="1").next_token
    assert token
    for garbage in ("garbage!", base64.b64encode(b"not json").decode(), base64.b64encode(b'{"c": 1}').decode()):
        with api_error("InvalidQueryParameter", 400):
            lookup_events(trail, NextToken=garbage)
    with api_error("InvalidQueryParameter", 400):  # a token of a BACKWARD listing used FORWARD
        lookup_events(trail, ("ServiceName", "Ecs"), MaxResults="1", Direction="FORWARD", NextToken=token)
    with api_error("InvalidQueryParameter", 400):
        lookup_events(trail, Direction="SIDEWAYS")


# --------------------------------------------------------------------------- time window and retention

def test_time_window(cloud, root_a, trail):
    with time_machine.travel(T0 - timedelta(days=10), tick=False) as traveller:
        stop_start(cloud, root_a, 1)  # T0-10d
        traveller.shift(timedelta(days=7))
        stop_start(cloud, root_a, 1)  # T0-3d
        traveller.shift(timedelta(days=3))
        stop_start(cloud, root_a, 1)  # T0

        ecs = ("ServiceName", "Ecs")
        assert [e["eventTime"] for e in lookup_events(trail, ecs).events] == \
            [iso(T0)] * 2 + [iso(T0 - timedelta(days=3))] * 2
        window = lookup_events(trail, ecs, StartTime=iso(T0 - timedelta(days=11)),
                               EndTime=iso(T0 - timedelta(days=2)))
        assert (window.start_time, window.end_time) == (iso(T0 - timedelta(days=11)), iso(T0 - timedelta(days=2)))
        assert [e["eventTime"] for e in window.events] == \
            [iso(T0 - timedelta(days=3))] * 2 + [iso(T0 - timedelta(days=10))] * 2
        # Both ends are inclusive.
        exact = lookup_events(trail, ecs, StartTime=iso(T0), EndTime=iso(T0))
        assert len(exact.events) == 2

        with api_error("InvalidParameterCombination", 400) as error:
            lookup_events(trail, StartTime=iso(T0), EndTime=iso(T0 - timedelta(days=1)))
        assert "The end time must be later than the start time." in error.value.message
        with api_error("InvalidParameterCombination", 400):
            lookup_events(trail, StartTime=iso(T0 - timedelta(days=1)))
        with api_error("InvalidParameterCombination", 400):
            lookup_events(trail, EndTime=iso(T0))
        with api_error("InvalidParameterStartTime", 400):
            lookup_events(trail, StartTime="yesterday", EndTime=iso(T0))
        with api_error("InvalidParameterEndTime", 400):
            lookup_events(trail, StartTime=iso(T0), EndTime="2026-13-45T99:00:00Z")


def test_events_older_than_90_days_are_gone(cloud, root_a, trail):
    with time_machine.travel(T0 - timedelta(days=100), tick=False) as traveller:
        stop_start(cloud, root_a, 1)
        traveller.shift(timedelta(days=15))  # T0-85d
        stop_start(cloud, root_a, 1)
        traveller.shift(timedelta(days=85))  # T0
        body = lookup_events(trail, ("ServiceName", "Ecs"), StartTime=iso(T0 - timedelta(days=120)), EndTime=iso(T0))
        assert [e["eventTime"] for e in body.events] == [iso(T0 - timedelta(days=85))] * 2
        traveller.shift(timedelta(days=6))  # now those are 91 days old too
        assert lookup_events(trail, ("ServiceName", "Ecs"), StartTime=iso(T0 - timedelta(days=120)),
                             EndTime=iso(T0)).events == []
        assert not [e for e in cloud.trail.events(ACCOUNT_A) if e["serviceName"] == "Ecs"]


# --------------------------------------------------------------------------- regions

def test_regional_and_global_events(cloud, root_a):
    stop_start(cloud, root_a, 1, "cn-beijing")
    stop_start(cloud, root_a, 1, "cn-hangzhou")
    make_user(cloud, root_a, "alice")  # RAM/IMS: global events

    hangzhou, beijing = trail_client(root_a, "cn-hangzhou"), trail_client(root_a, "cn-beijing")
    in_hz = lookup_events(hangzhou, ("EventRW", "Write"), MaxResults="50").events
    in_bj = lookup_events(beijing, ("EventRW", "Write"), MaxResults="50").events

    assert {(e["serviceName"], e["acsRegion"]) for e in in_bj} == {("Ecs", "cn-beijing")}
    assert {e["serviceName"] for e in in_hz} == {"Ecs", "Ims"}
    assert all(e["acsRegion"] == "cn-hangzhou" for e in in_hz)
    assert {e["eventName"] for e in in_hz if e["isGlobal"]} == {"CreateUser", "CreateAccessKey"}


def test_assume_role_is_recorded_in_the_region_of_the_sts_endpoint(cloud, root_a):
    root_b = cloud.add_account(ACCOUNT_B, "company-b")
    arn = role_for_b(cloud, root_a)
    operator = make_user(cloud, root_b, "operator", "AliyunSTSAssumeRoleAccess")
    sts_client(operator, "cn-shanghai").assume_role(
        sts_models.AssumeRoleRequest(role_arn=arn, role_session_name="from-shanghai"))

    in_sh = lookup_events(trail_client(root_b, "cn-shanghai"), ("EventName", "AssumeRole")).events
    assert len(in_sh) == 1 and in_sh[0]["acsRegion"] == "cn-shanghai" and in_sh[0]["isGlobal"] is False
    assert lookup_events(trail_client(root_b, "cn-hangzhou"), ("EventName", "AssumeRole")).events == []


# --------------------------------------------------------------------------- authorization and accounts

def test_lookup_needs_actiontrail_permission(cloud, root_a):
    stop_start(cloud, root_a, 1)
    with api_error("NoPermission", 403) as error:
        lookup_events(trail_client(make_user(cloud, root_a, "nobody")))
    assert error.value.access_denied_detail["AuthAction"] == "actiontrail:LookupEvents"
    for system in ("AliyunActionTrailFullAccess", "ReadOnlyAccess"):
        reader = trail_client(make_user(cloud, root_a, f"reader-{system.lower()}", system))
        assert names(lookup_events(reader, ("ServiceName", "Ecs"))) == ["StartInstance", "StopInstance"]


def test_accounts_see_only_their_own_events(cloud, root_a, trail):
    root_b = cloud.add_account(ACCOUNT_B, "company-b")
    stop_start(cloud, root_a, 1)
    assert lookup_events(trail_client(root_b), ("ServiceName", "Ecs")).events == []
    assert len(lookup_events(trail, ("ServiceName", "Ecs")).events) == 2


def test_calls_with_an_assumed_role_are_in_the_role_owners_trail(cloud, root_a, trail):
    root_b = cloud.add_account(ACCOUNT_B, "company-b")
    arn = role_for_b(cloud, root_a, "AliyunECSFullAccess")
    operator = make_user(cloud, root_b, "operator", "AliyunSTSAssumeRoleAccess")
    session, assumed = assume(operator, arn, "night-shift")
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A)
    ecs_client(session).stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))

    events = lookup_events(trail, ("EventName", "StopInstance")).events
    assert len(events) == 1
    event = events[0]
    identity = event["userIdentity"]
    assert identity["type"] == "assumed-role" and identity["accountId"] == ACCOUNT_A
    assert identity["userName"] == "ops-from-b:night-shift"
    assert identity["principalId"] == assumed.assumed_role_user.assumed_role_id
    assert identity["accessKeyId"] == session.access_key_id and identity["accessKeyId"].startswith("STS.")
    assert event["requestParameters"]["stsTokenPlayerUid"] == ACCOUNT_B
    assert event["requestParameters"]["stsTokenPrincipalName"] == "ops-from-b/night-shift"
    assert event["resourceName"] == iid
    # RoleName matches the session's role.
    assert names(lookup_events(trail, ("RoleName", "ops-from-b"))) == ["StopInstance"]

    # The AssumeRole call itself is in the caller's (B's) trail, not in A's by default.
    in_b = lookup_events(trail_client(root_b), ("EventName", "AssumeRole")).events
    assert [e["userIdentity"]["type"] for e in in_b] == ["ram-user"]
    assert in_b[0]["userIdentity"]["accountId"] == ACCOUNT_B and in_b[0]["resourceName"] == arn
    assert lookup_events(trail, ("EventName", "AssumeRole")).events == []


def test_record_assume_role_in_owner_account_option():
    with mock_cloud(record_assume_role_in_owner_account=True) as cloud:
        root_a = cloud.add_account(ACCOUNT_A, "company-a")
        root_b = cloud.add_account(ACCOUNT_B, "company-b")
        arn = role_for_b(cloud, root_a)
        assume(make_user(cloud, root_b, "operator", "AliyunSTSAssumeRoleAccess"), arn, "s1")

        in_a = lookup_events(trail_client(root_a), ("EventName", "AssumeRole")).events
        in_b = lookup_events(trail_client(root_b), ("EventName", "AssumeRole")).events
        assert len(in_a) == len(in_b) == 1
        assert in_a[0]["userIdentity"]["accountId"] == ACCOUNT_B and in_a[0]["recipientAccountId"] == ACCOUNT_A
        assert in_a[0]["userIdentity"]["userName"] == "operator"


def test_dingtalk_sends_are_in_the_owners_trail_without_identity(cloud, root_a, trail):
    import requests

    url = cloud.add_dingtalk_robot(account_id=ACCOUNT_A, name="ops-alerts")
    requests.post(url, json={"msgtype": "text", "text": {"content": "hello"}})
    events = lookup_events(trail, ("ServiceName", "DingTalk")).events
    assert [(e["eventName"], e["eventSource"], e["resourceName"]) for e in events] == \
        [("SendRobotMessage", "oapi.dingtalk.com", "ops-alerts")]
    assert "userIdentity" not in events[0]
    assert lookup_events(trail, ("User", "root"), ("ServiceName", "DingTalk")).events == []
    assert json.loads(json.dumps(events))  # plain JSON
