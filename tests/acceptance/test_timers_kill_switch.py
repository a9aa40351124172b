"""Issue #5, kill switch: `control/revoke-partner/<B>` (dropped by A) or `rolepact revoke --partner B`
ends every agreement of B, and only B's, and says so in DingTalk once."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from timer_support import (A, B, C, T0, agreement, assume, clock, fake, get_role, leftovers,  # noqa: F401
                           partner_user, provision, refused, stage, tick_at, titled, use_settings)

from shared import cli

EXPIRES = T0 + timedelta(days=30)


def three_agreements(stage):
    provision(stage, agreement("b-ecs", partner=B, expires=EXPIRES))
    provision(stage, agreement("b-later", partner=B, starts=T0 + timedelta(days=2), expires=EXPIRES))
    provision(stage, agreement("c-ecs", partner=C, expires=EXPIRES, external_id=None))


def assert_only_b_revoked(stage):
    for agreement_id in ("b-ecs", "b-later"):
        status = stage.status(agreement_id)
        assert status["state"] == "ended" and status["ended"]["reason"] == "revoked"
        assert get_role(stage, agreement_id) is None
        assert len(titled(stage, f"Agreement {agreement_id} revoked")) == 1
    assert stage.status("c-ecs")["state"] == "active"
    assert leftovers(stage)[0] == {"c-ecs"}
    [notice] = titled(stage, f"kill switch: partner {B} revoked")
    assert "b-ecs" in notice["text"] and "b-later" in notice["text"] and "c-ecs" not in notice["text"]


def test_dropping_the_control_object_ends_every_agreement_of_that_partner_at_the_next_tick(stage, clock):
    three_agreements(stage)
    alice = partner_user(stage, "alice")
    carol = partner_user(stage, "carol", account=C)
    assume(stage, alice, "b-ecs")
    clock.move_to(T0 + timedelta(hours=1, minutes=5))
    stage.upload(f"control/revoke-partner/{B}", {"reason": "contract terminated"})  # as A, with oss2
    assert stage.status("b-ecs")["state"] == "active"  # nothing happens before the tick

    tick_at(stage, clock, T0 + timedelta(hours=1, minutes=5, seconds=30))
    assert_only_b_revoked(stage)
    refused(lambda: assume(stage, alice, "b-ecs"), "EntityNotExist.Role")
    assume(stage, carol, "c-ecs", external_id=None)  # company-c keeps its access

    writes = stage.cloud.calls.count(service="ram", write=True)
    for minute in range(6, 10):  # re-processing repeats nothing
        tick_at(stage, clock, T0 + timedelta(hours=1, minutes=minute, seconds=30))
    assert stage.cloud.calls.count(service="ram", write=True) == writes
    assert_only_b_revoked(stage)


@pytest.fixture
def cli_env(stage, monkeypatch):
    """The environment an operator's shell has: A's access key and rolepact's configuration."""
    for name, value in stage.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", stage.owner.access_key_id)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", stage.owner.access_key_secret)
    monkeypatch.setenv("ROLEPACT_ACCOUNT_ID", A)
    monkeypatch.setenv("ROLEPACT_BUCKET", stage.bucket)


def test_rolepact_revoke_ends_them_immediately(stage, clock, cli_env, capsys):
    three_agreements(stage)
    clock.move_to(T0 + timedelta(hours=3))
    capsys.readouterr()  # the functions' own JSON logs so far
    assert cli.main(["revoke", "--partner", B, "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["partner"] == B and sorted(output["ended"]) == ["b-ecs", "b-later"]
    assert_only_b_revoked(stage)  # before any tick
    assert stage.read_json(f"control/revoke-partner/{B}")["by"] == "rolepact revoke"

    for minute in range(1, 4):  # the enforcer sees the same drop: handled already
        tick_at(stage, clock, T0 + timedelta(hours=3, minutes=minute))
    assert_only_b_revoked(stage)
    assert len(titled(stage, "kill switch: partner")) == 1

    clock.move_to(T0 + timedelta(hours=3, minutes=5))
    assert cli.main(["revoke", "--partner", "not-a-number"]) == 2


def test_an_agreement_the_kill_switch_could_not_end_is_retried_next_tick(stage, clock):
    three_agreements(stage)
    use_settings(stage, max_attempts=1)
    stage.cloud.faults.fail("DeleteRole", service="ram", nth=1, times=1, code="InternalError")
    clock.move_to(T0 + timedelta(hours=1, minutes=5))
    stage.upload(f"control/revoke-partner/{B}", b"")
    tick_at(stage, clock, T0 + timedelta(hours=1, minutes=5, seconds=30))
    states = {i: stage.status(i)["state"] for i in ("b-ecs", "b-later")}
    assert sorted(state == "ended" for state in states.values()) == [False, True]  # one failed, one ended
    [notice] = titled(stage, f"kill switch: partner {B} revoked")
    assert "Still being ended" in notice["text"]

    tick_at(stage, clock, T0 + timedelta(hours=1, minutes=6, seconds=30))
    for agreement_id in ("b-ecs", "b-later"):
        assert stage.status(agreement_id)["state"] == "ended"
    assert leftovers(stage)[0] == {"c-ecs"}
    assert len(titled(stage, "kill switch: partner")) == 1
