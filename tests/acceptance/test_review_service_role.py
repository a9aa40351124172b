"""Review (issue 12, item 4): rolepact's FC service role is not account admin, and its changes are seen.

- ROLEPACT_ROLE_NAME_PREFIX (with deploy/service-role-policy.json's `${rolePrefix}`) limits the service
  role's RAM writes to roles named with the prefix — RAM's only documented way for these actions: role
  writes have no tag condition keys, but take the role's ARN as resource. With its credentials (taken
  from a function's context, as code running in any rolepact function could), AdministratorAccess cannot
  be attached to an ordinary team role any more; agreements must name roles with the prefix.
- Whatever the prefix, any RAM write by the service role on a role or policy rolepact does not manage is
  a high finding of the access audit (ActionTrail events), and alerted at once.
"""
from __future__ import annotations

import json
from datetime import timedelta

from alibabacloud_ram20150501 import models as ram_models
from audit_support import (A, T0, clock, fake, make_audit_stage, notices, provision, ram, seed_doc,  # noqa: F401
                           stored)
from conftest import SEED_ID, SEED_KEY, make_stage, refused, seed

from fakecloud import Credentials

TEAM_TRUST = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"RAM": [f"acs:ram::{A}:root"]}}]})


def service_role_credentials(stage) -> Credentials:
    """What FC hands every rolepact function: the service role's STS credentials (from the context)."""
    taken = {}

    def steal(event, context):
        taken["credentials"] = context.credentials
        return "ok"

    service = stage.wiring.service_name
    stage.fc.register_function(A, service, "stolen", steal, service_role="rolepact-fc-role", region=stage.region)
    stage.fc.invoke_sync(A, service, "stolen", b"{}", region=stage.region)
    creds = taken["credentials"]
    return Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)


def team_role(stage, name: str = "team-role") -> None:
    ram(stage.owner).create_role(ram_models.CreateRoleRequest(role_name=name, assume_role_policy_document=TEAM_TRUST))


def attached(stage, role: str) -> set:
    body = ram(stage.owner).list_policies_for_role(ram_models.ListPoliciesForRoleRequest(role_name=role)).body
    return {(p.policy_type, p.policy_name) for p in body.policies.policy}


def test_review_with_a_role_prefix_the_service_role_cannot_change_other_roles(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_ROLE_NAME_PREFIX": "partner-"})
    team_role(stage)
    service = ram(service_role_credentials(stage))

    refused(lambda: service.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AdministratorAccess", role_name="team-role")))
    refused(lambda: service.update_role(ram_models.UpdateRoleRequest(
        role_name="team-role", new_assume_role_policy_document=TEAM_TRUST.replace(A, "1999999999999999"))))
    refused(lambda: service.create_role(ram_models.CreateRoleRequest(role_name="backdoor",
                                                                     assume_role_policy_document=TEAM_TRUST)))
    refused(lambda: service.delete_role(ram_models.DeleteRoleRequest(role_name="team-role")))
    assert attached(stage, "team-role") == set()

    # agreements name roles with the prefix; the seed's own name is refused before any RAM write
    stage.upload(SEED_KEY, seed())
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected" and "ROLEPACT_ROLE_NAME_PREFIX" in status["errors"][0]["message"]
    stage.upload(SEED_KEY, seed(role__name="partner-ecs-admin"))
    assert stage.status(SEED_ID)["state"] == "active"
    assert ("System", "AliyunECSFullAccess") in attached(stage, "partner-ecs-admin")


def test_review_any_service_role_write_outside_what_rolepact_manages_is_a_high_finding(fake, clock):
    """The default (no prefix) keeps roles such as the seed's `ecs-admin` possible — and the service role
    able to write any role but rolepact's own: the access audit is what sees a misuse."""
    stage = make_audit_stage(fake)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))  # rolepact's own writes: no finding
    team_role(stage)
    service = ram(service_role_credentials(stage))
    clock.move_to(T0 + timedelta(minutes=5))
    service.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AdministratorAccess", role_name="team-role"))
    refused(lambda: service.create_user(ram_models.CreateUserRequest(user_name="mallory")))  # denied, still seen
    service.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(  # a managed role, but a privileged policy
        policy_type="System", policy_name="AdministratorAccess", role_name="ecs-admin"))
    stage.deliver()  # EventBridge delivers the Write events to the access audit

    found = [f for f in stored(stage, "audit/findings/") if f["rule"] == "service-role-unmanaged-write"]
    messages = sorted(f["message"] for f in found)
    assert len(found) == 3 and all(f["severity"] == "high" for f in found), messages
    assert any("AttachPolicyToRole" in m and "role team-role" in m and "allowed" in m for m in messages)
    assert any("CreateUser" in m and "user mallory" in m and "denied" in m for m in messages)
    assert any("privileged system policy AdministratorAccess" in m for m in messages)
    alerts = [n for n in notices(stage) if "service role wrote RAM outside" in n["text"]]
    assert alerts, [n["title"] for n in notices(stage)]
