"""Red team: an ending (the file deleted) racing a timer that is writing RAM for the same agreement.

Every function may run concurrently with every other. Whatever the interleaving, once the agreement's
file is gone the agreement must end and stay ended: a slower timer run must not write the agreement
back to live, and no later run (a timer, the auditor in fix mode) may grant it again.
"""
from __future__ import annotations

from datetime import timedelta

from alibabacloud_ram20150501 import models as ram_models
from test_review_races import once_on_write
from timer_support import (T0, agreement, clock, fake, get_role, provision, ram, stage, tick_at,  # noqa: F401
                           use_settings)

from shared.documents import custom_policy_name

EXPIRES = T0 + timedelta(days=30)
CUSTOM = custom_policy_name("b-ecs", "ecs-restart-web")


def drift(stage) -> None:
    """Someone detaches a policy by hand: the next reconcile re-attaches it (a RAM write)."""
    ram(stage.owner).detach_policy_from_role(ram_models.DetachPolicyFromRoleRequest(
        policy_type="Custom", policy_name=CUSTOM, role_name="b-ecs"))


def test_a_deletion_during_a_timers_repair_is_not_undone(stage, clock):
    provision(stage, agreement("b-ecs", starts=T0 + timedelta(minutes=10), expires=EXPIRES))
    drift(stage)
    fired = once_on_write(stage, "AttachPolicyToRole", lambda: stage.delete("agreements/b-ecs.json"))
    tick_at(stage, clock, T0 + timedelta(minutes=10))  # the start marker: the enforcer repairs the drift
    assert fired
    assert stage.status("b-ecs")["state"] == "ended"
    use_settings(stage, remediation="fix")
    tick_at(stage, clock, T0 + timedelta(hours=1))  # the auditor in fix mode, and the next tick
    assert stage.status("b-ecs")["state"] == "ended" and get_role(stage, "b-ecs") is None


def test_a_timer_between_an_endings_removal_and_its_record_leaves_no_role(stage, clock):
    """The other order: the ending has deleted the role but not yet recorded "ended" when the timer runs; the
    timer still reads the agreement as live and creates the role again. The ending must not finish with a
    role in RAM for an agreement it recorded as ended."""
    provision(stage, agreement("b-ecs", starts=T0 + timedelta(minutes=10), expires=EXPIRES))
    clock.move_to(T0 + timedelta(minutes=10))
    fired = once_on_write(stage, "DeleteRole", lambda: stage.tick())  # the start marker is due now
    stage.delete("agreements/b-ecs.json")
    assert fired
    tick_at(stage, clock, T0 + timedelta(minutes=11))
    assert stage.status("b-ecs")["state"] == "ended" and get_role(stage, "b-ecs") is None


def test_a_deletion_whose_event_never_matches_still_ends_the_agreement(stage, clock):
    """The file is deleted but its removal event never names it under any decoding rolepact tries (here: a key
    encoded twice on its way). The hourly auditor must not call the role in-sync, and the agreement must end."""
    import json
    from urllib.parse import quote

    key = "agreements/b ecs.json"
    provision(stage, agreement("b-ecs", expires=EXPIRES), key=key)
    [trigger] = stage.fc.triggers_of_type("oss")
    stage.fc.remove_trigger(trigger.account_id, trigger.service_name, trigger.function_name, trigger.name,
                            region=trigger.region)
    stage.delete(key)
    payload = json.loads(stage.cloud.backend("oss").notifications[-1].payload)
    payload["events"][0]["oss"]["object"]["key"] = quote(quote(key, safe="/"), safe="/")
    stage.fc.invoke_async(trigger.account_id, trigger.service_name, trigger.function_name,
                          json.dumps(payload).encode("utf-8"), region=trigger.region, source="oss")
    stage.deliver()
    assert stage.status("b-ecs")["state"] == "active"  # the event matched nothing
    tick_at(stage, clock, T0.replace(minute=0, second=30) + timedelta(hours=1))  # the hourly auditor
    keys = sorted(k.key for k in stage.oss().list_objects("audit/roles/").object_list)
    [finding] = [f for f in stage.read_json(keys[-1])["findings"] if f["role"] == "b-ecs"]
    assert finding["classification"] != "in-sync" and finding["severity"] == "high"
    tick_at(stage, clock, T0.replace(minute=0, second=30) + timedelta(hours=1, minutes=1))
    status = stage.status("b-ecs")
    assert status["state"] == "ended" and status["ended"]["reason"] == "deleted"
    assert get_role(stage, "b-ecs") is None
