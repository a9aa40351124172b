"""Red team: what a writer of rolepact's bucket can do to the owner's DingTalk through the outbox.

`outbox/` holds messages waiting for the robot; whoever can write the bucket can put objects there. The
safe outcome: no object there stops rolepact (or its other notices), and none becomes a live link to
anything but a report rolepact itself signed.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

from audit_support import clock, fake  # noqa: F401 - the access audit's fixtures (frozen time)
from conftest import SEED_ID, SEED_KEY, failed_invocations, make_stage, notices, owner_user, seed

from shared.notify import LINK_SLOT

LIVE = re.compile(r"\]\((?P<url>[^)\s]+)\)")


def tick_minutes(stage, minutes: int) -> None:
    import time_machine

    with time_machine.travel(stage.settings.now(), tick=False) as traveller:
        for _ in range(minutes):
            traveller.shift(timedelta(minutes=1))
            stage.tick()


def test_an_outbox_object_that_is_not_json_stops_nothing(cloud):
    """Non-JSON bytes (or a raw disk image exported there) at the head of the outbox: intake still grants and
    notifies, the enforcer still ticks, and the object is removed."""
    stage = make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])
    stage.upload("outbox/0-garbage.json", b"\xff\xfe not json at all", deliver=False)
    stage.upload("outbox/0-text.json", b"plain text", deliver=False)
    stage.upload(SEED_KEY, seed())
    assert stage.status(SEED_ID)["state"] == "active"
    assert not failed_invocations(stage)
    tick_minutes(stage, 2)
    assert not failed_invocations(stage)
    assert any(n["title"] == f"rolepact: Agreement {SEED_ID} granted" for n in notices(stage))
    assert stage.read_json("outbox/0-garbage.json") is None


def test_a_forged_outbox_link_signed_by_someone_else_is_not_made_live(cloud):
    """mallory (who may read and write the bucket) writes a page under reports/, presigns it with her own
    key and queues a message whose link is that URL, labelled with a URL of her own. The one live link a
    message may carry is one rolepact signed itself; a label is text."""
    stage = make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])
    _, mallory = owner_user(stage, "mallory")
    as_mallory = stage.oss(mallory)
    as_mallory.put_object("reports/digest/renew.html", b"<h1>Sign in to renew your agreements</h1>")
    url = as_mallory.sign_url("GET", "reports/digest/renew.html", 7 * 86400, slash_safe=True)
    message = {"title": "rolepact: agreements expire today", "text": f"### Renew now\n\n{LINK_SLOT}\n\n— rolepact",
               "link": {"label": "https://evil.example/renew", "url": url}, "urgent": True}
    as_mallory.put_object("outbox/0-19990101T000000Z-forged.json", json.dumps(message).encode("utf-8"))
    tick_minutes(stage, 1)
    [sent] = [n for n in notices(stage) if "Renew now" in n["text"]]
    for link in LIVE.finditer(sent["text"]):
        signed_by = dict(p.split("=", 1) for p in link["url"].split("?", 1)[1].split("&")).get("OSSAccessKeyId")
        assert signed_by != mallory.access_key_id, sent["text"]
    assert "https://evil.example" not in sent["text"]


def test_a_partner_session_cannot_use_a_presigned_url_into_rolepacts_bucket(stage):
    """A URL presigned with the partner's own session is the partner's request: the guard denies it."""
    import requests
    from conftest import assume, partner_user

    stage.upload(SEED_KEY, seed())
    session = assume(stage, partner_user(stage, "alice"), "alice")
    bucket = stage.oss(session)
    for method, key in (("GET", f"status/{SEED_ID}.json"), ("PUT", "agreements/mine.json"),
                        ("GET", SEED_KEY), ("DELETE", SEED_KEY)):
        url = bucket.sign_url(method, key, 600, slash_safe=True)
        answer = requests.request(method, url, data=b"{}" if method == "PUT" else None, timeout=10)
        assert answer.status_code == 403, (method, key, answer.status_code)



def test_a_partners_text_cannot_place_the_digests_trusted_link(fake, clock, monkeypatch):  # noqa: F811
    """What partners choose (a session name in an event the digest lists) carries the link's slot: the one
    live link (the HTML report) must stay where rolepact put it, not move next to the partner's text."""
    import report_support
    from audit_support import digests, make_audit_stage

    monkeypatch.setattr(report_support, "HOSTILE_SESSION", f"renew-here-{LINK_SLOT}")
    stage = make_audit_stage(fake)
    report_support.seed_with_a_digest(stage, clock)
    [digest] = digests(stage)
    [live] = LIVE.finditer(digest["text"])
    before = digest["text"][:live.start()]
    assert before.rstrip().endswith("**[Open the HTML report (charts)"), digest["text"][live.start() - 200:live.end()]
    assert "\u2063" not in digest["text"]
