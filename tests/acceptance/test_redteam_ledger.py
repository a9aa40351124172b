"""Red team: the RoleId ledger under a crash or a race with someone who may delete and create roles.

RAM's role APIs take a role *name*; rolepact's proof of ownership is the RoleId it recorded. An insider
with `ram:DeleteRole` + `ram:CreateRole` (but no right to attach policies) swaps the role under the
agreement's name for one that trusts another account, at the worst moment: right after rolepact's
CreateRole, or after a crash left only the intent. The safe outcome: rolepact never attaches the
agreement's permissions to the insider's role, never adopts or changes it, and says so.
"""
from __future__ import annotations

import json
from datetime import timedelta

from alibabacloud_ram20150501 import models as ram_models
from test_review_races import once_on_write
from timer_support import (A, C, SEED_ID, SEED_ROLE, T0, attached, clock, fake, get_role, make_timer_stage,  # noqa: F401
                           ram, seed_agreement, tick_at, trust_of)

from shared.documents import guard_policy_name

EXPIRES = T0 + timedelta(days=30)
BACKDOOR = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                           "Principal": {"RAM": [f"acs:ram::{C}:root"]}}]}


def swap_role(stage) -> None:
    """The insider deletes the role under the agreement's name and creates its own (same name, another
    RoleId, trusted by company-c)."""
    admin = ram(stage.owner)
    for policy in admin.list_policies_for_role(ram_models.ListPoliciesForRoleRequest(
            role_name=SEED_ROLE)).body.policies.policy:
        admin.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
            policy_type=policy.policy_type, policy_name=policy.policy_name, role_name=SEED_ROLE))
    admin.delete_role(ram_models.DeleteRoleRequest(role_name=SEED_ROLE))
    admin.create_role(ram_models.CreateRoleRequest(role_name=SEED_ROLE, assume_role_policy_document=json.dumps(
        BACKDOOR), description="ops"))


def assert_untouched_backdoor(stage) -> None:
    assert trust_of(stage, SEED_ROLE) == BACKDOOR
    granted = attached(stage, SEED_ROLE)
    assert not {name for _, name in granted} & {"AliyunECSFullAccess", guard_policy_name(SEED_ID)} and not granted, \
        granted


def test_a_role_swapped_right_after_createrole_never_receives_the_agreements_permissions(fake, clock):
    stage = make_timer_stage(fake)
    fired = once_on_write(stage, "CreateRole", lambda: swap_role(stage))
    stage.upload(f"agreements/{SEED_ID}.json", seed_agreement(expires=EXPIRES))
    assert fired
    assert_untouched_backdoor(stage)
    assert stage.status(SEED_ID)["state"] != "active"


def test_a_role_swapped_after_a_crash_is_not_adopted(fake, clock):
    """Intake dies right after CreateRole (only the intent is recorded); the insider swaps the role within
    the adoption window; FC retries intake. The swapped role was not created by rolepact's call."""
    stage = make_timer_stage(fake)
    stage.cloud.faults.crash_after("CreateRole", service="ram", nth=1)
    stage.upload(f"agreements/{SEED_ID}.json", seed_agreement(expires=EXPIRES), deliver=False)
    stage.fc.run_pending(max_rounds=1)  # the first attempt dies; FC has queued its retry
    swap_role(stage)
    stage.deliver()
    assert_untouched_backdoor(stage)
    assert stage.status(SEED_ID)["state"] != "active"


def widen_trust_and_get_in(stage):
    """The insider adds company-c's root to the trust policy (ram:UpdateRole); mallory at C assumes the role."""
    from timer_support import assume, partner_user, seed_instance

    widened = trust_of(stage, SEED_ROLE)
    widened["Statement"].append({"Effect": "Allow", "Action": "sts:AssumeRole",
                                 "Principal": {"RAM": [f"acs:ram::{C}:root"]}})
    ram(stage.owner).update_role(ram_models.UpdateRoleRequest(role_name=SEED_ROLE,
                                                              new_assume_role_policy_document=json.dumps(widened)))
    return seed_instance(stage), assume(stage, partner_user(stage, "mallory", account=C), external_id=None)


def test_a_trust_widened_by_hand_loses_the_sessions_it_let_in_when_rolepact_restores_it(fake, clock):
    """An insider with ram:UpdateRole adds company-c to a managed role's trust policy; someone at C assumes
    the role. Restoring the trust policy (fix mode) is not enough — STS tokens are not re-checked against
    the trust policy — so the sessions issued through the widened trust must end too."""
    from timer_support import assume, describe_instance, partner_user, provision, refused

    stage = make_timer_stage(fake, {"ROLEPACT_REMEDIATION": "fix"})
    provision(stage, seed_agreement(expires=EXPIRES))
    clock.move_to(T0 + timedelta(minutes=30))  # the audit at the hour comes while the session is still valid
    instance, intruder = widen_trust_and_get_in(stage)
    assert describe_instance(intruder, instance).status == "Running"

    tick_at(stage, clock, T0.replace(minute=0, second=30) + timedelta(hours=1))  # the auditor, fix mode
    assert C not in json.dumps(trust_of(stage, SEED_ROLE))
    refused(lambda: describe_instance(intruder, instance), "Forbidden.RAM")
    alice = assume(stage, partner_user(stage, "alice"))  # the partner simply assumes again
    assert describe_instance(alice, instance).status == "Running"


def test_an_amendment_that_meets_a_widened_trust_also_ends_the_sessions_it_let_in(fake, clock):
    """The same insider, but the next thing rolepact does is an amendment (the partner extends expiresAt): it
    restores the trust policy too, and must not leave the intruder's session alive."""
    from timer_support import describe_instance, provision, refused

    stage = make_timer_stage(fake)
    provision(stage, seed_agreement(expires=EXPIRES))
    instance, intruder = widen_trust_and_get_in(stage)
    provision(stage, seed_agreement(expires=EXPIRES + timedelta(days=30)))
    assert C not in json.dumps(trust_of(stage, SEED_ROLE))
    refused(lambda: describe_instance(intruder, instance), "Forbidden.RAM")
