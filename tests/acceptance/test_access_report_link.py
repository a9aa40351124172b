"""Issue #15 acceptance: the digest's DingTalk message links to its HTML page with a presigned OSS URL.

The link is followed like a person would, with a plain HTTP client and no credentials, against the
fake OSS (signatures verified). It is signed by the access-audit function with FC's temporary
credentials of the service role, so it carries the STS token and OSS honours the shorter of the
URL's and the token's validity: rolepact caps the link at 23 h (FC documents 36 h credentials that
never expire during an invocation) and the message states the expiry that really holds.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import requests

from audit_support import clock, digests, fake, notices, stage, tick  # noqa: F401 - fixtures
from report_support import seed_with_a_digest
from shared.audit.config import AuditConfig, reset_config
from shared.gateways.oss import ObjectStore
from shared.settings import Credentials, Endpoints, Settings

LINK = re.compile(r"\*\*\[Open the HTML report \(charts\)\]\((?P<url>[^)\s]+)\)\*\* — link valid until "
                  r"(?P<until>\d{4}-\d\d-\d\d \d\d:\d\d) UTC")


def _link(stage) -> tuple[str, datetime]:
    [digest] = digests(stage)
    match = LINK.search(digest["text"])
    assert match, digest["text"][:600]
    until = datetime.strptime(match["until"], "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    return match["url"], until


def test_the_message_links_to_the_page_until_the_time_it_states(stage, clock):
    made = seed_with_a_digest(stage, clock)  # the digest runs at 00:15 the next day
    url, until = _link(stage)
    sent_at = datetime.now(timezone.utc)
    assert until == (sent_at + timedelta(hours=23)).replace(second=0)  # 7 days asked, 23 h possible with STS

    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    assert answer.content.decode("utf-8") == made["page"]

    # the URL carries a key id, its expiry, the signature and the STS token — never a secret
    parts = urlsplit(url)
    assert parts.netloc == "rolepact-data.oss-cn-hangzhou.aliyuncs.com" and parts.path == "/" + made["page_key"]
    query = parse_qs(parts.query)
    assert set(query) == {"OSSAccessKeyId", "Expires", "Signature", "security-token"}
    key = stage.cloud.keys.get(query["OSSAccessKeyId"][0])
    assert key is not None and key.kind == "sts" and key.session.role_name == "rolepact-fc-role"
    assert key.secret not in url and key.secret not in made["page"]
    assert "security-token" not in made["page"] and url not in made["page"]

    # nobody gets in without the signature, or with it on another object
    assert requests.get(f"{parts.scheme}://{parts.netloc}{parts.path}", timeout=10).status_code == 403
    other = url.replace(parts.path, parts.path.replace(".html", ".json"))
    assert requests.get(other, timeout=10).status_code == 403

    clock.move_to(until - timedelta(minutes=1))
    assert requests.get(url, timeout=10).status_code == 200
    clock.move_to(until + timedelta(minutes=1))
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403 and "Request has expired" in expired.text


def test_a_shorter_lifetime_is_honoured(stage, clock):
    reset_config(AuditConfig(report_link_lifetime=timedelta(hours=2)))
    seed_with_a_digest(stage, clock)
    url, until = _link(stage)
    assert until == (datetime.now(timezone.utc) + timedelta(hours=2)).replace(second=0)
    clock.move_to(until - timedelta(minutes=1))
    assert requests.get(url, timeout=10).status_code == 200
    clock.move_to(until + timedelta(minutes=1))
    assert requests.get(url, timeout=10).status_code == 403


def test_links_point_at_the_public_endpoint_when_fc_uses_the_internal_one():
    settings = Settings(account_id="1234567890123456", credentials=Credentials("LTAI5tExample000000000000", "secret"),
                        endpoints=Endpoints(oss="oss-cn-hangzhou-internal.aliyuncs.com"))
    store = ObjectStore(settings)
    url = store.presigned_get_url("reports/digest/20270302T000000Z.html", 3600)
    assert urlsplit(url).netloc == "rolepact-data.oss-cn-hangzhou.aliyuncs.com"
    assert not store.temporary_credentials
    assert ObjectStore(Settings(account_id="1", credentials=Credentials("STS.x", "y", "token"))).temporary_credentials


def test_only_the_digest_link_to_its_own_page_stays_live(stage, clock):
    """DingTalk messages are defanged at the sink (no input may post a live link); the digest's presigned
    link to its own page is the one exception, judged from the URL itself. A message someone forged into
    the outbox with links that look like it — another host, another key of the bucket, a path that climbs
    out of reports/digest/, credentials in the host — is still defanged."""
    made = seed_with_a_digest(stage, clock)
    url, _ = _link(stage)  # live: the link a person clicks
    host = "rolepact-data.oss-cn-hangzhou.aliyuncs.com"
    page = made["page_key"]
    lookalikes = [f"https://{host}.evil.example/{page}", f"https://{host}/agreements/company-b-ecs-admin.json",
                  f"https://{host}/reports/digest/../../agreements/x.html", f"https://{host}@evil.example/{page}",
                  f"http://{host}/{page}", f"https://{host}/{page}#https://evil.example", url.replace(host, "evil.example")]
    text = "rolepact forged\n\n" + "\n\n".join(f"[Open the HTML report (charts)]({link})" for link in lookalikes)
    stage.upload("outbox/2027-03-02T00-16-00Z-forged.json", {"title": "rolepact forged", "text": text,
                                                             "agreementId": None}, deliver=False)
    tick(stage, clock, datetime.now(timezone.utc) + timedelta(minutes=1))  # the enforcer drains the outbox
    [forged] = [n for n in notices(stage) if n["title"] == "rolepact forged"]
    assert "](" not in forged["text"] and "https://" not in forged["text"] and "http://" not in forged["text"]
    assert forged["text"].count("[Open the HTML report (charts)] (https[:]//") == len(lookalikes) - 1



def test_the_link_is_recognised_as_rolepacts_own_on_a_path_style_endpoint_too():
    """The fake's server mode (and any IP endpoint) gets path-style URLs, `host/bucket/reports/…`: the
    digest's link must stay live there as well, and a neighbour bucket's reports must not."""
    settings = Settings(account_id="1234567890123456", credentials=Credentials("STS.x", "secret", "token"),
                        endpoints=Endpoints(oss="127.0.0.1:8765", protocol="http"))
    store = ObjectStore(settings)
    url = store.presigned_get_url("reports/digest/20270302T000000Z.html", 3600)
    assert urlsplit(url).path == "/rolepact-data/reports/digest/20270302T000000Z.html"
    assert store.is_own_report_url(url)
    assert not store.is_own_report_url(url.replace("/rolepact-data/", "/other-bucket/"))
    assert not store.is_own_report_url(url.replace("/reports/", "/agreements/"))
