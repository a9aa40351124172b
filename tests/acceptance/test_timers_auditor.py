"""Issue #5, role auditor (hourly timer): every role of A classified against the agreements, findings
in `audit/roles/<timestamp>.json`, DingTalk summaries (changes between runs, a daily digest), and
`fix` mode that restores managed roles exactly and never touches unmanaged ones."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from timer_support import (A, C, T0, agreement, bucket_keys, clock, fake, get_role, invocations,  # noqa: F401
                           make_timer_stage, provision, ram, role_state, stage, tick_at, titled, trail_events,
                           trust_of)

from alibabacloud_ram20150501 import models as ram_models
from shared.documents import custom_policy_name, guard_policy_name

HOUR = timedelta(hours=1)
FIRST_AUDIT = T0.replace(minute=0, second=30) + HOUR  # 10:00:30, the first tick after the hourly trigger
MANAGED = ["edited-trust", "extra-policy", "longer-session", "orphaned", "expired", "in-sync", "deleted-by-hand"]
UNMANAGED = ["vendor-access", "open-door", "internal-ops"]
EXPECTED = {
    "edited-trust": "drifted", "extra-policy": "drifted", "longer-session": "drifted", "deleted-by-hand": "drifted",
    "orphaned": "orphan", "expired": "expired-present", "in-sync": "in-sync",
    "vendor-access": "external-unmanaged", "open-door": "external-unmanaged",
}


def trust(*principals) -> str:
    return json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"RAM": list(principals)}}]})


def scenario(stage, clock) -> dict:
    """Seven agreements and three unmanaged roles, then A's administrators change things by hand."""
    for agreement_id in MANAGED:
        expires = T0 + timedelta(minutes=30) if agreement_id == "expired" else T0 + timedelta(days=30)
        provision(stage, agreement(agreement_id, expires=expires))
    agreed = {name: role_state(stage, name) for name in MANAGED}
    admin = ram(stage.owner)
    admin.create_role(ram_models.CreateRoleRequest(role_name="vendor-access", assume_role_policy_document=trust(
        f"acs:ram::{C}:root"), description="support by company-c"))
    admin.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AliyunECSReadOnlyAccess", role_name="vendor-access"))
    admin.create_role(ram_models.CreateRoleRequest(role_name="open-door", assume_role_policy_document=json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": "*"}}]})))
    admin.create_role(ram_models.CreateRoleRequest(role_name="internal-ops",
                                                   assume_role_policy_document=trust(f"acs:ram::{A}:root")))

    clock.move_to(T0 + timedelta(minutes=5))
    document = trust_of(stage, "edited-trust")
    document["Statement"][0]["Principal"]["RAM"].append(f"acs:ram::{C}:root")
    del document["Statement"][0]["Condition"]  # and the ExternalId condition (its only one) is gone
    admin.update_role(ram_models.UpdateRoleRequest(role_name="edited-trust",
                                                   new_assume_role_policy_document=json.dumps(document)))
    admin.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(
        policy_type="System", policy_name="AdministratorAccess", role_name="extra-policy"))
    admin.update_role(ram_models.UpdateRoleRequest(role_name="longer-session", new_max_session_duration=7200))
    stage.oss().delete_object("status/orphaned.json")
    for key in bucket_keys(stage, "schedule/"):
        if "/expired/" in key:  # the enforcer will never look at it
            stage.oss().delete_object(key)
    for policy_type, policy_name in role_state(stage, "deleted-by-hand")[3]:
        admin.detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
            policy_type=policy_type, policy_name=policy_name, role_name="deleted-by-hand"))
    admin.delete_role(ram_models.DeleteRoleRequest(role_name="deleted-by-hand"))
    tick_at(stage, clock, T0 + timedelta(minutes=45))  # a tick past the expiry: nothing to do without markers
    assert stage.status("expired")["state"] == "active" and get_role(stage, "expired") is not None
    return agreed


def latest_audit(stage) -> dict:
    keys = bucket_keys(stage, "audit/roles/")
    return stage.read_json(keys[-1])


def classes(audit: dict) -> dict:
    return {f["role"]: f["classification"] for f in audit["findings"]}


def auditor_notices(stage) -> list[dict]:
    return titled(stage, "role audit")


def test_report_mode_classifies_each_role_and_summarises_changes(stage, clock):
    scenario(stage, clock)
    unmanaged_before = {name: role_state(stage, name) for name in UNMANAGED}
    writes = stage.cloud.calls.count(service="ram", write=True)

    tick_at(stage, clock, FIRST_AUDIT)
    [run] = invocations(stage, "role_auditor")
    assert run.ok
    assert stage.cloud.calls.count(service="ram", write=True) == writes  # report mode writes nothing
    audit = latest_audit(stage)
    assert bucket_keys(stage, "audit/roles/") == [f"audit/roles/{FIRST_AUDIT:%Y%m%dT%H%M%S}Z.json"]
    assert audit["mode"] == "report"
    assert classes(audit) == EXPECTED  # internal-ops trusts only A; the FC role trusts FC: neither is reported
    details = {f["role"]: " ".join(f["details"]) for f in audit["findings"]}
    assert "trust policy / conditions changed" in details["edited-trust"]
    assert "extra policy attached by hand: AdministratorAccess" in details["extra-policy"]
    assert "session duration changed (agreed 3600s)" in details["longer-session"]
    assert "deleted outside rolepact" in details["deleted-by-hand"]
    assert f"trusts acs:ram::{C}:root" in details["vendor-access"] and "trusts *" in details["open-door"]
    assert "orphaned" in details["orphaned"] and "still exists" in details["expired"]
    assert {f["role"]: f["severity"] for f in audit["findings"]}["vendor-access"] == "high"
    assert {name: role_state(stage, name) for name in UNMANAGED} == unmanaged_before

    [digest] = auditor_notices(stage)
    assert "daily digest" in digest["title"]
    assert all(role in digest["text"] for role in EXPECTED if EXPECTED[role] != "in-sync")
    assert "1 managed roles in sync" in digest["text"]

    # the auditor re-created the expired agreement's marker: the next enforcer tick ends it
    tick_at(stage, clock, FIRST_AUDIT + HOUR)
    assert stage.status("expired")["state"] == "ended" and get_role(stage, "expired") is None
    second = auditor_notices(stage)[1:]
    assert len(second) == 1 and "changes" in second[0]["title"]
    assert "resolved: expired expired-present" in second[0]["text"]
    assert "edited-trust" not in second[0]["text"]  # unchanged findings are not repeated

    admin = ram(stage.owner)
    admin.update_role(ram_models.UpdateRoleRequest(role_name="in-sync", new_max_session_duration=5400))
    tick_at(stage, clock, FIRST_AUDIT + 2 * HOUR)
    third = auditor_notices(stage)[2:]
    assert len(third) == 1 and "NEW **drifted** `in-sync`" in third[0]["text"]

    tick_at(stage, clock, FIRST_AUDIT + 3 * HOUR)  # nothing changed: no message
    assert len(auditor_notices(stage)) == 3
    assert len(bucket_keys(stage, "audit/roles/")) == 4  # but every run is on file

    tick_at(stage, clock, FIRST_AUDIT + 24 * HOUR)  # a day after the last digest
    assert "daily digest" in auditor_notices(stage)[-1]["title"]
    assert {name: role_state(stage, name) for name in UNMANAGED} == unmanaged_before


def test_fix_mode_restores_managed_roles_and_never_touches_unmanaged_ones(fake, clock):
    stage = make_timer_stage(fake, {"ROLEPACT_REMEDIATION": "fix"})
    agreed = scenario(stage, clock)
    unmanaged_before = {name: role_state(stage, name) for name in UNMANAGED}

    tick_at(stage, clock, FIRST_AUDIT)
    audit = latest_audit(stage)
    assert audit["mode"] == "fix" and classes(audit) == EXPECTED
    remediation = {f["role"]: f["remediation"] for f in audit["findings"]}
    for name in ("edited-trust", "extra-policy", "longer-session", "deleted-by-hand", "in-sync"):
        assert role_state(stage, name) == agreed[name], name  # exactly as agreed again
    assert any("DetachPolicyFromRole" in r and "AdministratorAccess" in r for r in remediation["extra-policy"])
    assert any(r.startswith("ram:CreateRole") for r in remediation["deleted-by-hand"])
    assert remediation["in-sync"] == [] and remediation["vendor-access"] == [] and remediation["open-door"] == []

    assert get_role(stage, "orphaned") is None  # the orphan and its policies are gone
    owned = {guard_policy_name("orphaned"), custom_policy_name("orphaned", "ecs-restart-web")}
    names = {p.policy_name for p in ram(stage.owner).list_policies(ram_models.ListPoliciesRequest(
        policy_type="Custom", max_items=1000)).body.policies.policy}
    assert not owned & names
    assert get_role(stage, "expired") is None
    status = stage.status("expired")
    assert status["state"] == "ended" and any("DeleteRole" in r for r in status["ended"]["removed"])
    assert len(titled(stage, "Agreement expired expired")) == 1
    history = [a["api"] for a in stage.status("extra-policy")["actions"]]
    assert history[-1] == "DetachPolicyFromRole"  # the repair is on the agreement's record

    # unmanaged roles: reported, never touched (state and ActionTrail)
    assert {name: role_state(stage, name) for name in UNMANAGED} == unmanaged_before
    for event_name in ("UpdateRole", "DeleteRole", "DetachPolicyFromRole", "AttachPolicyToRole"):
        for event in trail_events(stage, stage.owner, event_name, FIRST_AUDIT - HOUR, FIRST_AUDIT + HOUR):
            if event["userIdentity"]["type"] == "assumed-role":
                assert not any(name in json.dumps(event.get("requestParameters")) for name in UNMANAGED)

    tick_at(stage, clock, FIRST_AUDIT + HOUR)
    assert classes(latest_audit(stage)) == {
        **{name: "in-sync" for name in ("edited-trust", "extra-policy", "longer-session", "deleted-by-hand",
                                        "in-sync")},
        "vendor-access": "external-unmanaged", "open-door": "external-unmanaged"}
    assert {name: role_state(stage, name) for name in UNMANAGED} == unmanaged_before


@pytest.mark.parametrize("remediation", ["fix"])
def test_fix_never_removes_a_role_being_provisioned_or_carrying_a_copied_mark(fake, clock, remediation):
    stage = make_timer_stage(fake, {"ROLEPACT_REMEDIATION": remediation})
    provision(stage, agreement("live", expires=T0 + timedelta(days=30)))
    admin = ram(stage.owner)
    description = get_role(stage, "live").description
    admin.create_role(ram_models.CreateRoleRequest(role_name="copycat", description=description,
                                                   assume_role_policy_document=trust(f"acs:ram::{A}:root")))
    tick_at(stage, clock, FIRST_AUDIT)
    audit = latest_audit(stage)
    [copycat] = [f for f in audit["findings"] if f["role"] == "copycat"]
    # rolepact's records say it did not create it: a copied (or forged) mark is reported, never acted on
    assert copycat["classification"] == "marked-unmanaged" and "copied" in " ".join(copycat["details"])
    assert copycat["remediation"] == []
    assert get_role(stage, "copycat") is not None
    assert role_state(stage, "live")[3] == sorted({("Custom", guard_policy_name("live")),
                                                   ("Custom", custom_policy_name("live", "ecs-restart-web")),
                                                   ("System", "AliyunECSFullAccess")})
