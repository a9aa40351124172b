"""Issue 14: ActionTrail's names -> RAM actions, the resources an event names -> ARNs, and the action catalogue.

The mapping table is tested row by row against the documented exceptions (docs/rightsize.md
cites each); the catalogue is compared with the official SDKs it was built from.
"""
from __future__ import annotations

import pytest

from shared.rightsize import catalog
from shared.rightsize.arns import event_resources
from shared.rightsize.mapping import EXCEPTIONS, ram_actions

A = "1234567890123456"


@pytest.mark.parametrize("service, event, expected", [
    # the rule: lower-cased service, event name as the action
    ("Ecs", "StopInstance", ("ecs:StopInstance",)),
    ("Ecs", "DescribeInstances", ("ecs:DescribeInstances",)),
    ("Sts", "AssumeRole", ("sts:AssumeRole",)),
    ("Ram", "AttachPolicyToRole", ("ram:AttachPolicyToRole",)),
    ("Actiontrail", "LookupEvents", ("actiontrail:LookupEvents",)),
    # IMS (users, groups, keys) is authorized as ram:
    ("Ims", "CreateUser", ("ram:CreateUser",)),
    ("Ims", "CreateAccessKey", ("ram:CreateAccessKey",)),
    # OSS: API names that are not the RAM action
    ("Oss", "GetService", ("oss:ListBuckets",)),
    ("Oss", "GetBucket", ("oss:ListObjects",)),
    ("Oss", "ListObjectsV2", ("oss:ListObjects",)),
    ("Oss", "AppendObject", ("oss:PutObject",)),
    ("Oss", "PostObject", ("oss:PutObject",)),
    ("Oss", "InitiateMultipartUpload", ("oss:PutObject",)),
    ("Oss", "InitateMultipartUpload", ("oss:PutObject",)),  # ActionTrail's own spelling
    ("Oss", "UploadPart", ("oss:PutObject",)),
    ("Oss", "CompleteMultipartUpload", ("oss:PutObject",)),
    ("Oss", "UploadPartCopy", ("oss:GetObject", "oss:PutObject")),
    ("Oss", "CopyObject", ("oss:GetObject", "oss:PutObject")),
    ("Oss", "HeadObject", ("oss:GetObject",)),
    ("Oss", "GetObjectMeta", ("oss:GetObject",)),
    ("Oss", "DeleteMultipleObjects", ("oss:DeleteObject",)),
    # OSS names that are the action
    ("Oss", "PutObject", ("oss:PutObject",)),
    ("Oss", "GetBucketInfo", ("oss:GetBucketInfo",)),
    ("Oss", "ListObjects", ("oss:ListObjects",)),
    # no action: nothing usable
    ("Ecs", "", ()),
    ("", "StopInstance", ()),
    (None, "StopInstance", ()),
    ("Ecs", "Stop Instance", ()),
    ("Ecs", "ecs:*", ()),
])
def test_actiontrail_names_map_to_ram_actions(service, event, expected):
    assert ram_actions(service, event) == expected


def test_every_exception_differs_from_the_rule():
    """A row that only restates the rule would hide a typo in the table."""
    for (service, event), actions in EXCEPTIONS.items():
        assert actions != (f"{service}:{event}",), (service, event)
        assert all(a.startswith(f"{service}:") for a in actions)


@pytest.mark.parametrize("event, expected", [
    ({"resourceType": "ACS::ECS::Instance", "resourceName": "i-bp1a", "acsRegion": "cn-hangzhou"},
     (f"acs:ecs:cn-hangzhou:{A}:instance/i-bp1a",)),
    # same type: commas; several types: semicolons, paired in order
    ({"resourceType": "ACS::ECS::Instance", "resourceName": "i-b,i-a", "acsRegion": "cn-hangzhou"},
     (f"acs:ecs:cn-hangzhou:{A}:instance/i-a", f"acs:ecs:cn-hangzhou:{A}:instance/i-b")),
    ({"resourceType": "ACS::ECS::Instance;ACS::ECS::Disk", "resourceName": "i-a;d-1,d-2", "acsRegion": "cn-beijing"},
     (f"acs:ecs:cn-beijing:{A}:disk/d-1", f"acs:ecs:cn-beijing:{A}:disk/d-2",
      f"acs:ecs:cn-beijing:{A}:instance/i-a")),
    ({"resourceType": "ACS::ECS::SecurityGroup", "resourceName": "sg-1", "acsRegion": "cn-hangzhou"},
     (f"acs:ecs:cn-hangzhou:{A}:securitygroup/sg-1",)),
    ({"resourceType": "ACS::OSS::Bucket", "resourceName": "data", "acsRegion": "cn-hangzhou"}, (f"acs:oss:*:{A}:data",)),
    ({"resourceType": "ACS::OSS::Object", "resourceName": "data/k.txt", "acsRegion": "cn-hangzhou"},
     (f"acs:oss:*:{A}:data/k.txt",)),
    # nothing rolepact can scope to
    ({"acsRegion": "cn-hangzhou"}, None),
    ({"resourceType": "ACS::RDS::DBInstance", "resourceName": "rm-1", "acsRegion": "cn-hangzhou"}, None),
    ({"resourceType": "ACS::ECS::Instance", "resourceName": "i-a;i-b", "acsRegion": "cn-hangzhou"}, None),
    ({"resourceType": "ACS::ECS::Instance", "resourceName": "i-a", "acsRegion": "*"}, None),
    ({"resourceType": "ACS::ECS::Instance", "resourceName": "i-*", "acsRegion": "cn-hangzhou"}, None),
    ({"resourceType": "ACS::ECS::Instance", "resourceName": "i a", "acsRegion": "cn-hangzhou"}, None),
    ({"resourceType": "ACS::ECS::Instance", "resourceName": "", "acsRegion": "cn-hangzhou"}, None),
])
def test_event_resources_become_arns(event, expected):
    assert event_resources(event, A) == expected


def test_object_actions_on_a_named_bucket_reach_its_objects():
    event = {"resourceType": "ACS::OSS::Bucket", "resourceName": "data", "acsRegion": "cn-hangzhou"}
    assert event_resources(event, A, "oss:PutObject") == (f"acs:oss:*:{A}:data/*",)
    assert event_resources(event, A, "oss:ListObjects") == (f"acs:oss:*:{A}:data",)
    assert event_resources(event, A, "oss:GetBucketInfo") == (f"acs:oss:*:{A}:data",)


def test_the_catalogue_is_the_official_sdks_operations():
    """Regenerate with `python -m shared.rightsize.catalog` when an SDK adds operations."""
    shipped = {service: [a.split(":", 1)[1] for a in actions] for service, actions in catalog.known_actions().items()}
    assert shipped == catalog.from_sdks()
    assert "ecs:StopInstance" in catalog.known_actions()["ecs"]


@pytest.mark.parametrize("pattern, count, uncounted", [
    ("ecs:StopInstance", 1, False),
    ("vpc:DescribeVpcs", 1, False),  # an exact name counts, catalogue or not
    ("ecs:Stop*", None, False),
    ("ECS:stopinstance", 1, False),
    ("oss:*", 0, True),
    ("*:StopInstance", None, True),
])
def test_wildcards_expand_against_the_catalogue(pattern, count, uncounted):
    found, open_ended = catalog.expand(pattern)
    assert open_ended is uncounted
    if count is not None:
        assert len(found) == count
    if pattern == "ecs:Stop*":
        assert {"ecs:StopInstance", "ecs:StopInstances"} <= found and all(a.startswith("ecs:Stop") for a in found)
