"""TrailGateway (ActionTrail LookupEvents) and DingTalkGateway against fakecloud."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from gateway_support import OWNER, PARTNER, cloud, owner, settings_for, trust  # noqa: F401

from shared.errors import CloudError
from shared.gateways import Gateways
from shared.gateways.dingtalk import DingTalkGateway, sign

SECRET = "SEC0123456789abcdef"
TRUST = trust(f"acs:ram::{PARTNER}:root")


def window():
    now = datetime.now(timezone.utc)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


class lookups:  # noqa: N801 - used like a function: `with lookups(cloud) as seen:`
    """The LookupEvents requests the fake receives while the block runs."""

    def __init__(self, cloud) -> None:
        self.cloud, self.requests = cloud, []

    def __enter__(self):
        original = self._original = self.cloud.handle

        def spy(request):
            if request.headers.get("x-acs-action") == "LookupEvents":
                self.requests.append(request)
            return original(request)

        self.cloud.handle = spy
        return self

    def __exit__(self, *exc) -> None:
        self.cloud.handle = self._original


# -- ActionTrail ----------------------------------------------------------------------------------------

def test_lookup_events_pages_with_identical_parameters(cloud, owner):
    _, _, gateways = owner
    for n in range(60):
        gateways.ram.create_role(f"role-{n:02d}", TRUST, "d", 3600, {})
    start, end = window()
    with lookups(cloud) as seen:
        events = list(gateways.trail.lookup_events(start, end, region="cn-hangzhou",
                                                   attributes=[("EventName", "CreateRole")]))
    assert len(events) == 60 and {e["eventName"] for e in events} == {"CreateRole"}
    assert len({e["eventId"] for e in events}) == 60
    assert events[0]["eventTime"] >= events[-1]["eventTime"]  # newest first
    assert [r.host for r in seen.requests] == ["actiontrail.cn-hangzhou.aliyuncs.com"] * 2
    first, second = (dict(r.query) for r in seen.requests)
    assert "NextToken" not in first and second.pop("NextToken")
    assert first == second and first["MaxResults"] == "50"
    assert first["LookupAttribute.1.Key"] == "EventName" and first["StartTime"].endswith("Z")


def test_lookup_events_is_lazy_and_survives_throttling(cloud, owner):
    _, settings, gateways = owner
    for n in range(30):
        gateways.ram.create_role(f"role-{n:02d}", TRUST, "d", 3600, {})
    start, end = window()
    pages = gateways.trail.lookup_events(start, end, region="cn-hangzhou", max_results=10,
                                         attributes=[("ServiceName", "Ram"), ("EventName", "CreateRole")])
    assert cloud.calls.count("LookupEvents") == 0  # nothing fetched until iterated
    cloud.faults.fail("LookupEvents", nth=2, code="Throttling.User")
    assert len(list(pages)) == 30
    assert cloud.calls.count("LookupEvents") == 3 + 1 and len(settings.sleep) == 1


def test_global_ram_events_live_in_cn_hangzhou_only(cloud):
    root = cloud.add_account(OWNER)
    gateways = Gateways.connect(settings_for(root, region="cn-shanghai"))
    gateways.ram.create_role("r", TRUST, "d", 3600, {})
    start, end = window()
    attributes = [("EventName", "CreateRole")]
    with lookups(cloud) as seen:
        assert list(gateways.trail.lookup_events(start, end, attributes=attributes)) == []
        assert len(list(gateways.trail.lookup_events(start, end, region="cn-hangzhou", attributes=attributes))) == 1
    assert [r.host for r in seen.requests] == ["actiontrail.cn-shanghai.aliyuncs.com",
                                               "actiontrail.cn-hangzhou.aliyuncs.com"]


def test_invalid_query_is_not_retried(cloud, owner):
    _, settings, gateways = owner
    start, end = window()
    with pytest.raises(CloudError) as raised:
        list(gateways.trail.lookup_events(end, start))  # end before start
    assert raised.value.status == 400 and raised.value.service == "actiontrail" and settings.sleep == []


# -- DingTalk -------------------------------------------------------------------------------------------------

def test_signed_messages_are_accepted(cloud, owner):
    _, settings, _ = owner
    webhook = cloud.add_dingtalk_robot(secret=SECRET)
    bundle = Gateways.connect(settings_for(owner[0], dingtalk_webhook=webhook, dingtalk_secret=SECRET))
    bundle.dingtalk.send_markdown("Access ends tomorrow", "### ecs-admin\nends **tomorrow**",
                                  at={"atMobiles": ["13800000000"]})
    DingTalkGateway(webhook, SECRET, settings=settings).send_text("plain text")
    first, second = cloud.backend("dingtalk").messages(webhook)
    assert first["msgtype"] == "markdown" and first["payload"]["markdown"]["title"] == "Access ends tomorrow"
    assert first["at"] == {"atMobiles": ["13800000000"]}
    assert second["payload"] == {"msgtype": "text", "text": {"content": "plain text"}}


def test_signature_uses_the_settings_clock(cloud, owner):
    _, settings, _ = owner
    webhook = cloud.add_dingtalk_robot(secret=SECRET)
    sent = []
    moment = datetime.now(timezone.utc)
    gateway = DingTalkGateway(webhook, SECRET, settings=settings_for(owner[0], clock=lambda: moment))
    original = gateway._session.post
    gateway._session.post = lambda url, **kw: sent.append(url) or original(url, **kw)
    gateway.send_text("hi")
    query = parse_qs(urlsplit(sent[0]).query)
    timestamp = int(moment.timestamp() * 1000)
    assert query["timestamp"] == [str(timestamp)]
    assert unquote_plus(sign(SECRET, timestamp)) == query["sign"][0]

    stale = DingTalkGateway(webhook, SECRET, settings=settings_for(owner[0], clock=lambda: moment - timedelta(hours=2)))
    with pytest.raises(CloudError) as raised:
        stale.send_text("hi")
    assert (raised.value.code, raised.value.message) == ("DingTalk.310000", "invalid timestamp")


def test_wrong_secret_is_not_retryable(cloud, owner):
    _, settings, _ = owner
    webhook = cloud.add_dingtalk_robot(secret=SECRET)
    with pytest.raises(CloudError) as raised:
        DingTalkGateway(webhook, "SECwrong", settings=settings).send_text("hi")
    error = raised.value
    assert (error.service, error.code, error.status, error.message) == ("dingtalk", "DingTalk.310000", 200,
                                                                         "sign not match")
    assert not error.retryable and settings.sleep == [] and cloud.calls.count("robot.send") == 1


def test_rate_limit_is_a_retryable_error_left_to_the_caller(cloud, owner):
    _, settings, _ = owner
    webhook = cloud.add_dingtalk_robot(secret=SECRET)
    cloud.backend("dingtalk").rate_limit = 2
    gateway = DingTalkGateway(webhook, SECRET, settings=settings)
    gateway.send_text("1")
    gateway.send_text("2")
    with pytest.raises(CloudError) as raised:
        gateway.send_text("3")
    assert raised.value.code == "DingTalk.130101" and raised.value.retryable and raised.value.errcode == 130101
    assert cloud.calls.count("robot.send") == 3 and settings.sleep == []  # the caller decides when to retry


def test_unsigned_robot(cloud, owner):
    webhook = cloud.add_dingtalk_robot(keyword="rolepact")
    gateway = DingTalkGateway(webhook, None, settings=owner[1])
    gateway.send_text("rolepact: hello")
    with pytest.raises(CloudError, match="DingTalk.310000"):
        gateway.send_text("no keyword")


def test_token_and_sign_never_reach_logs_or_errors(cloud, owner, caplog):
    _, settings, _ = owner
    webhook = cloud.add_dingtalk_robot(secret=SECRET)
    token = parse_qs(urlsplit(webhook).query)["access_token"][0]
    unreachable = webhook.replace("oapi.dingtalk.com", "oapi.dingtalk.invalid")
    errors = []
    with caplog.at_level(logging.DEBUG):
        DingTalkGateway(webhook, SECRET, settings=settings).send_text("ok")
        for gateway in (DingTalkGateway(webhook, "SECwrong", settings=settings),
                        DingTalkGateway(unreachable, SECRET, settings=settings)):
            with pytest.raises(CloudError) as raised:
                gateway.send_text("x")
            errors.append(raised.value)
    assert errors[1].code == "ConnectionError" and errors[1].retryable
    assert settings.sleep == []  # one post per claimed send slot: the caller retries later, on another slot
    text = caplog.text + " ".join(str(e) + repr(e.to_dict()) for e in errors)
    assert token not in text and SECRET not in text and "sign=" not in text.replace("sign=***", "")
    assert "DingTalkGateway(signed=True)" == repr(DingTalkGateway(webhook, SECRET, settings=settings))


def test_a_lost_answer_is_never_sent_again_by_the_gateway(cloud, owner):
    """DingTalk counts every message it takes towards its 20 a minute, answered or not. A 502 from
    the gateway in front of the robot after the robot took the message must not make the gateway
    post it again: each post is one of the send slots rolepact claimed (shared/notify.py), so the
    caller queues the message and retries it later on a slot of its own."""
    _, settings, _ = owner
    webhook = cloud.add_dingtalk_robot(secret=SECRET)
    cloud.faults.fail("robot.send", service="dingtalk", code="BadGateway", status=502, after=True, times=10)
    with pytest.raises(CloudError) as raised:
        DingTalkGateway(webhook, SECRET, settings=settings).send_text("rolepact: once")
    assert raised.value.code == "HTTP502" and raised.value.retryable
    assert [m["text"] for m in cloud.backend("dingtalk").messages(webhook)] == ["rolepact: once"]
    assert cloud.calls.count("robot.send") == 1 and settings.sleep == []
