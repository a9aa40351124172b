"""ActionTrail Write events reaching eventbridge-triggered functions through the fake's default bus."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from fakecloud.services.eventbridge import EventPattern, PatternError, build_envelope
from fc_support import ACCOUNT, OTHER, REGION, cloud_fixture, ram_client, ram_models  # noqa: F401


@pytest.fixture
def root(cloud):
    return cloud.add_account(ACCOUNT)


@pytest.fixture
def fc(cloud):
    return cloud.backend("fc")


def subscribe(fc, pattern: dict | str, *, account=ACCOUNT, name="audit", enable=True, handler=None) -> list[dict]:
    """Register a function with an eventbridge trigger; returns the list its events land in."""
    received: list[dict] = []
    fc.register_function(account, "svc", name, handler or (lambda e, c: received.append(json.loads(e))))
    fc.add_trigger(account, "svc", name, f"{name}-trigger", "eventbridge", {
        "triggerEnable": enable, "asyncInvocationType": True,
        "eventRuleFilterPattern": pattern if isinstance(pattern, str) else json.dumps(pattern),
        "eventSourceConfig": {"eventSourceType": "Default"}})
    return received


def create_role(creds, name="app-role"):
    trust = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                       "Principal": {"RAM": [f"acs:ram::{creds.account_id}:root"]}}]})
    ram_client(creds).create_role(ram_models.CreateRoleRequest(role_name=name, assume_role_policy_document=trust))


def test_ram_write_event_reaches_the_function_with_the_cloudevents_envelope(root, fc):
    create_role(root)  # before the trigger exists: not delivered
    received = subscribe(fc, {"source": ["acs.ram"]})
    ram = ram_client(root)

    ram.update_role(ram_models.UpdateRoleRequest(role_name="app-role", new_description="changed"))
    ram.get_role(ram_models.GetRoleRequest(role_name="app-role"))  # a read: never published
    assert fc.pending == 1
    fc.run_pending()

    [envelope] = received
    assert {k: envelope[k] for k in ("source", "type", "specversion", "datacontenttype", "aliyunaccountid",
                                     "aliyuneventbusname", "aliyunregionid")} == {
        "source": "acs.ram", "type": "ram:ActionTrail:ApiCall", "specversion": "1.0",
        "datacontenttype": "application/json;charset=utf-8", "aliyunaccountid": ACCOUNT,
        "aliyuneventbusname": "default", "aliyunregionid": "cn-hangzhou"}
    assert envelope["subject"] == f"acs.ram:cn-hangzhou:{ACCOUNT}:app-role"
    assert envelope["time"].endswith("+08:00") and envelope["aliyunpublishtime"].endswith("PRC")
    assert envelope["id"] and envelope["aliyunpublishaddr"]
    data = envelope["data"]
    assert (data["eventName"], data["eventRW"], data["serviceName"]) == ("UpdateRole", "Write", "Ram")
    assert data["userIdentity"]["type"] == "root-account"
    assert fc.invocations[0].source == "eventbridge" and fc.invocations[0].invocation_type == "Async"


def test_type_and_nested_data_patterns_select_events(root, fc):
    updates = subscribe(fc, {"type": ["ram:ActionTrail:ApiCall"], "data": {"eventName": [{"prefix": "Update"}]}})
    create_role(root)
    ram_client(root).update_role(ram_models.UpdateRoleRequest(role_name="app-role", new_description="x"))
    fc.run_pending()
    assert [e["data"]["eventName"] for e in updates] == ["UpdateRole"]


def test_only_the_triggers_account_receives_its_events(cloud, root, fc):
    other = cloud.add_account(OTHER)
    mine = subscribe(fc, {"source": ["acs.ram"]}, name="mine")
    theirs = subscribe(fc, {"source": ["acs.ram"]}, account=OTHER, name="theirs")
    create_role(other, "their-role")
    fc.run_pending()
    assert mine == [] and [e["aliyunaccountid"] for e in theirs] == [OTHER]


def test_disabled_trigger_and_non_matching_source_get_nothing(root, fc):
    disabled = subscribe(fc, {"source": ["acs.ram"]}, name="off", enable=False)
    ecs_only = subscribe(fc, {"source": ["acs.ecs"]}, name="ecs")
    create_role(root)
    assert fc.run_pending() == 0
    assert disabled == [] and ecs_only == []


def test_regional_events_stay_in_their_region(cloud, root, fc):
    received = subscribe(fc, {"source": ["acs.ecs"]})
    event = {"eventName": "StopInstance", "eventRW": "Write", "eventType": "ApiCall", "serviceName": "Ecs",
             "acsRegion": "cn-beijing", "isGlobal": False, "eventTime": "2026-01-01T00:00:00Z"}
    cloud.trail.record(ACCOUNT, event)
    cloud.trail.record(ACCOUNT, dict(event, acsRegion=REGION))
    fc.run_pending()
    assert [e["aliyunregionid"] for e in received] == [REGION]


def test_eventbridge_deliveries_retry_like_async_invocations(root, fc):
    attempts = []

    def flaky(event, context):
        attempts.append(json.loads(event)["data"]["eventName"])
        if len(attempts) < 2:
            raise RuntimeError("downstream not ready")

    subscribe(fc, {"source": ["acs.ram"]}, handler=flaky)
    create_role(root)
    fc.run_pending()
    assert attempts == ["CreateRole", "CreateRole"]
    assert [(r.attempt, r.ok) for r in fc.invocations] == [(1, False), (2, True)]


def test_invalid_patterns_are_refused_when_the_trigger_is_added(root, fc):
    fc.register_function(ACCOUNT, "svc", "f", lambda e, c: None)
    for bad in ("not json", "[1]", json.dumps({"source": "acs.ram"}), json.dumps({"source": [{"regex": "x"}]})):
        with pytest.raises(PatternError):
            fc.add_trigger(ACCOUNT, "svc", "f", "t", "eventbridge", {"eventRuleFilterPattern": bad})


ENVELOPE = build_envelope(ACCOUNT, {
    "eventName": "UpdateRole", "serviceName": "Ram", "eventType": "ApiCall", "acsRegion": "cn-hangzhou",
    "eventTime": "2026-01-01T00:00:00Z", "resourceName": "app-role", "isGlobal": True,
    "referencedResources": {"ACS::RAM::Role": ["app-role", "other-role"]}, "eventVersion": 1,
    "userIdentity": {"type": "assumed-role", "userName": "admin:alice"},
}, datetime.fromisoformat("2026-01-01T00:00:01+00:00"))


@pytest.mark.parametrize("pattern, matches", [
    ({}, True),
    ({"source": ["acs.ram"]}, True),
    ({"source": ["acs.ecs", "acs.ram"]}, True),
    ({"source": ["acs.ecs"]}, False),
    ({"source": [{"prefix": "acs."}]}, True),
    ({"source": [{"prefix": "acs.e"}]}, False),
    ({"type": [{"suffix": ":ApiCall"}]}, True),
    ({"type": [{"suffix": ":ConsoleOperation"}]}, False),
    ({"source": ["acs.ram"], "type": ["ram:ActionTrail:ConsoleOperation"]}, False),
    ({"data": {"eventName": ["UpdateRole", "DeleteRole"]}}, True),
    ({"data": {"userIdentity": {"type": ["assumed-role"]}}}, True),
    ({"data": {"userIdentity": {"type": ["root-account"]}}}, False),
    ({"data": {"referencedResources": {"ACS::RAM::Role": ["other-role"]}}}, True),  # any element of a list
    ({"data": {"eventName": [{"anything-but": ["GetRole", "ListRoles"]}]}}, True),
    ({"data": {"eventName": [{"anything-but": {"prefix": "Update"}}]}}, False),
    ({"data": {"errorCode": [{"exists": False}]}}, True),
    ({"data": {"errorCode": [{"exists": True}]}}, False),
    ({"data": {"eventVersion": [{"numeric": [">=", 1, "<", 2]}]}}, True),
    ({"data": {"eventVersion": [True]}}, False),  # JSON true is not 1
    ({"data": {"missing": ["x"]}}, False),
    ({"subject": [{"suffix": ":app-role"}]}, True),
])
def test_pattern_matching(pattern, matches):
    assert EventPattern.parse(json.dumps(pattern)).matches(ENVELOPE) is matches
