"""Review (issue 12, item 10): "managed by rolepact" is proved by rolepact's own records — the role name
and the immutable RoleId recorded when rolepact created the role — never by a description or a tag.

Anyone with ram:UpdateRole can write `[rolepact:<id>]` into a role's description. Such a role is never
taken over by an agreement, never modified or deleted by the auditor (even in fix mode), and when it
lets another account in it stays a high finding. The auditor also sees cross-account trust through
identity providers (`Federated`) and cloud services acting for other accounts. Status records from
before the RoleId was recorded are migrated only when RAM's CreateDate agrees with the record.

A full deployment on the fake (FC timers, OSS trigger); A's administrators act through the RAM SDK.
"""
from __future__ import annotations

import json
from datetime import timedelta

from timer_support import (A, C, SEED_ID, SEED_ROLE, T0, agreement, clock, fake, get_role, make_timer_stage,  # noqa: F401
                           provision, ram, role_state, seed_agreement, tick_at)

from alibabacloud_ram20150501 import models as ram_models

HOUR = timedelta(hours=1)
FIRST_AUDIT = T0.replace(minute=0, second=30) + HOUR
EXPIRES = T0 + timedelta(days=30)
FIX = {"ROLEPACT_REMEDIATION": "fix"}


def trust(principal: dict) -> str:
    return json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": principal}]})


def backdoor(stage, name: str, description: str, principal: dict | None = None) -> None:
    """An insider's role: trusted by another account, with AdministratorAccess, and a forged mark."""
    admin = ram(stage.owner)
    admin.create_role(ram_models.CreateRoleRequest(role_name=name, description=description,
                                                   assume_role_policy_document=trust(principal or {
                                                       "RAM": [f"acs:ram::{C}:root"]})))
    admin.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AdministratorAccess", role_name=name))


def findings(stage) -> dict[str, dict]:
    keys = sorted(k.key for k in stage.oss().list_objects("audit/roles/").object_list)
    report = stage.read_json(keys[-1])
    return {f["role"]: f for f in report["findings"]}


def test_review_a_forged_mark_on_an_external_admin_backdoor_stays_high_and_is_never_touched(fake, clock):
    stage = make_timer_stage(fake, FIX)
    provision(stage, agreement("live", expires=EXPIRES))
    backdoor(stage, "it-backdoor", "break-glass [rolepact:long-gone]")  # an agreement that no longer exists
    backdoor(stage, "it-backdoor-2", "ops [rolepact:live]")  # the mark of a live agreement
    before = {name: role_state(stage, name) for name in ("it-backdoor", "it-backdoor-2")}

    tick_at(stage, clock, FIRST_AUDIT)
    found = findings(stage)
    for name in before:
        assert found[name]["classification"] == "external-unmanaged" and found[name]["severity"] == "high", found[name]
        assert f"trusts acs:ram::{C}:root" in found[name]["details"]
        assert any("rolepact did not create this role" in d for d in found[name]["details"])
        assert found[name]["remediation"] == []
    assert {name: role_state(stage, name) for name in before} == before  # fix mode changed nothing
    assert found["live"]["classification"] == "in-sync"


def test_review_an_agreement_never_takes_over_a_role_with_a_forged_mark(stage):
    backdoor(stage, SEED_ROLE, f"ECS operations by company-b [rolepact:{SEED_ID}]")
    before = role_state(stage, SEED_ROLE)
    stage.upload(f"agreements/{SEED_ID}.json", seed_agreement(expires=EXPIRES))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any(e["path"] == "role.name" and "not created by rolepact" in e["message"] for e in status["errors"])
    assert role_state(stage, SEED_ROLE) == before


def test_review_a_role_re_created_by_hand_under_an_agreements_name_is_not_rolepacts(fake, clock):
    """Deleted and re-created with the same name and a copied description: another RoleId, so not the
    role rolepact created. Reported (drift: rolepact's role is gone; the new one trusts another account),
    and never changed — not by the auditor in fix mode, not by the enforcer."""
    stage = make_timer_stage(fake, FIX)
    created = provision(stage, agreement("b-ops", expires=EXPIRES))
    original = get_role(stage, "b-ops")
    assert created["roleId"] == original.role_id
    admin = ram(stage.owner)
    for kind, name in role_state(stage, "b-ops")[3]:
        admin.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(policy_type=kind, policy_name=name,
                                                                             role_name="b-ops"))
    admin.delete_role(ram_models.DeleteRoleRequest(role_name="b-ops"))
    backdoor(stage, "b-ops", original.description)
    before = role_state(stage, "b-ops")

    tick_at(stage, clock, FIRST_AUDIT)
    report = stage.read_json(sorted(k.key for k in stage.oss().list_objects("audit/roles/").object_list)[-1])
    classes = {(f["role"], f["classification"]) for f in report["findings"]}
    assert ("b-ops", "external-unmanaged") in classes and ("b-ops", "drifted") in classes
    assert role_state(stage, "b-ops") == before  # the auditor's fix did not "restore" the impostor
    tick_at(stage, clock, EXPIRES + timedelta(minutes=1))  # the enforcer ends the agreement
    assert role_state(stage, "b-ops") == before
    assert get_role(stage, "b-ops").role_id != original.role_id


def test_review_cross_account_trust_through_identity_providers_and_services_is_reported(fake, clock):
    stage = make_timer_stage(fake)
    admin = ram(stage.owner)
    roles = {
        "partner-sso": {"Federated": [f"acs:ram::{C}:saml-provider/partner-idp"]},
        "partner-ecs": {"Service": [f"{C}@ecs.aliyuncs.com"]},
        "own-sso": {"Federated": [f"acs:ram::{A}:saml-provider/corp-idp"]},  # A's own identity provider
        "own-ecs": {"Service": ["ecs.aliyuncs.com", f"{A}@ecs.aliyuncs.com"]},  # A's own instances
    }
    for name, principal in roles.items():
        admin.create_role(ram_models.CreateRoleRequest(role_name=name, assume_role_policy_document=trust(principal)))

    tick_at(stage, clock, FIRST_AUDIT)
    found = findings(stage)
    assert found["partner-sso"]["classification"] == "external-unmanaged"
    assert f"trusts identity provider acs:ram::{C}:saml-provider/partner-idp" in found["partner-sso"]["details"]
    assert found["partner-ecs"]["classification"] == "external-unmanaged"
    assert f"trusts service {C}@ecs.aliyuncs.com" in found["partner-ecs"]["details"]
    assert "own-sso" not in found and "own-ecs" not in found


def test_review_status_records_from_before_role_ids_are_migrated_only_when_ram_agrees(fake, clock):
    """A deployment upgraded from a version without role records: its roles are adopted once, because
    RAM created each one just before its agreement was first applied. A role re-created by hand later
    (a newer CreateDate) is not adopted, whatever its description says."""
    stage = make_timer_stage(fake)
    provision(stage, agreement("legacy-ok", expires=EXPIRES))
    provision(stage, agreement("legacy-replaced", expires=EXPIRES))
    for name in ("legacy-ok", "legacy-replaced"):  # as the old version left them: no role records
        stage.oss().delete_object(f"state/roles/{name}.json")
        stage.upload(f"status/{name}.json", {k: v for k, v in stage.status(name).items() if k != "roleId"})

    clock.move_to(T0 + 2 * HOUR)  # an administrator re-creates one of the roles by hand, copying its description
    admin = ram(stage.owner)
    description = get_role(stage, "legacy-replaced").description
    for kind, name in role_state(stage, "legacy-replaced")[3]:
        admin.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(policy_type=kind, policy_name=name,
                                                                             role_name="legacy-replaced"))
    admin.delete_role(ram_models.DeleteRoleRequest(role_name="legacy-replaced"))
    backdoor(stage, "legacy-replaced", description)
    replaced = role_state(stage, "legacy-replaced")

    for name in ("legacy-ok", "legacy-replaced"):  # each agreement is amended (extended)
        stage.upload(f"agreements/{name}.json", agreement(name, expires=EXPIRES + timedelta(days=1)))
    assert stage.status("legacy-ok")["lastUpload"]["result"] == "applied"
    record = stage.read_json("state/roles/legacy-ok.json")
    assert record["migrated"] is True and record["roleId"] == get_role(stage, "legacy-ok").role_id
    refused = stage.status("legacy-replaced")["lastUpload"]
    assert refused["result"] == "rejected" and "not created by rolepact" in json.dumps(refused["errors"])
    assert role_state(stage, "legacy-replaced") == replaced
    assert stage.read_json("state/roles/legacy-replaced.json") is None
