"""Review: what lands in the owner's DingTalk group. Object keys and file content are written by
whoever can upload (with approved uploaders configured: also by those who are *not* approved, whose
files are refused with a notice). They must not become live markdown — links, images, HTML — in
a message that carries rolepact's name."""
from __future__ import annotations

import json
import re

from conftest import SEED_ID, SEED_KEY, make_stage, notices, seed

# an inline link or image, or an HTML / autolink tag, that a markdown renderer would make active
ACTIVE = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(|(?<!\\)<(?:img|a\s|https?:|script|iframe)", re.IGNORECASE)


def test_review_a_refused_upload_cannot_put_a_link_into_the_owners_dingtalk(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_APPROVED_UPLOADERS": "someone-else"})
    key = "agreements/[Agreement expiring - renew here](https://evil.example/login)<img src=x>.json"
    doc = seed(role__description="x")
    doc["![logo](https://evil.example/pixel.png)"] = "[click](https://evil.example/)"  # an unknown field
    stage.upload(key, doc)
    [notice] = [n for n in notices(stage) if "rejected" in n["title"]]
    assert "evil.example" in notice["text"]  # the refusal still says what was refused ...
    assert not ACTIVE.search(notice["text"]), notice["text"]  # ... as text, not as a link or image


def test_review_a_granted_notice_shows_file_content_as_text(stage):
    """Policy documents and descriptions from the file appear in the "RAM changes" list."""
    doc = seed()
    doc["policies"][1]["document"]["Statement"][0]["Resource"] = "acs:ecs:*:*:instance/[renew](https://evil.example/)"
    stage.upload(SEED_KEY, doc)
    [notice] = [n for n in notices(stage) if "granted" in n["title"]]
    assert "evil.example" in notice["text"]
    assert not ACTIVE.search(notice["text"]), notice["text"]


def test_review_an_oversized_notice_never_wedges_the_dingtalk_queue(cloud):
    """A refused file whose problems quote many `"` (JSON doubles each one on the wire) makes a notice
    under rolepact's 18 000-byte text limit but over DingTalk's 20 000-byte body limit. It must still
    arrive (split), and above all not sit at the head of the outbox forever, holding back every
    later notice (expiry warnings, kill switch, audit alerts)."""
    stage = make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])
    doc = seed()
    for i in range(400):
        doc[f'{i:03d}' + '"' * 60] = 0  # 400 unknown fields, each quoted twice in the notice
    stage.upload("agreements/quotes.json", json.dumps(doc).encode("utf-8"))
    rejected = [n for n in notices(stage) if "agreements/quotes.json" in n["title"]]
    assert rejected, "the refusal was never delivered"

    stage.upload(SEED_KEY, seed())
    import time_machine
    from datetime import timedelta

    with time_machine.travel(stage.settings.now(), tick=False) as traveller:
        for _ in range(3):  # the enforcer drains the outbox, 10 sends a minute
            traveller.shift(timedelta(minutes=1))
            stage.tick()
    assert [n for n in notices(stage) if n["title"] == f"rolepact: Agreement {SEED_ID} granted"]
