"""Review (issue 12, item 11): small inputs must not become floods. One hostile 64 KiB file is one bounded
refusal (one DingTalk message, a small status record); partner-chosen session names do not each make an
alert; a kill-switch notice is sent before whatever junk waits in the outbox."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from audit_support import (B, C, T0, alerts, clock, fake, keys, provision, read_object, record,  # noqa: F401
                           seed_doc, session_caller, stage, tick, trail_event)
from conftest import SEED_ID, SEED_KEY, make_stage, notices, seed

from shared.notify import MAX_MESSAGE_BYTES
from test_review_notices import ACTIVE


def hostile_file(size: int = 64 * 1024) -> bytes:
    """A valid-looking agreement padded to `size` with thousands of unknown fields, each quoting markdown."""
    doc = seed()
    n = 0
    while len(json.dumps(doc).encode("utf-8")) < size - 200:
        doc[f'[click {n:05d}](https://evil.example/"{n}")'] = [n]
        n += 1
    return json.dumps(doc).encode("utf-8")


def test_a_hostile_64k_file_is_one_message_and_a_small_record(cloud):
    stage = make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])
    data = hostile_file()
    assert 60 * 1024 < len(data) <= 64 * 1024
    stage.upload(SEED_KEY, data)
    stage.tick(datetime.now(timezone.utc) + timedelta(minutes=2))  # the enforcer drains the outbox
    rejections = [n for n in notices(stage) if "rejected" in n["title"]]
    assert len(rejections) == 1, [n["title"] for n in rejections]
    assert len(rejections[0]["text"].encode("utf-8")) <= MAX_MESSAGE_BYTES
    assert "more" in rejections[0]["text"]  # says that it does not list them all
    assert not keys(stage, "outbox/")
    record = stage.oss().get_object(f"status/{SEED_ID}.json").read()
    assert len(record) < 64 * 1024, len(record)
    assert json.loads(record)["state"] == "rejected"


def test_partner_chosen_session_names_make_one_alert_not_one_each(stage, clock):
    """Sessions from a third account (unknown-principal, high), each with its own name, each event
    delivered by EventBridge in its own invocation: one incident, one alert naming the sessions."""
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    for n in range(25):
        caller = session_caller(session=f"x{n:02d}-[renew](https://evil.example)", player=C)
        record(stage, trail_event(caller, "StopInstance", at=T0 + timedelta(seconds=n)))
    tick(stage, clock, T0 + timedelta(minutes=2))  # the enforcer drains the outbox
    found = alerts(stage) + [m for m in (json.loads(read_object(stage, k)) for k in keys(stage, "outbox/"))
                             if m["title"].startswith("rolepact audit alert")]
    assert len(found) == 1, [a["title"] for a in found]
    assert "not alerted again" in found[0]["text"]
    assert not ACTIVE.search(found[0]["text"]), found[0]["text"]  # the session name is shown as text


def test_a_kill_switch_notice_goes_before_the_junk_in_the_outbox(cloud):
    stage = make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])
    stage.upload(SEED_KEY, seed())
    robot = stage.cloud.backend("dingtalk")
    robot.rate_limit = 0  # DingTalk refuses everything for a while: messages wait in the outbox
    for n in range(30):  # someone floods the bucket with refused files
        stage.upload(f"agreements/junk-{n:02d}.json", b"not json")
    assert len(keys(stage, "outbox/")) >= 30
    stage.upload(f"control/revoke-partner/{B}", b"{}")
    robot.rate_limit = 20
    sent = len(notices(stage))
    # the enforcer, once the robot's 10-minute lockout (which its refusals started) is over:
    # kill switch, then the outbox
    import time_machine

    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=11), tick=False):
        stage.tick()
    delivered = [n["title"] for n in notices(stage)[sent:]]
    assert delivered[0] == f"rolepact kill switch: partner {B} revoked", delivered[:3]
