"""The pure planner: every case is (target, actual) -> exact ordered actions."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from shared.actions import (AttachPolicy, CreatePolicy, CreatePolicyVersion, CreateRole, DeletePolicy, DeleteRole,
                            DetachPolicy, TagRole, UpdateRole)
from shared.agreements.model import AccessConditions, Agreement, Party, PolicyGrant
from shared.documents import (closed_trust_policy, custom_policy_name, desired_role, guard_policy_name, ownership_tags,
                              target_for)
from shared.planner import plan
from shared.state import ActualState, PolicySnapshot, RoleSnapshot

A, B = "1234567890123456", "1345678901234567"
START = datetime(2026, 12, 1, tzinfo=timezone.utc)
END = datetime(2027, 6, 1, tzinfo=timezone.utc)
RESTART = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:RebootInstance", "Resource": "*"}]}


def agreement(**changes) -> Agreement:
    base = Agreement(
        agreement_id="company-b-ecs-admin", owner=Party(A, "company-a"), partner=Party(B, "company-b"),
        principals=("root",), role_name="ecs-admin", role_description="ECS operations by company-b",
        max_session_duration=3600,
        policies=(PolicyGrant("System", "AliyunECSFullAccess"), PolicyGrant("Custom", "ecs-restart-web", RESTART)),
        starts_at=START, expires_at=END, on_expiry="delete-role",
        conditions=AccessConditions(external_id="b-7f3a9c", source_ip_ranges=("203.0.113.0/24",)),
    )
    return replace(base, **changes)


def applied(ag: Agreement, *, extended_trust: bool = False) -> ActualState:
    """RAM exactly as a converged provision of `ag` leaves it."""
    want = desired_role(ag, extended_trust=extended_trust)
    role = RoleSnapshot(want.role_name, f"acs:ram::{A}:role/{want.role_name}", "3" * 18, want.description,
                        want.trust, want.max_session_duration, dict(want.tags),
                        frozenset({("Custom", want.guard_name)} | {("Custom", n) for n in want.custom}
                                  | {("System", n) for n in want.system}))
    policies = {want.guard_name: PolicySnapshot(want.guard_name, "Custom", want.guard_document)}
    policies |= {n: PolicySnapshot(n, "Custom", d) for n, d in want.custom.items()}
    return ActualState(role, policies, role_owner=ag.agreement_id)


GUARD = guard_policy_name("company-b-ecs-admin")
CUSTOM = custom_policy_name("company-b-ecs-admin", "ecs-restart-web")


def apis(p) -> list[str]:
    return [type(a).__name__ for a in p.actions]


def test_provision_is_the_minimum_and_guards_before_granting():
    p = plan(desired_role(agreement()), ActualState(None))
    assert apis(p) == ["CreateRole", "CreatePolicy", "AttachPolicy", "CreatePolicy", "AttachPolicy", "AttachPolicy"]
    assert p.actions[1].policy == GUARD and p.actions[1].document == desired_role(agreement()).guard_document
    assert p.actions[2] == AttachPolicy("ecs-admin", "Custom", GUARD)  # guard attached before any permission
    assert p.actions[5] == AttachPolicy("ecs-admin", "System", "AliyunECSFullAccess")
    create = p.actions[0]
    assert create.trust["Statement"][0]["Principal"] == {"RAM": [f"acs:ram::{B}:root"]}
    # RAM documents only sts:ExternalId for trust policies: the window and networks are the guard's
    assert create.trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "b-7f3a9c"}}
    assert "[rolepact:company-b-ecs-admin]" in create.description
    assert dict(create.tags) == ownership_tags("company-b-ecs-admin")


def test_guard_policy_denies_everything_outside_the_window_and_networks():
    guard = desired_role(agreement()).guard_document
    conditions = [s["Condition"] for s in guard["Statement"]]
    assert all(s["Effect"] == "Deny" and s["Action"] == "*" and s["Resource"] == "*" for s in guard["Statement"])
    assert {"DateLessThan": {"acs:CurrentTime": "2026-12-01T00:00:00Z"}} in conditions
    assert {"DateGreaterThanEquals": {"acs:CurrentTime": "2027-06-01T00:00:00Z"}} in conditions
    # IfExists: a call without acs:SourceIp (a VPC endpoint) is denied too
    assert {"NotIpAddressIfExists": {"acs:SourceIp": ["203.0.113.0/24"]}} in conditions
    assert not any("acs:MFAPresent" in str(c) for c in conditions)  # requireMfa is false in the seed


def test_require_mfa_is_a_guard_deny_that_fires_without_the_key():
    ag = agreement()
    mfa = replace(ag, conditions=replace(ag.conditions, external_id=None, require_mfa=True))
    guard = desired_role(mfa).guard_document
    assert {"BoolIfExists": {"acs:MFAPresent": "false"}} in [s["Condition"] for s in guard["Statement"]]
    assert "Condition" not in desired_role(mfa).trust["Statement"][0]


def test_extended_trust_conditions_are_opt_in():
    trust = desired_role(agreement(), extended_trust=True).trust["Statement"][0]["Condition"]
    assert trust == {
        "DateGreaterThanEquals": {"acs:CurrentTime": "2026-12-01T00:00:00Z"},
        "DateLessThan": {"acs:CurrentTime": "2027-06-01T00:00:00Z"},
        "StringEquals": {"sts:ExternalId": "b-7f3a9c"},
        "IpAddress": {"acs:SourceIp": ["203.0.113.0/24"]},
    }


def test_converged_state_plans_nothing():
    ag = agreement()
    assert plan(desired_role(ag), applied(ag)).empty


def test_extension_updates_only_the_guard():
    ag = agreement()
    later = replace(ag, expires_at=datetime(2027, 9, 1, tzinfo=timezone.utc))
    p = plan(desired_role(later), applied(ag))
    assert apis(p) == ["CreatePolicyVersion"]
    assert p.actions[0].policy == GUARD


def test_extension_with_extended_trust_updates_guard_first_then_trust():
    ag = agreement()
    later = replace(ag, expires_at=datetime(2027, 9, 1, tzinfo=timezone.utc))
    p = plan(desired_role(later, extended_trust=True), applied(ag, extended_trust=True))
    assert apis(p) == ["CreatePolicyVersion", "UpdateRole"]
    assert p.actions[0].policy == GUARD
    assert p.actions[1].trust is not None and p.actions[1].max_session_duration is None


def test_amend_removes_before_it_adds_and_deletes_dropped_custom_policy():
    ag = agreement()
    amended = replace(ag, policies=(PolicyGrant("System", "AliyunECSReadOnlyAccess"),))
    p = plan(desired_role(amended), applied(ag))
    assert p.actions == (
        DetachPolicy("ecs-admin", "Custom", CUSTOM),
        DetachPolicy("ecs-admin", "System", "AliyunECSFullAccess"),
        AttachPolicy("ecs-admin", "System", "AliyunECSReadOnlyAccess"),
        DeletePolicy(CUSTOM),
    )


def test_changed_custom_document_becomes_a_new_version():
    ag = agreement()
    narrower = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:RebootInstance",
                                               "Resource": "acs:ecs:*:*:instance/i-web*"}]}
    amended = replace(ag, policies=(ag.policies[0], PolicyGrant("Custom", "ecs-restart-web", narrower)))
    assert plan(desired_role(amended), applied(ag)).actions == (CreatePolicyVersion(CUSTOM, narrower),)


def test_hand_attached_policy_is_detached_and_hand_edited_role_restored():
    ag = agreement()
    state = applied(ag)
    drifted = replace(state.role, attached=state.role.attached | {("System", "AdministratorAccess")},
                      max_session_duration=43200, tags={})
    p = plan(desired_role(ag), replace(state, role=drifted))
    assert p.actions[0] == DetachPolicy("ecs-admin", "System", "AdministratorAccess")
    assert p.actions[1] == UpdateRole("ecs-admin", max_session_duration=3600)
    assert isinstance(p.actions[2], TagRole)


@pytest.mark.parametrize("description, owner, expected", [
    ("made by a human", None, "not created by rolepact"),
    ("x [rolepact:someone-else]", "someone-else", "belongs to agreement 'someone-else'"),
    # a description cannot make a role rolepact's: only its records (the RoleId) can
    ("ECS operations by company-b [rolepact:company-b-ecs-admin]", None, "not created by rolepact"),
])
def test_role_not_ours_is_refused_without_any_action(description, owner, expected):
    role = RoleSnapshot("ecs-admin", f"acs:ram::{A}:role/ecs-admin", "3" * 18, description, {}, 3600)
    p = plan(desired_role(agreement()), ActualState(role, role_owner=owner))
    assert p.actions == () and p.refusal.path == "role.name" and expected in p.refusal.message


def test_delete_role_ends_with_permissions_first_and_the_role_last():
    ag = agreement()
    p = plan(target_for(ag, END), applied(ag))
    assert p.actions == (
        DetachPolicy("ecs-admin", "Custom", CUSTOM),
        DetachPolicy("ecs-admin", "System", "AliyunECSFullAccess"),
        DeletePolicy(CUSTOM),
        DetachPolicy("ecs-admin", "Custom", GUARD),
        DeletePolicy(GUARD),
        DeleteRole("ecs-admin"),
    )


def test_remove_trust_keeps_a_valid_closed_trust_and_the_guard():
    ag = agreement(on_expiry="remove-trust")
    p = plan(target_for(ag, END), applied(ag))
    assert p.actions == (
        DetachPolicy("ecs-admin", "Custom", CUSTOM),
        DetachPolicy("ecs-admin", "System", "AliyunECSFullAccess"),
        UpdateRole("ecs-admin", trust=closed_trust_policy(A)),
        DeletePolicy(CUSTOM),
    )
    assert p.actions[2].trust == closed_trust_policy(A)
    ended_state = ActualState(replace(applied(ag).role, trust=closed_trust_policy(A),
                                      attached=frozenset({("Custom", GUARD)})),
                              {GUARD: applied(ag).policies[GUARD]}, role_owner=ag.agreement_id)
    assert plan(target_for(ag, END), ended_state).empty


def test_end_after_partial_crash_finishes_the_rest():
    ag = agreement()
    state = applied(ag)
    half = ActualState(replace(state.role, attached=frozenset({("Custom", GUARD)})), {GUARD: state.policies[GUARD]},
                       role_owner=ag.agreement_id)
    assert plan(target_for(ag, END), half).actions == (
        DetachPolicy("ecs-admin", "Custom", GUARD), DeletePolicy(GUARD), DeleteRole("ecs-admin"))
    assert plan(target_for(ag, END), ActualState(None, {CUSTOM: state.policies[CUSTOM]})).actions == (
        DeletePolicy(CUSTOM),)


def test_end_never_touches_a_role_that_is_not_ours():
    role = RoleSnapshot("ecs-admin", f"acs:ram::{A}:role/ecs-admin", "3" * 18, "human", {}, 3600,
                        attached=frozenset({("System", "AdministratorAccess")}))
    ag = agreement()
    assert plan(target_for(ag, END), ActualState(role)).empty


def test_future_start_is_provisioned_now_and_bounded_by_ram():
    ag = agreement()
    assert isinstance(target_for(ag, START.replace(year=2026, month=11)), type(desired_role(ag)))


def test_no_start_means_no_lower_bound():
    ag = agreement(starts_at=None)
    want = desired_role(ag)
    assert "DateGreaterThanEquals" not in want.trust["Statement"][0]["Condition"]
    assert len(want.guard_document["Statement"]) == 2  # end + networks
