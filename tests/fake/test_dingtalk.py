"""Fake DingTalk custom robot through `requests`, the way webhook clients call it."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote_plus

import pytest
import requests
import time_machine
from iam_support import ACCOUNT_A
from iam_support import cloud  # noqa: F401 - shared fixtures

from fakecloud import FakeCrash
from fakecloud.wire import Request

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
SECRET = "SEC1a2b3c4d5e6f"


def signed(url: str, secret: str = SECRET, timestamp_ms: int | None = None) -> str:
    """The webhook URL with `timestamp` and `sign` exactly as DingTalk's docs compute them."""
    timestamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return f"{url}&timestamp={timestamp}&sign={quote_plus(base64.b64encode(digest))}"


def send(url: str, payload, **kwargs) -> dict:
    response = requests.post(url, json=payload, **kwargs)
    assert response.status_code == 200  # DingTalk answers every error with HTTP 200
    return response.json()


def text(content: str) -> dict:
    return {"msgtype": "text", "text": {"content": content}}


OK = {"errcode": 0, "errmsg": "ok"}

MESSAGES = {
    "text": ({"msgtype": "text", "text": {"content": "disk full on web-1"},
              "at": {"atMobiles": ["150XXXXXXXX"], "isAtAll": False}}, "disk full on web-1"),
    "markdown": ({"msgtype": "markdown",
                  "markdown": {"title": "Access granted", "text": "#### company-b\n> until 18:00"}},
                 "Access granted\n#### company-b\n> until 18:00"),
    "link": ({"msgtype": "link", "link": {"title": "Agreement", "text": "signed by both",
                                          "messageUrl": "https://example.com/a/1", "picUrl": ""}},
             "Agreement\nsigned by both"),
    "actionCard-single": ({"msgtype": "actionCard", "actionCard": {
        "title": "Approve?", "text": "company-b asks for ECS access", "btnOrientation": "0",
        "singleTitle": "Open", "singleURL": "https://example.com/approve"}},
        "Approve?\ncompany-b asks for ECS access\nOpen"),
    "actionCard-buttons": ({"msgtype": "actionCard", "actionCard": {
        "title": "Approve?", "text": "ECS access", "btnOrientation": "1",
        "btns": [{"title": "Yes", "actionURL": "https://example.com/y"},
                 {"title": "No", "actionURL": "https://example.com/n"}]}},
        "Approve?\nECS access\nYes\nNo"),
    "feedCard": ({"msgtype": "feedCard", "feedCard": {"links": [
        {"title": "one", "messageURL": "https://example.com/1", "picURL": "https://example.com/1.png"},
        {"title": "two", "messageURL": "https://example.com/2", "picURL": "https://example.com/2.png"}]}},
        "one\ntwo"),
}


# --------------------------------------------------------------------------- accepted messages

def test_robot_url_and_a_plain_text_message(cloud):
    url = cloud.add_dingtalk_robot(name="ops")
    assert re.fullmatch(r"https://oapi\.dingtalk\.com/robot/send\?access_token=[0-9a-f]{64}", url)

    with time_machine.travel(T0, tick=False):
        assert send(url, text("hello")) == OK

    [message] = cloud.backend("dingtalk").messages(url)
    assert (message["msgtype"], message["text"], message["payload"], message["received"]) == \
        ("text", "hello", text("hello"), T0)
    token = url.rsplit("=", 1)[1]
    assert cloud.backend("dingtalk").messages(token) == [message]
    assert cloud.backend("dingtalk").robot(url).messages == [message]
    assert cloud.backend("dingtalk").messages() == [message]


@pytest.mark.parametrize("kind", list(MESSAGES))
def test_every_message_type(cloud, kind):
    url = cloud.add_dingtalk_robot()
    payload, readable = MESSAGES[kind]
    assert send(url, payload) == OK
    [message] = cloud.backend("dingtalk").messages(url)
    assert (message["msgtype"], message["text"]) == (payload["msgtype"], readable)
    assert message["at"] == payload.get("at", {})


@pytest.mark.parametrize("payload", [
    {"msgtype": "text", "text": {}},
    {"msgtype": "text", "text": {"content": ""}},
    {"msgtype": "text"},
    {"msgtype": "markdown", "markdown": {"title": "t"}},
    {"msgtype": "markdown", "markdown": {"text": "t"}},
    {"msgtype": "link", "link": {"title": "t", "text": "x"}},
    {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x"}},
    {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "btns": []}},
    {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "btns": [{"title": "y"}]}},
    {"msgtype": "feedCard", "feedCard": {"links": []}},
    {"msgtype": "feedCard", "feedCard": {"links": [{"title": "t"}]}},
])
def test_missing_fields_are_param_errors(cloud, payload):
    url = cloud.add_dingtalk_robot()
    assert send(url, payload) == {"errcode": 300001, "errmsg": "param error"}
    assert cloud.backend("dingtalk").messages(url) == []


def test_bad_msgtype_and_bad_json(cloud):
    url = cloud.add_dingtalk_robot()
    assert send(url, {"msgtype": "image", "image": {}})["errcode"] == 400105
    assert send(url, {"text": {"content": "x"}})["errcode"] == 400105
    assert send(url, ["not", "an", "object"]) == {"errcode": 300001, "errmsg": "param error"}
    response = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.json() == {"errcode": 300001, "errmsg": "param error"}


# --------------------------------------------------------------------------- request-level errors

def test_token_method_and_content_type_errors(cloud):
    url = cloud.add_dingtalk_robot()
    unknown = "https://oapi.dingtalk.com/robot/send?access_token=" + "0" * 64
    assert send(unknown, text("x")) == {"errcode": 300001, "errmsg": "token is not exist"}
    assert send("https://oapi.dingtalk.com/robot/send", text("x"))["errcode"] == 40035
    get = requests.get(url)
    assert (get.status_code, get.json()["errcode"]) == (200, 43002)
    plain = requests.post(url, data=json.dumps(text("x")), headers={"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()["errcode"]) == (200, 43004)
    assert requests.post(url, data=json.dumps(text("x")),
                         headers={"Content-Type": "application/json;charset=utf-8"}).json() == OK


def test_body_size_limit(cloud):
    url = cloud.add_dingtalk_robot()
    envelope = len(json.dumps(text("")).encode())
    fits = text("x" * (20000 - envelope))
    assert len(json.dumps(fits).encode()) == 20000
    assert send(url, fits) == OK
    too_long = text("x" * (20001 - envelope))
    assert send(url, too_long) == {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"}
    assert len(cloud.backend("dingtalk").messages(url)) == 1


# --------------------------------------------------------------------------- security settings

def test_signature(cloud):
    url = cloud.add_dingtalk_robot(secret=SECRET)
    with time_machine.travel(T0, tick=False):
        now_ms = int(T0.timestamp() * 1000)
        assert send(signed(url), text("signed")) == OK
        assert send(url, text("unsigned")) == {"errcode": 310000, "errmsg": "invalid timestamp"}
        assert send(signed(url, secret="SECwrong"), text("x")) == {"errcode": 310000, "errmsg": "sign not match"}
        assert send(f"{url}&timestamp={now_ms}", text("x")) == {"errcode": 310000, "errmsg": "sign not match"}
        assert send(f"{url}&timestamp=soon&sign=abc", text("x"))["errmsg"] == "invalid timestamp"
        # A URL signed now is good for an hour either way, then expires.
        early = signed(url, timestamp_ms=now_ms - 59 * 60 * 1000)
        assert send(early, text("59 minutes old")) == OK
        assert send(signed(url, timestamp_ms=now_ms + 59 * 60 * 1000), text("x")) == OK
        assert send(signed(url, timestamp_ms=now_ms + 61 * 60 * 1000), text("x"))["errmsg"] == "invalid timestamp"
        reused = signed(url)
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        assert send(reused, text("late")) == {"errcode": 310000, "errmsg": "invalid timestamp"}
    texts = [m["text"] for m in cloud.backend("dingtalk").messages(url)]
    assert texts == ["signed", "59 minutes old", "x"]


def test_signature_is_checked_only_when_the_robot_has_a_secret(cloud):
    url = cloud.add_dingtalk_robot()
    assert send(signed(url, secret="SECanything"), text("x")) == OK


def test_keywords(cloud):
    url = cloud.add_dingtalk_robot(keyword="rolepact")
    assert send(url, text("hello")) == {"errcode": 310000, "errmsg": "keywords not in content"}
    assert send(url, text("[rolepact] access granted")) == OK
    md = {"msgtype": "markdown", "markdown": {"title": "rolepact", "text": "granted"}}
    assert send(url, md) == OK  # the title counts
    several = cloud.add_dingtalk_robot(keyword=["alert", "rolepact"])
    assert send(several, text("an alert")) == OK
    assert send(several, text("Alert")) == {"errcode": 310000, "errmsg": "keywords not in content"}
    with pytest.raises(ValueError):
        cloud.add_dingtalk_robot(keyword=[f"k{n}" for n in range(11)])


def test_secret_and_keyword_together(cloud):
    url = cloud.add_dingtalk_robot(secret=SECRET, keyword="rolepact")
    assert send(url, text("rolepact"))["errmsg"] == "invalid timestamp"
    assert send(signed(url), text("nope"))["errmsg"] == "keywords not in content"
    assert send(signed(url), text("rolepact")) == OK


# --------------------------------------------------------------------------- rate limit

def test_rate_limit_is_20_accepted_messages_per_rolling_minute(cloud):
    cloud.backend("dingtalk").overflow_lockout = None  # the rolling window alone
    url = cloud.add_dingtalk_robot(keyword="ok")
    other = cloud.add_dingtalk_robot()
    with time_machine.travel(T0, tick=False) as traveller:
        for _ in range(5):  # refused messages do not count
            assert send(url, text("no keyword"))["errcode"] == 310000
        for n in range(20):
            assert send(url, text(f"ok {n}")) == OK
        assert send(url, text("ok 21st")) == {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        assert send(other, text("another robot has its own budget")) == OK
        traveller.shift(timedelta(seconds=59))
        assert send(url, text("ok still"))["errcode"] == 130101
        traveller.shift(timedelta(seconds=1, microseconds=1))
        assert send(url, text("ok again")) == OK
    assert len(cloud.backend("dingtalk").messages(url)) == 21


def test_overflow_locks_the_robot_out_for_ten_minutes_by_default(cloud):
    """Custom-robot doc: more than 20 a minute -> throttled for 10 minutes."""
    url = cloud.add_dingtalk_robot()
    with time_machine.travel(T0, tick=False) as traveller:
        for n in range(20):
            assert send(url, text(f"{n}")) == OK
        assert send(url, text("overflow"))["errcode"] == 130101
        traveller.shift(timedelta(minutes=5))
        assert send(url, text("still locked"))["errcode"] == 130101
        traveller.shift(timedelta(minutes=5, seconds=1))
        assert send(url, text("free")) == OK
    assert [code for _, code in cloud.backend("dingtalk").robot(url).refusals] == [130101, 130101]


def test_monthly_quota_has_its_own_error_until_the_month_ends_in_china_time(cloud):
    backend = cloud.backend("dingtalk")
    backend.monthly_quota = 2
    url = cloud.add_dingtalk_robot()
    with time_machine.travel(datetime(2027, 3, 31, 15, 0, tzinfo=timezone.utc), tick=False) as traveller:
        assert send(url, text("1")) == OK and send(url, text("2")) == OK
        assert send(url, text("3")) == {"errcode": 90030, "errmsg": "webhook over limit"}
        traveller.shift(timedelta(hours=1))  # 16:00 UTC = midnight in China: April
        assert send(url, text("4")) == OK


# --------------------------------------------------------------------------- accounting, trail, faults, server mode

def test_calls_are_counted_and_recorded_in_the_owners_trail(cloud):
    cloud.add_account(ACCOUNT_A, "company-a")
    delivered = []
    cloud.trail.subscribe(lambda account, event: delivered.append(event))
    owned = cloud.add_dingtalk_robot(keyword="rolepact", account_id=ACCOUNT_A, name="ops-alerts")
    anonymous = cloud.add_dingtalk_robot()

    send(owned, text("rolepact hi"))
    send(owned, text("hi"))
    send(anonymous, text("hi"))
    send("https://oapi.dingtalk.com/robot/send?access_token=nope", text("hi"))

    assert cloud.calls.count("robot.send", service="dingtalk") == 4
    assert cloud.calls.count("robot.send", service="dingtalk", ok=True) == 2
    assert cloud.calls.count("robot.send", service="dingtalk", account_id=ACCOUNT_A) == 2
    events = cloud.trail.events(ACCOUNT_A)
    assert [(e["eventName"], e["serviceName"], e["eventSource"], e.get("errorCode")) for e in events] == [
        ("SendRobotMessage", "DingTalk", "oapi.dingtalk.com", None),
        ("SendRobotMessage", "DingTalk", "oapi.dingtalk.com", "310000")]
    assert events[1]["errorMessage"] == "keywords not in content" and "userIdentity" not in events[0]
    assert delivered == []  # fake-only events are not published to EventBridge subscribers
    with pytest.raises(ValueError):
        cloud.add_dingtalk_robot(account_id="9999999999999999")


def test_injected_faults(cloud):
    url = cloud.add_dingtalk_robot()
    cloud.faults.fail("robot.send", service="dingtalk")
    assert send(url, text("x")) == {"errcode": -1, "errmsg": "系统繁忙"}
    cloud.faults.fail("robot.send", service="dingtalk", code="Throttling")
    assert send(url, text("x"))["errcode"] == 130101
    cloud.faults.crash_after("robot.send", service="dingtalk")
    with pytest.raises(FakeCrash):
        requests.post(url, json=text("delivered, then the sender died"))
    assert [m["text"] for m in cloud.backend("dingtalk").messages(url)] == ["delivered, then the sender died"]


def test_server_mode_routes_by_path(cloud):
    url = cloud.add_dingtalk_robot()
    token = url.rsplit("=", 1)[1]
    response = cloud.handle(Request.build(
        "POST", f"http://127.0.0.1:8765/robot/send?access_token={token}",
        {"Host": "127.0.0.1:8765", "Content-Type": "application/json"}, json.dumps(text("local")).encode(),
        peer_ip="127.0.0.1"))
    assert (response.status, json.loads(response.body)) == (200, OK)
    assert cloud.backend("dingtalk").messages(url)[0]["text"] == "local"
