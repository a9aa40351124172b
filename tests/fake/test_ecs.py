"""Fake ECS through the official alibabacloud_ecs20140526 SDK: listing, lifecycle, errors, RAM."""
from __future__ import annotations

import json

import pytest
from helpers import ecs_client, ecs_models
from iam_support import (ACCOUNT_A, ACCOUNT_B, allow, api_error, assume, make_user, policy, ram_client, ram_models,
                         trust)
from iam_support import cloud, root_a  # noqa: F401 - shared fixtures



@pytest.fixture
def ecs(root_a):
    return ecs_client(root_a)


def describe(client, region="cn-hangzhou", **params):
    return client.describe_instances(ecs_models.DescribeInstancesRequest(region_id=region, **params)).body


def ids_of(body) -> list[str]:
    return [i.instance_id for i in body.instances.instance]


def status_of(cloud, account, instance_id) -> str:
    return cloud.backend("ecs").get(account, instance_id).status


# --------------------------------------------------------------------------- DescribeInstances

def test_describe_lists_the_regions_instances_with_sdk_fields(cloud, root_a, ecs):
    backend = cloud.backend("ecs")
    web = backend.seed_instance(ACCOUNT_A, name="web-1", tags={"env": "prod"})
    db = backend.seed_instance(ACCOUNT_A, name="db-1", status="Stopped", instance_type="ecs.r7.xlarge")
    backend.seed_instance(ACCOUNT_A, "cn-beijing", name="bj-1")

    body = describe(ecs)

    assert body.total_count == 2 and body.page_number == 1 and body.page_size == 10 and body.request_id
    assert ids_of(body) == [web, db]
    first, second = body.instances.instance
    assert (first.instance_name, first.status, first.region_id, first.zone_id) == ("web-1", "Running", "cn-hangzhou",
                                                                                   "cn-hangzhou-h")
    assert first.instance_type == "ecs.g7.large" and (first.cpu, first.memory) == (2, 8192)
    assert [(t.tag_key, t.tag_value) for t in first.tags.tag] == [("env", "prod")]
    assert first.vpc_attributes.vpc_id.startswith("vpc-") and first.vpc_attributes.private_ip_address.ip_address
    assert first.security_group_ids.security_group_id[0].startswith("sg-")
    assert first.creation_time.endswith("Z") and first.host_name
    assert (second.status, second.stopped_mode, second.cpu, second.memory) == ("Stopped", "KeepCharging", 4, 32768)
    assert [len(i) for i in (web, db)] == [22, 22] and web.startswith("i-bp1") and web == web.lower()

    beijing = describe(ecs_client(root_a, "cn-beijing"), "cn-beijing")
    assert [i.instance_name for i in beijing.instances.instance] == ["bj-1"]


def test_describe_filters(cloud, ecs):
    backend = cloud.backend("ecs")
    a = backend.seed_instance(ACCOUNT_A, name="web-1", tags={"env": "prod", "team": "x"})
    b = backend.seed_instance(ACCOUNT_A, name="web-2", status="Stopped", tags={"env": "dev"})
    c = backend.seed_instance(ACCOUNT_A, name="db-1")

    assert ids_of(describe(ecs, instance_ids=json.dumps([c, a, "i-bp1doesnotexist0000"]))) == [a, c]
    assert ids_of(describe(ecs, instance_name="web-2")) == [b]
    assert ids_of(describe(ecs, instance_name="web-*")) == [a, b]
    assert ids_of(describe(ecs, status="Running")) == [a, c]
    assert ids_of(describe(ecs, status="Running", instance_name="web*")) == [a]
    tag = ecs_models.DescribeInstancesRequestTag
    assert ids_of(describe(ecs, tag=[tag(key="env", value="prod")])) == [a]
    assert ids_of(describe(ecs, tag=[tag(key="env")])) == [a, b]
    assert describe(ecs, instance_ids=json.dumps([])).total_count == 0


def test_describe_pages_by_number(cloud, ecs):
    made = [cloud.backend("ecs").seed_instance(ACCOUNT_A, name=f"n{i:02d}") for i in range(25)]

    pages = [describe(ecs, page_number=n, page_size=10) for n in (1, 2, 3, 4)]

    assert [len(p.instances.instance) for p in pages] == [10, 10, 5, 0]
    assert all(p.total_count == 25 for p in pages)
    assert sum((ids_of(p) for p in pages), []) == made
    assert len(describe(ecs).instances.instance) == 10  # default PageSize
    assert len(describe(ecs, page_size=100).instances.instance) == 25
    with api_error("InvalidParameter.PageSize", 400):
        describe(ecs, page_size=101)
    with api_error("InvalidParameter.PageSize", 400):
        describe(ecs, page_size=0)
    with api_error("InvalidParameter.PageNumber", 400):
        describe(ecs, page_number=0)


def test_describe_pages_by_next_token(cloud, ecs):
    made = [cloud.backend("ecs").seed_instance(ACCOUNT_A, name=f"n{i:02d}") for i in range(23)]

    seen, token, calls = [], None, 0
    while True:
        body = describe(ecs, max_results=10, next_token=token)
        calls += 1
        seen += ids_of(body)
        token = body.next_token
        if not token:
            break
    assert seen == made and calls == 3 and body.total_count == 23

    assert len(describe(ecs, max_results=3).instances.instance) == 10  # clamped up to 10
    assert len(describe(ecs, max_results=500).instances.instance) == 23  # clamped down to 100
    with api_error("InvalidParameter.NextToken", 400):
        describe(ecs, next_token="not-a-token")


def test_describe_parameter_errors(ecs):
    with api_error("MissingParameter", 400) as error:
        ecs.describe_instances(ecs_models.DescribeInstancesRequest())
    assert '"RegionId"' in error.value.message
    with api_error("InvalidRegionId.NotFound", 404):
        describe(ecs, "cn-atlantis")
    with api_error("InvalidInstanceIds.Malformed", 400):
        describe(ecs, instance_ids="i-abc,i-def")
    with api_error("InvalidInstanceIds.Malformed", 400):
        describe(ecs, instance_ids=json.dumps([f"i-{n}" for n in range(101)]))
    with api_error("InvalidStatus.ValueNotSupported", 400):
        describe(ecs, status="Sleeping")
    with api_error("DryRunOperation", 400):
        describe(ecs, dry_run=True)


def test_accounts_do_not_see_each_others_instances(cloud, root_a, ecs):
    root_b = cloud.add_account(ACCOUNT_B, "company-b")
    mine = cloud.backend("ecs").seed_instance(ACCOUNT_A)

    assert describe(ecs_client(root_b)).total_count == 0
    with api_error("InvalidInstanceId.NotFound", 404):
        ecs_client(root_b).stop_instance(ecs_models.StopInstanceRequest(instance_id=mine))
    assert status_of(cloud, ACCOUNT_A, mine) == "Running"


# --------------------------------------------------------------------------- lifecycle

def test_stop_start_reboot_follow_the_state_rules(cloud, ecs):
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A)

    ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid, force_stop=True, stopped_mode="StopCharging"))
    body = describe(ecs, instance_ids=json.dumps([iid])).instances.instance[0]
    assert (body.status, body.stopped_mode) == ("Stopped", "StopCharging")

    with api_error("IncorrectInstanceStatus", 403) as error:
        ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
    assert "The current status of the resource does not support this operation." in error.value.message
    with api_error("IncorrectInstanceStatus", 403):
        ecs.reboot_instance(ecs_models.RebootInstanceRequest(instance_id=iid))

    ecs.start_instance(ecs_models.StartInstanceRequest(instance_id=iid))
    assert status_of(cloud, ACCOUNT_A, iid) == "Running"
    with api_error("IncorrectInstanceStatus", 403):
        ecs.start_instance(ecs_models.StartInstanceRequest(instance_id=iid))

    response = ecs.reboot_instance(ecs_models.RebootInstanceRequest(instance_id=iid, force_stop=False))
    assert response.status_code == 200 and response.body.request_id
    assert status_of(cloud, ACCOUNT_A, iid) == "Running"

    ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
    assert cloud.backend("ecs").get(ACCOUNT_A, iid).stopped_mode == "KeepCharging"


@pytest.mark.parametrize("status", ["Pending", "Starting", "Stopping"])
def test_transitional_states_refuse_every_operation(cloud, ecs, status):
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A, status=status)
    for operation, request in ((ecs.start_instance, ecs_models.StartInstanceRequest(instance_id=iid)),
                               (ecs.stop_instance, ecs_models.StopInstanceRequest(instance_id=iid)),
                               (ecs.reboot_instance, ecs_models.RebootInstanceRequest(instance_id=iid))):
        with api_error("IncorrectInstanceStatus", 403):
            operation(request)
    assert status_of(cloud, ACCOUNT_A, iid) == status


def test_lifecycle_errors(cloud, ecs):
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A)
    with api_error("InvalidInstanceId.NotFound", 404) as error:
        ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id="i-bp1aaaaaaaaaaaaaaaaa"))
    assert "The specified InstanceId does not exist." in error.value.message
    with api_error("InvalidInstanceId.NotFound", 404):
        ecs.start_instance(ecs_models.StartInstanceRequest(instance_id="i-bp1aaaaaaaaaaaaaaaaa"))
    with api_error("InvalidInstanceId.NotFound", 404):
        ecs.reboot_instance(ecs_models.RebootInstanceRequest(instance_id="i-bp1aaaaaaaaaaaaaaaaa"))
    with api_error("MissingParameter", 400):
        ecs.stop_instance(ecs_models.StopInstanceRequest())
    with api_error("InvalidParameter.StoppedMode", 400):
        ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid, stopped_mode="Hibernate"))
    with api_error("DryRunOperation", 400):
        ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid, dry_run=True))
    assert status_of(cloud, ACCOUNT_A, iid) == "Running"


def test_an_instance_of_another_region_is_found_by_id(cloud, root_a, ecs):
    """Stop/Start carry no RegionId: the instance is found by id, and the event says its region."""
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A, "cn-beijing")
    ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
    event = cloud.trail.events(ACCOUNT_A)[-1]
    assert (event["eventName"], event["acsRegion"]) == ("StopInstance", "cn-beijing")


def test_injected_fault_leaves_the_instance_alone(cloud, ecs):
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A)
    cloud.faults.fail("StopInstance", service="ecs", code="ServiceUnavailable")
    from alibabacloud_tea_openapi.exceptions import ServerException

    with pytest.raises(ServerException):
        ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
    assert status_of(cloud, ACCOUNT_A, iid) == "Running"
    ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
    assert status_of(cloud, ACCOUNT_A, iid) == "Stopped"
    assert cloud.calls.count("StopInstance", service="ecs") == 2
    assert cloud.calls.count("StopInstance", service="ecs", ok=True) == 1


# --------------------------------------------------------------------------- authorization

def test_ram_user_without_ecs_policy_is_forbidden(cloud, root_a):
    cloud.backend("ecs").seed_instance(ACCOUNT_A)
    nobody = make_user(cloud, root_a, "nobody")
    with api_error("Forbidden.RAM", 403) as error:
        describe(ecs_client(nobody))
    assert error.value.message.startswith(
        "code: 403, User not authorized to operate on the specified resource, or this API doesn't support RAM.")
    assert error.value.access_denied_detail["AuthAction"] == "ecs:DescribeInstances"
    event = cloud.trail.events(ACCOUNT_A)[-1]
    assert (event["eventName"], event["errorCode"], event["userIdentity"]["userName"]) == \
        ("DescribeInstances", "Forbidden.RAM", "nobody")


def test_read_only_user_can_describe_but_not_stop(cloud, root_a):
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A)
    reader = ecs_client(make_user(cloud, root_a, "reader", "AliyunECSReadOnlyAccess"))

    assert ids_of(describe(reader)) == [iid]
    for operation, request in ((reader.stop_instance, ecs_models.StopInstanceRequest(instance_id=iid)),
                               (reader.start_instance, ecs_models.StartInstanceRequest(instance_id=iid)),
                               (reader.reboot_instance, ecs_models.RebootInstanceRequest(instance_id=iid))):
        with api_error("Forbidden.RAM", 403):
            operation(request)
    assert status_of(cloud, ACCOUNT_A, iid) == "Running"


def test_policy_scoped_to_one_instance_arn(cloud, root_a):
    backend = cloud.backend("ecs")
    allowed, other = backend.seed_instance(ACCOUNT_A), backend.seed_instance(ACCOUNT_A)
    ram = ram_client(root_a)
    ram.create_policy(ram_models.CreatePolicyRequest(policy_name="stop-one", policy_document=policy(
        allow("ecs:StopInstance", f"acs:ecs:cn-hangzhou:{ACCOUNT_A}:instance/{allowed}"))))
    operator = ecs_client(make_user(cloud, root_a, "operator", custom=("stop-one",)))

    operator.stop_instance(ecs_models.StopInstanceRequest(instance_id=allowed))
    with api_error("Forbidden.RAM", 403):
        operator.stop_instance(ecs_models.StopInstanceRequest(instance_id=other))
    with api_error("Forbidden.RAM", 403):
        describe(operator)
    assert (status_of(cloud, ACCOUNT_A, allowed), status_of(cloud, ACCOUNT_A, other)) == ("Stopped", "Running")


def test_role_session_from_another_account_manages_the_owners_instances(cloud, root_a):
    """company-b assumes company-a's role (AliyunECSFullAccess) and stops company-a's instance."""
    root_b = cloud.add_account(ACCOUNT_B, "company-b")
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A)
    ram = ram_client(root_a)
    ram.create_role(ram_models.CreateRoleRequest(role_name="ops-from-b",
                                                 assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_B}:root")))
    ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunECSFullAccess", role_name="ops-from-b"))
    operator = make_user(cloud, root_b, "operator", "AliyunSTSAssumeRoleAccess")
    session, _ = assume(operator, f"acs:ram::{ACCOUNT_A}:role/ops-from-b", "night-shift")

    as_role = ecs_client(session)
    assert ids_of(describe(as_role)) == [iid]
    as_role.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))
    assert status_of(cloud, ACCOUNT_A, iid) == "Stopped"
    # The operator's own identity has no ECS rights, and B's account has no such instance.
    with api_error("Forbidden.RAM", 403):
        describe(ecs_client(operator))

    # Revoking the role's policy takes effect on the live session.
    ram.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunECSFullAccess", role_name="ops-from-b"))
    with api_error("Forbidden.RAM", 403):
        as_role.start_instance(ecs_models.StartInstanceRequest(instance_id=iid))


def test_ecs_events_in_actiontrail(cloud, root_a, ecs):
    iid = cloud.backend("ecs").seed_instance(ACCOUNT_A)
    describe(ecs, instance_ids=json.dumps([iid]))
    ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=iid))

    describe_event, stop_event = cloud.trail.events(ACCOUNT_A)[-2:]
    assert stop_event["serviceName"] == "Ecs" and stop_event["eventSource"] == "ecs.aliyuncs.com"
    assert (stop_event["eventName"], stop_event["eventRW"], stop_event["apiVersion"]) == \
        ("StopInstance", "Write", "2014-05-26")
    assert (stop_event["resourceType"], stop_event["resourceName"]) == ("ACS::ECS::Instance", iid)
    assert stop_event["acsRegion"] == "cn-hangzhou" and stop_event["isGlobal"] is False
    assert stop_event["requestParameters"]["InstanceId"] == iid
    assert (describe_event["eventName"], describe_event["eventRW"]) == ("DescribeInstances", "Read")
    assert describe_event["requestParameters"]["RegionId"] == "cn-hangzhou"


def test_several_instances_of_one_type_are_named_with_commas(cloud, root_a, ecs):
    """ActionTrail's resourceName: names of one type separated by commas, types by semicolons
    (ActionTrail announcement of the eventRW/resourceName/resourceType fields); LookupEvents
    finds the event by any one of them."""
    from helpers import lookup_events, trail_client

    first, second = (cloud.backend("ecs").seed_instance(ACCOUNT_A) for _ in range(2))
    describe(ecs, instance_ids=json.dumps([first, second]))
    event = cloud.trail.events(ACCOUNT_A)[-1]
    assert (event["resourceType"], event["resourceName"]) == ("ACS::ECS::Instance", f"{first},{second}")
    found = lookup_events(trail_client(root_a), ("ResourceName", second)).events
    assert [e["eventId"] for e in found] == [event["eventId"]]
