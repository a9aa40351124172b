"""Issue 11, divergence 1: in a bucket with versioning enabled or suspended OSS ignores
x-oss-forbid-overwrite, so none of rolepact's first-writer-wins records holds. rolepact must
refuse to act — an error log line, one alarm in DingTalk, a failing `rolepact doctor` check —
and never grant twice or send a notice twice."""
from __future__ import annotations

import json
from datetime import timedelta

import oss2
import pytest
from timer_support import (A, SEED_ROLE, T0, agreement, clock, fake, get_role, invocations, make_timer_stage,  # noqa: F401
                           provision, role_state, stage, tick_every_minute, titled)

ALARM = "rolepact stopped: its bucket is versioned"


def version(stage, status: str = oss2.BUCKET_VERSIONING_ENABLE) -> None:
    stage.oss().put_bucket_versioning(oss2.models.BucketVersioningConfig(status))


def timer_event(moment) -> bytes:
    return json.dumps({"triggerTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "every-minute",
                       "payload": '{"job": "expiry-enforcer"}'}).encode()


@pytest.mark.parametrize("status", [oss2.BUCKET_VERSIONING_ENABLE, oss2.BUCKET_VERSIONING_SUSPEND])
def test_two_files_claiming_one_agreement_in_a_versioned_bucket_grant_nothing(stage, capsys, status):
    version(stage, status)
    first = agreement("ops-b", expires=T0 + timedelta(days=30))
    second = agreement("ops-b", expires=T0 + timedelta(days=30), role="other-role")
    stage.upload("agreements/first.json", first)
    stage.upload("agreements/second.json", second)  # would win the claim too: forbid-overwrite is ignored

    assert get_role(stage, first["role"]["name"]) is None and get_role(stage, "other-role") is None
    assert stage.status("ops-b") is None
    assert stage.read_json("state/claims/ops-b.json") is None
    runs = invocations(stage, "agreement_intake")
    assert len(runs) == 2 and all(run.ok for run in runs)  # answered, not retried: retrying cannot help
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "BucketVersioned" in line]
    assert len(logged) == 2 and logged[0]["level"] == "ERROR" and logged[0]["versioning"] == status
    assert "refuses to act" in logged[0]["message"]
    assert len(titled(stage, ALARM)) == 1  # an alarm, not one per invocation
    assert not titled(stage, "granted") and len(stage.messages()) == 1


def test_duplicated_timer_ticks_on_a_versioned_bucket_send_no_notice_twice(stage, clock):
    expires = T0 + timedelta(days=10)
    provision(stage, agreement("ops-b", expires=expires))
    role_before = role_state(stage, SEED_ROLE)
    version(stage)

    moment = expires - timedelta(days=7) + timedelta(minutes=1)  # the 7-day notice is due
    clock.move_to(moment)
    for _ in range(3):  # FC delivers a timer event more than once now and then
        stage.fc.invoke_async(A, stage.wiring.service_name, "expiry_enforcer", timer_event(moment), source="timer")
    stage.deliver()
    tick_every_minute(stage, clock, moment, moment + timedelta(minutes=5))

    assert not titled(stage, "expires in")  # before: the notice went out once per delivery
    assert len(titled(stage, ALARM)) == 1
    assert role_state(stage, SEED_ROLE) == role_before  # nothing was changed either way


def test_the_alarm_repeats_hourly_while_the_bucket_stays_versioned(stage, clock):
    version(stage)
    tick_every_minute(stage, clock, T0, T0 + timedelta(minutes=3))
    clock.move_to(T0 + timedelta(hours=1, minutes=1))
    stage.tick()
    assert len(titled(stage, ALARM)) == 2


def test_an_unversioned_bucket_costs_one_versioning_read_per_invocation(stage):
    before = stage.cloud.calls.count("GetBucketVersioning", service="oss")
    provision(stage, agreement("ops-b", expires=T0 + timedelta(days=30)))
    runs = len(invocations(stage, "agreement_intake"))
    assert stage.cloud.calls.count("GetBucketVersioning", service="oss") - before == runs == 1


def test_rolepact_revoke_refuses_a_versioned_bucket_and_says_what_to_do(stage, monkeypatch, capsys):
    from shared import cli

    for name, value in stage.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", stage.owner.access_key_id)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", stage.owner.access_key_secret)
    version(stage)
    assert cli.main(["revoke", "--partner", "1345678901234567"]) == 2
    err = capsys.readouterr().err
    assert "versioning Enabled" in err and "ROLEPACT_BUCKET" in err and "Traceback" not in err
    assert stage.read_json("control/revoke-partner/1345678901234567") is None
