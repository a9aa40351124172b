"""Issue #6 acceptance, part 4: DingTalk — signature, errcodes, rate, split, never losing a report."""
from __future__ import annotations

import json
from datetime import timedelta

from alibabacloud_ram20150501 import models as ram_models

from audit_support import (  # noqa: F401 - fixtures
    C, ROLE, T0, alerts, clock, digests, fake, keys, next_digest_time, notices, owner_admin, provision, ram,
    read_object, record, run_audit_timer, seed_doc, session_caller, stage, tick, trail_event, use_settings,
)
from shared.audit.config import AuditConfig, reset_config
from shared.local.stage import ROBOT_SECRET
from shared.notify import MAX_MESSAGE_BYTES


def robot_calls(stage) -> int:
    return stage.cloud.calls.count(service="dingtalk")


def outbox(stage) -> list[dict]:
    return [json.loads(read_object(stage, key)) for key in keys(stage, "outbox/")]


def drift(stage, admin, description: str) -> None:
    ram(admin).update_role(ram_models.UpdateRoleRequest(role_name=ROLE, new_description=description))
    stage.deliver()


def saved_alerts(stage) -> list[str]:
    return [read_object(stage, key).decode("utf-8") for key in keys(stage, "reports/alerts/")]


def test_messages_are_signed_and_a_refused_signature_is_kept_not_retried_then_sent(stage, clock):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    admin = owner_admin(stage)
    drift(stage, admin, "first")
    [alert] = alerts(stage)  # the robot checks the signature (it has a secret): accepted

    use_settings(stage, dingtalk_secret="SEC" + "00" * 30)  # a wrong secret: errcode 310000 "sign not match"
    calls = robot_calls(stage)
    drift(stage, admin, "second")
    assert robot_calls(stage) - calls == 1  # 310000 is not worth an immediate retry ...
    assert len(alerts(stage)) == 1
    [queued] = outbox(stage)  # ... the message is kept
    assert "drift" in queued["title"]
    assert len(saved_alerts(stage)) == 2  # and the alert was saved to reports/ before the send

    use_settings(stage, dingtalk_secret=ROBOT_SECRET)  # the operator fixes the secret
    clock.move_to(T0 + timedelta(minutes=1))
    run_audit_timer(stage)  # each audit run drains the outbox first (the enforcer does every minute)
    assert len(alerts(stage)) == 2 and outbox(stage) == []
    assert alerts(stage)[1]["text"] == saved_alerts(stage)[1]


def test_the_rate_limit_answer_is_queued_and_sent_later(stage, clock):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    admin = owner_admin(stage)
    robot = stage.cloud.backend("dingtalk")
    robot.rate_limit = 0  # every send: errcode 130101 "send too fast"
    calls = robot_calls(stage)
    drift(stage, admin, "first")
    # 130101: the function does not block on it; the message waits in the outbox (the back-off)
    assert robot_calls(stage) - calls == 1
    assert alerts(stage) == [] and len(outbox(stage)) == 1

    robot.rate_limit = 20
    calls = robot_calls(stage)
    tick(stage, clock, T0 + timedelta(minutes=1))  # 130101 means a 10-minute lockout: nobody sends meanwhile
    assert robot_calls(stage) == calls and alerts(stage) == []
    tick(stage, clock, T0 + timedelta(minutes=11))  # the first tick after the lockout drains the outbox
    [alert] = alerts(stage)
    assert "drift" in alert["title"] and outbox(stage) == []


def test_audit_alerts_keep_to_their_share_of_the_robots_rate(stage, clock):
    reset_config(AuditConfig(alerts_per_minute=2))
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    admin = owner_admin(stage)
    calls = robot_calls(stage)
    for n in range(3):  # three incidents, three batches, the same minute
        drift(stage, admin, f"change {n}")
    assert robot_calls(stage) - calls == 2 and len(alerts(stage)) == 2
    assert len(outbox(stage)) == 1  # the third waits, without a refused call
    tick(stage, clock, T0 + timedelta(minutes=1))
    assert len(alerts(stage)) == 3


def test_a_long_report_is_split_into_messages_dingtalk_takes(stage, clock):
    for n in range(6):
        provision(stage, seed_doc(expires=T0 + timedelta(days=30), agreementId=f"partner-{n}",
                                  role={"name": f"ops-{n}", "description": f"ops {n}", "maxSessionDurationSeconds": 3600}))
        for m in range(20):  # sessions assumed from company-c: 20 high findings per agreement
            record(stage, trail_event(session_caller(role=f"ops-{n}", session=f"intruder-{m:02d}", player=C),
                                      "DescribeInstances", read=True, at=T0 - timedelta(minutes=30, seconds=m)),
                   deliver=False)
    tick(stage, clock, T0 + timedelta(minutes=15))
    [alert] = alerts(stage)  # 120 findings (20 sessions x 6 agreements), one incident per agreement: one message
    assert "6 high-severity incidents" in alert["title"]
    assert alert["text"].count("20 sessions: intruder-00, intruder-01") == 6

    tick(stage, clock, next_digest_time(T0))
    parts = digests(stage)
    assert len(parts) >= 2
    count = len(parts)
    assert [p["title"][-len(f"({count}/{count})"):] for p in parts] == [f"({n}/{count})" for n in range(1, count + 1)]
    for part in parts:
        assert len(part["text"].encode("utf-8")) <= MAX_MESSAGE_BYTES
    [saved] = [k for k in keys(stage, "reports/digest/") if k.endswith(".md")]
    assert "\n\n".join(p["text"] for p in parts) == read_object(stage, saved).decode("utf-8")  # nothing lost
    for n in range(6):
        assert any(f"#### partner-{n}" in p["text"] for p in parts)


def test_the_report_is_kept_in_oss_when_sending_fails_and_sent_later(stage, clock):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    tick(stage, clock, T0 + timedelta(minutes=15))  # the first audit run
    stage.cloud.faults.fail(service="dingtalk", code="InternalError", times=10_000)  # the robot is down
    tick(stage, clock, next_digest_time(T0))
    assert digests(stage) == []
    [saved] = [k for k in keys(stage, "reports/digest/") if k.endswith(".md")]
    text = read_object(stage, saved).decode("utf-8")
    assert "rolepact access audit digest" in text and "company-b-ecs-admin" in text
    assert text.splitlines()[0].removeprefix("### ") in [m["title"] for m in outbox(stage)]

    stage.cloud.faults.clear()  # the robot is back: the next tick sends it
    tick(stage, clock, next_digest_time(T0) + timedelta(minutes=1))
    [digest] = digests(stage)
    assert digest["text"] == text and outbox(stage) == []
