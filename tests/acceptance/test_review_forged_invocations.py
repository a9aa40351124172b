"""Review (issue 12, item 5): the handlers do not trust whoever invokes them. With only fc:InvokeFunction
one can send any timer, destination or EventBridge payload: tick claims come from rolepact's clock, every
text that reaches DingTalk is shown without a live link, and pushed ActionTrail events become findings
or alerts only once LookupEvents confirms them."""
from __future__ import annotations

import json
import re
from datetime import timedelta

from audit_support import (A, AUDIT, C, T0, alerts, clock, cloud_event, fake, invoke_audit, keys,  # noqa: F401
                           provision, record, run_audit_timer, seed_doc, session_caller, stage, stored, tick,
                           trail_event)
from test_review_notices import ACTIVE
from timer_support import agreement, make_timer_stage, notices, titled

LIVE = re.compile(r"(?i)\b(?:https?|dingtalk)://|\bwww\.|[a-z0-9]@[a-z0-9-]+\.[a-z]")  # what a renderer autolinks
EVIL = "[Renew now](https://evil.example/login) <https://evil.example> www.evil.example ops@evil.example"


def no_live_link(text: str) -> None:
    assert not ACTIVE.search(text), text
    assert not LIVE.search(text), text
    assert "evil.example" in text  # still shown, as text


def test_future_trigger_times_cannot_hold_off_the_kill_switch(fake, clock):
    stage = make_timer_stage(fake)
    provision_timer = agreement("b-ops", expires=T0 + timedelta(days=30))
    stage.upload("agreements/b-ops.json", provision_timer)
    assert stage.status("b-ops")["state"] == "active"
    for minute in range(1, 31):  # an invoker sends the timer events of the next half hour, now
        event = {"triggerTime": (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "triggerName": "every-minute", "payload": '{"job": "expiry-enforcer"}'}
        stage.fc.invoke_async(A, stage.wiring.service_name, "expiry_enforcer", json.dumps(event).encode(),
                              source="timer")
    stage.deliver()
    stage.upload(f"control/revoke-partner/{provision_timer['partner']['accountId']}", b"{}")
    clock.move_to(T0 + timedelta(minutes=1))
    stage.tick()  # the real timer of the next minute
    assert stage.status("b-ops")["state"] == "ended"


def test_a_forged_failure_destination_posts_no_live_link(fake, clock):
    stage = make_timer_stage(fake)
    destination = {"requestContext": {"requestId": "forged-1", "condition": EVIL, "approximateInvokeCount": EVIL},
                   "requestPayload": json.dumps({"agreementIds": [EVIL]}), "responsePayload": EVIL}
    stage.fc.invoke_sync(A, stage.wiring.service_name, "expiry_enforcer", json.dumps(destination).encode())
    [message] = titled(stage, "reconcile batch failed")
    no_live_link(message["text"])


def test_agreement_fields_reach_dingtalk_without_a_live_link(fake, clock):
    stage = make_timer_stage(fake)
    doc = agreement("b-ext", expires=T0 + timedelta(days=30), external_id="https://evil.example/renew")
    stage.upload("agreements/b-ext.json", doc)
    [granted] = titled(stage, "Agreement b-ext granted")
    no_live_link(granted["text"])
    stage.upload("agreements/www.evil.example.json", b"{broken")
    [refused] = [n for n in notices(stage) if "rejected" in n["title"]]
    assert not LIVE.search(refused["title"] + refused["text"])


def test_alerts_show_partner_chosen_session_names_without_a_live_link(stage, clock):
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    for session in ("www.evil.example", "ops@evil.example"):
        record(stage, trail_event(session_caller(session=session, player=C), "StopInstance"))
    found = alerts(stage)
    assert found
    for alert in found:
        no_live_link(alert["text"])


def test_a_forged_actiontrail_event_is_never_stored_found_or_alerted(stage, clock):
    """Sessions from a third account doing DeleteInstance would be two high findings — but ActionTrail
    never recorded it: nothing stored, nothing alerted, now or after a day of retries."""
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    forged = trail_event(session_caller(session="intruder", player=C), "DeleteInstance")
    answer = invoke_audit(stage, cloud_event(forged))
    assert answer["unconfirmed"] == 1 and answer["stored"] == 0
    assert stored(stage) == [] and stored(stage, "audit/findings/") == [] and alerts(stage) == []
    tick(stage, clock, T0 + timedelta(minutes=15))
    assert keys(stage, "audit/pending/")  # still waiting for ActionTrail
    tick(stage, clock, T0 + timedelta(hours=25))
    assert not keys(stage, "audit/pending/")  # never confirmed: dropped
    assert forged["eventId"] not in {e["eventId"] for e in stored(stage)}
    assert alerts(stage) == []


def test_a_pushed_event_that_actiontrail_confirms_later_is_processed_then(stage, clock):
    """EventBridge can be faster than LookupEvents: the event waits and the next timer run confirms it."""
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    event = trail_event(session_caller(session="intruder", player=C), "DeleteInstance")
    assert invoke_audit(stage, cloud_event(event))["unconfirmed"] == 1
    assert alerts(stage) == []
    stage.cloud.trail.record(A, event, publish=False)  # ActionTrail has it now
    result = run_audit_timer(stage)
    assert result["pending"]["confirmed"] == 1
    assert event["eventId"] in {e["eventId"] for e in stored(stage)}
    assert alerts(stage)


def test_only_a_presigned_link_to_this_deployments_reports_is_ever_live(fake, clock):
    """The digest's link to its HTML page is the one live link rolepact sends. Outbox messages wait in the
    bucket, so a bucket writer could queue one with a `link` of their own; the sink makes a link live only
    when it is a presigned URL of this deployment's `reports/`, and drops slots an input smuggled in."""
    from shared.notify import LINK_SLOT

    stage = make_timer_stage(fake)
    own = stage.oss().sign_url("GET", "reports/digest/x.html", 3600, slash_safe=True)
    forged = {
        "evil": "https://evil.example/reports/x.html?Signature=x",
        "other-prefix": own.replace("/reports/", "/status/"),
        "breaks-markdown": own + ")[x](https://evil.example",
    }
    for name, url in forged.items():
        stage.upload(f"outbox/20270101T000000Z-{name}.json",
                     {"title": f"rolepact forged {name}", "text": f"{LINK_SLOT} {EVIL}", "link": {"label": "Renew", "url": url}})
    stage.upload("outbox/20270101T000000Z-0-garbage.json", ["not", "a", "message"])  # must not wedge the queue
    stage.upload("outbox/20270101T000001Z-own.json",
                 {"title": "rolepact own link", "text": f"**{LINK_SLOT}** {EVIL} {LINK_SLOT}",
                  "link": {"label": "Open [x](y)", "url": own}})
    clock.move_to(T0 + timedelta(minutes=1))
    stage.tick()  # the enforcer drains the outbox
    for name in forged:
        [message] = titled(stage, f"forged {name}")
        no_live_link(message["text"])
        assert LINK_SLOT not in message["text"]
    assert stage.read_json("outbox/20270101T000000Z-0-garbage.json") is None
    [message] = titled(stage, "own link")
    # one live link, to the report — signed again by rolepact itself (whoever queued it signed `own`)
    [live] = re.findall(r"\]\((https://[^)\s]+)\)", message["text"])
    assert message["text"].count("](") == 1 and live.split("?")[0] == own.split("?")[0]
    assert "security-token=" in live and stage.owner.access_key_id not in live
    no_live_link(message["text"].replace(f"]({live})", "]"))
    assert LINK_SLOT not in message["text"]
