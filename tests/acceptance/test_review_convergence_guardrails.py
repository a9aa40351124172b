"""Review (issue 12, item 7): every convergence — enforcer, worker, fix-mode auditor, a redelivered intake
event — re-checks the guardrails, the documents RAM returns for system policies included. A forged
status record cannot get a privileged system policy (AliyunFCFullAccess: ram:PassRole) attached."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from alibabacloud_ram20150501 import models as ram_models
from timer_support import (T0, agreement, attached, clock, fake, make_timer_stage, provision, ram,  # noqa: F401
                           stage, tick_at, titled, use_settings)

from shared.records import stamp

EXPIRES = T0 + timedelta(days=30)
PASS_ROLE_POLICY = ("System", "AliyunFCFullAccess")


def forge(status: dict, policy: str = "AliyunFCFullAccess") -> dict:
    """The applied agreement text in a status record, rewritten to grant one more system policy."""
    doc = json.loads(status["agreementText"])
    doc["policies"].append({"type": "System", "name": policy})
    return dict(status, agreementText=json.dumps(doc, indent=2))


def test_the_enforcer_refuses_a_forged_record_with_an_escalating_system_policy(stage, clock):
    provision(stage, agreement("b-ecs", expires=EXPIRES))
    before = attached(stage, "b-ecs")
    stage.upload("status/b-ecs.json", forge(stage.status("b-ecs")))
    stage.upload(f"schedule/{stamp(T0)}/b-ecs/expire", {})
    tick_at(stage, clock, T0 + timedelta(minutes=1))
    assert PASS_ROLE_POLICY not in attached(stage, "b-ecs")
    assert attached(stage, "b-ecs") == before
    [notice] = titled(stage, "not applied: its record breaks the guardrails")
    assert "ram:PassRole" in notice["text"]


def test_the_worker_refuses_it_too(fake, clock):
    """Fan-out: more agreements due than the threshold go to reconcile_worker, which must check as well."""
    stage = make_timer_stage(fake, fanout_threshold=1, fanout_batch_size=5)
    for name in ("w-1", "w-2", "w-3"):
        provision(stage, agreement(name, expires=EXPIRES))
        stage.upload(f"status/{name}.json", forge(stage.status(name)))
        stage.upload(f"schedule/{stamp(T0)}/{name}/expire", {})
    tick_at(stage, clock, T0 + timedelta(minutes=1))
    assert [i for i in stage.fc.invocations if i.function == "reconcile_worker"]
    for name in ("w-1", "w-2", "w-3"):
        assert PASS_ROLE_POLICY not in attached(stage, name)


GRANTABLE_FC = {"ROLEPACT_GRANTABLE_SERVICES": "ecs,vpc,fc,ram:PassRole"}  # the owner allows FC, and its PassRole


def test_the_fix_mode_auditor_does_not_re_attach_after_the_exemption_was_removed(fake, clock):
    """Granted while AliyunFCFullAccess was exempt; the exemption is removed and an admin detaches the policy;
    the auditor in fix mode must not put it back."""
    stage = make_timer_stage(fake, {"ROLEPACT_ALLOW_PRIVILEGED_POLICIES": "AliyunFCFullAccess",
                                    "ROLEPACT_REMEDIATION": "fix", **GRANTABLE_FC})
    provision(stage, agreement("b-fc", expires=EXPIRES, system=("AliyunFCFullAccess",)))
    assert PASS_ROLE_POLICY in attached(stage, "b-fc")
    rails = dataclasses.replace(stage.settings.guardrails, allowed_privileged_policies=frozenset())
    use_settings(stage, guardrails=rails)
    ram(stage.owner).detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunFCFullAccess", role_name="b-fc"))
    tick_at(stage, clock, T0.replace(minute=0, second=30) + timedelta(hours=1))  # the hourly audit, fix mode
    assert [i for i in stage.fc.invocations if i.function == "role_auditor"]
    assert PASS_ROLE_POLICY not in attached(stage, "b-fc")


def test_a_redelivered_upload_event_does_not_re_attach_after_the_exemption_was_removed(fake, clock):
    """The same file again (not a new revision) after the exemption went away: refused, not re-granted."""
    stage = make_timer_stage(fake, {"ROLEPACT_ALLOW_PRIVILEGED_POLICIES": "AliyunFCFullAccess", **GRANTABLE_FC})
    doc = agreement("b-fc", expires=EXPIRES, system=("AliyunFCFullAccess",))
    provision(stage, doc)
    rails = dataclasses.replace(stage.settings.guardrails, allowed_privileged_policies=frozenset())
    use_settings(stage, guardrails=rails)
    ram(stage.owner).detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunFCFullAccess", role_name="b-fc"))
    stage.upload("agreements/b-fc.json", doc)
    assert PASS_ROLE_POLICY not in attached(stage, "b-fc")
    assert stage.status("b-fc")["lastUpload"]["result"] == "rejected"
