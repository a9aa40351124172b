"""The FC service role's policy (deploy/service-role-policy.json) is least privilege, on FC 2.0 and FC 3.0.

Every flow of the product runs against the fake with its policy stream on (each
authorization decision the fake made). The functions' role sessions must never be denied,
and the set of (action, resource) pairs they were authorized for must be exactly what the
policy allows — every action the code uses is in the policy, and the policy holds nothing
more. The file is one policy for both deployments: only the worker's ARN differs
(`${worker_arn}`: FC 2.0 `services/<service>/functions/<worker>`, FC 3.0 `functions/<worker>`).
"""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.models import Config

from fakecloud import mock_cloud
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.local.stage import build_stage, service_role_policy, worker_arn
from shared.runtime import reset_settings

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2027, 3, 1, 9, 0, 20, tzinfo=timezone.utc)
ACCOUNT = "1234567890123456"  # build_stage's owner
SERVICE_SESSION = ":assumed-role/rolepact-fc-role/"
ROLE_WRITES = {"ram:CreateRole", "ram:UpdateRole", "ram:DeleteRole", "ram:TagResources", "ram:AttachPolicyToRole",
               "ram:DetachPolicyFromRole"}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def agreement(agreement_id: str, role: str, expires: datetime, **changes) -> bytes:
    doc = json.loads(json.dumps(EXAMPLE_AGREEMENT))
    doc.update(agreementId=agreement_id, startsAt=iso(T0 + timedelta(hours=1)), expiresAt=iso(expires))
    doc["role"]["name"] = role
    doc.update(changes)
    return json.dumps(doc).encode()


def policy_actions(document: dict, effect: str = "Allow") -> set[str]:
    actions = set()
    for statement in document["Statement"]:
        if statement["Effect"] == effect:
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def run_every_flow(cloud, clock, fc_api: str, prefix: str = "") -> None:
    """`prefix`: ROLEPACT_ROLE_NAME_PREFIX, and the start of every agreement's role name."""
    stage = build_stage(cloud, environment={"ROLEPACT_FANOUT_THRESHOLD": "2", "ROLEPACT_FANOUT_BATCH_SIZE": "1",
                                            "ROLEPACT_ROLE_NAME_PREFIX": prefix}, fc_api=fc_api)
    assert stage.settings.fc_api == fc_api
    stage.settings = dataclasses.replace(stage.settings, sleep=lambda seconds: None)
    reset_settings(stage.settings)
    expires = T0 + timedelta(days=10, hours=3)
    # intake: provision, amend (extend and rotate the ExternalId: UpdateRole), refuse, and three more
    # for a fan-out at expiry
    stage.upload("agreements/seed.json", agreement("seed", prefix + "ecs-admin", expires - timedelta(days=1)))
    stage.upload("agreements/seed.json", agreement("seed", prefix + "ecs-admin", expires, conditions=dict(
        EXAMPLE_AGREEMENT["conditions"], externalId="b-rotated-1")))
    stage.upload("agreements/bad.json", b'{"apiVersion": "rolepact/v1"}')
    for n in range(3):
        stage.upload(f"agreements/bulk-{n}.json", agreement(f"bulk-{n}", f"{prefix}bulk-role-{n}", expires))
    # approved uploaders: intake checks the bucket policy that enforces them (GetBucketPolicy, ListUsers)
    from shared.uploaders import lock_policy

    stage.oss().put_bucket_policy(json.dumps(lock_policy(stage.settings, [])))
    stage.settings = dataclasses.replace(stage.settings, guardrails=dataclasses.replace(
        stage.settings.guardrails, approved_uploaders=frozenset({stage.owner_id})))
    reset_settings(stage.settings)
    stage.upload("agreements/approved.json", agreement("approved", prefix + "approved-role", expires))
    stage.settings = dataclasses.replace(stage.settings, guardrails=dataclasses.replace(
        stage.settings.guardrails, approved_uploaders=None))
    reset_settings(stage.settings)
    # a human strips the ownership tags: the auditor (fix mode) puts them back
    ram = RamClient(Config(access_key_id=stage.owner.access_key_id, access_key_secret=stage.owner.access_key_secret,
                           region_id=stage.region))
    ram.untag_resources(ram_models.UntagResourcesRequest(resource_type="role", resource_names=[prefix + "ecs-admin"],
                                                          all=True))
    stage.settings = dataclasses.replace(stage.settings, remediation="fix")
    reset_settings(stage.settings)
    for moment in (T0 + timedelta(minutes=20), T0 + timedelta(hours=1, minutes=1), T0 + timedelta(hours=2, minutes=1),
                   expires - timedelta(days=7) + timedelta(minutes=1), expires + timedelta(minutes=1),
                   expires + timedelta(minutes=20)):
        clock.move_to(moment)
        stage.tick()
    stage.upload("agreements/late.json", agreement("late", prefix + "late-role", expires + timedelta(days=5)))
    stage.delete("agreements/late.json")  # deleting the file ends it at once
    stage.upload(f"control/revoke-partner/{stage.partner_id}", b"{}")
    clock.move_to(expires + timedelta(minutes=40))
    stage.tick()


@pytest.mark.parametrize("fc_api", ["fc2", "fc3"])
def test_the_service_role_policy_is_exactly_what_the_code_uses(fc_api):
    with time_machine.travel(T0, tick=False) as clock, mock_cloud() as cloud:
        stream = cloud.record_authorizations()
        try:
            run_every_flow(cloud, clock, fc_api)
        finally:
            reset_settings(None)
        failures = cloud.backend("fc").failed_invocations
    ours = [a for a in stream if SERVICE_SESSION in a.caller_arn]
    assert ours, "the functions made no authorized call"
    denied = sorted({(a.action, a.resource, a.decision) for a in ours if a.decision != "Allow"})
    assert denied == [], f"the policy is missing something the code needs: {denied}"
    assert failures == []
    policy = service_role_policy("rolepact-data", "rolepact", fc_api=fc_api)
    allowed = policy_actions(policy)
    used = {a.action for a in ours}
    assert used == allowed, (f"used but not allowed: {sorted(used - allowed)}; "
                             f"allowed but never used: {sorted(allowed - used)}")
    invoked = {a.resource for a in ours if a.action == "fc:InvokeFunction"}
    assert invoked == {(f"acs:fc:cn-hangzhou:{ACCOUNT}:services/rolepact/functions/reconcile_worker" if fc_api == "fc2"
                        else f"acs:fc:cn-hangzhou:{ACCOUNT}:functions/reconcile_worker")}
    [invoke] = [s for s in policy["Statement"] if s["Action"] == "fc:InvokeFunction"]
    assert invoke["Resource"] == worker_arn("rolepact", "reconcile_worker", fc_api)  # the worker only


def test_the_policy_grants_no_wildcard_and_scopes_what_ram_lets_it_scope():
    policy = json.loads((ROOT / "deploy" / "service-role-policy.json").read_text("utf-8"))
    allowed = policy_actions(policy)
    assert not any(action == "*" or action.endswith(":*") for action in allowed)
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if statement["Effect"] == "Allow" and actions & {"ram:CreatePolicy", "ram:CreatePolicyVersion", "ram:DeletePolicy"}:
            assert resources == ["acs:ram:*:*:policy/rp-*"]  # only rolepact's own policies
        if statement["Effect"] == "Allow" and any(a.startswith("oss:") for a in actions):
            assert all("${bucket}" in r for r in resources)  # only the agreements bucket
        if statement["Effect"] == "Allow" and actions & ROLE_WRITES:
            assert actions <= ROLE_WRITES and resources == ["acs:ram:*:*:role/${rolePrefix}*"]  # issue 12, item 4
        if statement["Effect"] == "Allow" and any(a.startswith("fc:") for a in actions):
            assert actions == {"fc:InvokeFunction"} and resources == ["${worker_arn}"]  # filled per FC API
    assert worker_arn("rolepact", "reconcile_worker", "fc2") == "acs:fc:*:*:services/rolepact/functions/reconcile_worker"
    assert worker_arn("rolepact", "reconcile_worker", "fc3") == "acs:fc:*:*:functions/reconcile_worker"
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert denies and all("role/rolepact-*" in s["Resource"] for s in denies)  # it cannot change its own role


def test_with_a_role_name_prefix_the_service_role_writes_only_roles_with_it():
    """Issue 12, item 4: ROLEPACT_ROLE_NAME_PREFIX narrows the policy's role writes to `role/<prefix>*`;
    every flow still works, and every role write the code made is on such a role."""
    with time_machine.travel(T0, tick=False) as clock, mock_cloud() as cloud:
        stream = cloud.record_authorizations()
        try:
            run_every_flow(cloud, clock, "fc2", prefix="partner-")
        finally:
            reset_settings(None)
        failures = cloud.backend("fc").failed_invocations
    ours = [a for a in stream if SERVICE_SESSION in a.caller_arn]
    assert sorted({(a.action, a.resource) for a in ours if a.decision != "Allow"}) == [] and failures == []
    writes = {a.resource for a in ours if a.action in ROLE_WRITES}
    assert writes and all(r.startswith(f"acs:ram::{ACCOUNT}:role/partner-") for r in writes), writes
    [statement] = [s for s in service_role_policy("rolepact-data", "rolepact", role_prefix="partner-")["Statement"]
                   if s["Effect"] == "Allow" and set(s["Action"]) & ROLE_WRITES]
    assert statement["Resource"] == "acs:ram:*:*:role/partner-*"
