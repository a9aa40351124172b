"""ActionTrail's trail APIs in the fake, through the official SDK: what `rolepact doctor` reads."""
from __future__ import annotations

import pytest
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from helpers import trail_client, trail_models

from iam_support import cloud, make_user, root_a  # noqa: F401 - shared fixtures


def create(client, name="rolepact-audit", **extra):
    request = trail_models.CreateTrailRequest(name=name, oss_bucket_name="audit-logs", **extra)
    return client.create_trail(request).body


def test_create_describe_start_stop_delete(root_a):
    client = trail_client(root_a)
    created = create(client, event_rw="All")
    assert (created.name, created.event_rw, created.trail_region, created.home_region) == (
        "rolepact-audit", "All", "All", "cn-hangzhou")
    [trail] = client.describe_trails(trail_models.DescribeTrailsRequest()).body.trail_list
    assert (trail.name, trail.status, trail.event_rw, trail.trail_region) == ("rolepact-audit", "Fresh", "All", "All")
    assert trail.trail_arn == "acs:actiontrail:cn-hangzhou:1234567890123456:trail/rolepact-audit"
    status = lambda: client.get_trail_status(trail_models.GetTrailStatusRequest(name="rolepact-audit")).body  # noqa
    assert status().is_logging is False
    client.start_logging(trail_models.StartLoggingRequest(name="rolepact-audit"))
    assert status().is_logging is True and status().start_logging_time
    assert client.describe_trails(trail_models.DescribeTrailsRequest()).body.trail_list[0].status == "Enable"
    client.stop_logging(trail_models.StopLoggingRequest(name="rolepact-audit"))
    assert status().is_logging is False
    client.delete_trail(trail_models.DeleteTrailRequest(name="rolepact-audit"))
    assert client.describe_trails(trail_models.DescribeTrailsRequest()).body.trail_list == []


def test_default_event_rw_is_write_and_names_filter(root_a):
    client = trail_client(root_a)
    create(client, "trail-one")
    create(client, "trail-two", trail_region="cn-hangzhou,cn-shanghai")
    listed = client.describe_trails(trail_models.DescribeTrailsRequest(name_list="trail-two")).body.trail_list
    assert [(t.name, t.event_rw, t.trail_region) for t in listed] == [("trail-two", "Write", "cn-hangzhou,cn-shanghai")]


@pytest.mark.parametrize("call, code, status", [
    (lambda c: create(c, "Bad Name"), "InvalidTrailNameException", 400),
    (lambda c: c.create_trail(trail_models.CreateTrailRequest(name="no-destination")), 
     "InsufficientDeliveryDestinationException", 400),
    (lambda c: c.get_trail_status(trail_models.GetTrailStatusRequest(name="missing-trail")),
     "TrailNotFoundException", 404),
])
def test_errors(root_a, call, code, status):
    with pytest.raises(AlibabaCloudException) as raised:
        call(trail_client(root_a))
    assert (raised.value.code, raised.value.status_code) == (code, status)


def test_a_ram_user_needs_actiontrail_permissions(cloud, root_a):
    reader = make_user(cloud, root_a, "reader", "AliyunRAMReadOnlyAccess")
    with pytest.raises(AlibabaCloudException) as raised:
        trail_client(reader).describe_trails(trail_models.DescribeTrailsRequest())
    assert raised.value.code == "NoPermission"
    create(trail_client(root_a), "second-trail")
    with pytest.raises(AlibabaCloudException):
        create(trail_client(root_a), "second-trail")  # TrailAlreadyExistsException
