"""DingTalk custom group robots ("自定义机器人"): their security settings and accepted messages.

What a robot enforces, in the order the fake checks it:
1. signing ("加签", when created with a secret): `timestamp` (ms) within 1 hour of now and
   `sign` = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), url-encoded in the URL;
2. body size (more than `max_body_bytes` bytes) and message shape per msgtype;
3. custom keywords: the text a human would read must contain one of them;
4. rate: `rate_limit` accepted messages per rolling minute per robot; the message that goes over it
   locks the robot out for `overflow_lockout` (10 minutes, on by default: the custom-robot doc says
   "每个机器人每分钟最多发送20条。如果超过20条，会限流10分钟"), every send refused with 130101 meanwhile;
5. monthly quota: `monthly_quota` accepted messages per calendar month (UTC+8) per robot, then
   90030 `webhook over limit` until the month ends (default None = no quota; the quota depends on
   the organisation's DingTalk edition).

Every error is an `errcode`/`errmsg` pair (HTTP 200 on the wire); codes are those of
docs/fake-fidelity.md §g. Choices where the real service is not documented, marked [?]:
- body too long: 460101 `message too long, exceed 20000 bytes`;
- body not JSON, or a required field missing: 300001 `param error`;
- msgtype missing or unknown: 400105 `不支持的消息类型`;
- the lockout answer is the rate-limit answer (130101), and refused sends during it do not extend it;
- the quota error is 90030 `webhook over limit` (3P captures), counted in China time (UTC+8).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from fakecloud import ids
from fakecloud.errors import ServiceError

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token="
CHINA_OFFSET = timedelta(hours=8)
MSG_TYPES = ("text", "markdown", "link", "actionCard", "feedCard")


class DingTalkError(ServiceError):
    """A robot error; a ServiceError so `cloud.run_call` treats it like any service's error."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(str(errcode), errmsg, 200)
        self.errcode = errcode
        self.errmsg = errmsg


def _param_error() -> DingTalkError:
    return DingTalkError(300001, "param error")


def sign(secret: str, timestamp: int | str) -> str:
    """The (not yet url-encoded) signature a client computes for `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _text(value) -> str:
    if not isinstance(value, str) or not value:
        raise _param_error()
    return value


def readable_text(payload: dict) -> tuple[str, str]:
    """(msgtype, the text a human reads) of a message; raises when the shape is wrong."""
    msgtype = payload.get("msgtype")
    if msgtype not in MSG_TYPES:
        raise DingTalkError(400105, "不支持的消息类型")
    body = payload.get(msgtype)
    if not isinstance(body, dict):
        raise _param_error()
    if msgtype == "text":
        return msgtype, _text(body.get("content"))
    if msgtype == "markdown":
        return msgtype, f"{_text(body.get('title'))}\n{_text(body.get('text'))}"
    if msgtype == "link":
        _text(body.get("messageUrl"))
        return msgtype, f"{_text(body.get('title'))}\n{_text(body.get('text'))}"
    if msgtype == "actionCard":
        parts = [_text(body.get("title")), _text(body.get("text"))]
        buttons = body.get("btns")
        if buttons is not None:
            if not isinstance(buttons, list) or not buttons:
                raise _param_error()
            for button in buttons:
                if not isinstance(button, dict):
                    raise _param_error()
                _text(button.get("actionURL"))
                parts.append(_text(button.get("title")))
        else:
            _text(body.get("singleURL"))
            parts.append(_text(body.get("singleTitle")))
        return msgtype, "\n".join(parts)
    links = body.get("links")
    if not isinstance(links, list) or not links:
        raise _param_error()
    titles = []
    for link in links:
        if not isinstance(link, dict):
            raise _param_error()
        _text(link.get("messageURL"))
        titles.append(_text(link.get("title")))
    return msgtype, "\n".join(titles)


@dataclass
class Robot:
    access_token: str
    secret: str | None
    keywords: list[str]
    name: str
    account_id: str | None
    created: datetime
    messages: list[dict] = field(default_factory=list)
    accepted_at: deque = field(default_factory=deque)  # times of accepted messages, last minute
    throttled_until: datetime | None = None
    monthly_quota: int | None = None  # None: the backend's
    month: str = ""  # "YYYY-MM" (UTC+8) of `sent_this_month`
    sent_this_month: int = 0
    refusals: list = field(default_factory=list)  # (time, errcode) of every refused send

    @property
    def url(self) -> str:
        return WEBHOOK + self.access_token


def token_of(access_token_or_url: str) -> str:
    if "://" in access_token_or_url or "?" in access_token_or_url:
        values = parse_qs(urlsplit(access_token_or_url).query).get("access_token")
        return values[0] if values else ""
    return access_token_or_url


class DingTalkBackend:
    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.robots: dict[str, Robot] = {}
        self._seq = itertools.count()  # global arrival order of accepted messages
        self.rate_limit = 20  # accepted messages per rolling minute per robot
        self.max_body_bytes = 20000
        self.timestamp_window = timedelta(hours=1)
        self.overflow_lockout: timedelta | None = timedelta(minutes=10)  # None = refuse only the overflow
        self.monthly_quota: int | None = None  # accepted messages per robot per month; None = unlimited

    # -- test-facing API --------------------------------------------------------------------------
    def add_robot(self, secret: str | None = None, keyword: str | list[str] | None = None, *,
                  name: str | None = None, account_id: str | None = None) -> str:
        """Create a robot in a group and return its webhook URL.

        `keyword` is one keyword or a list (DingTalk allows up to 10); `account_id` makes its
        sends appear in that account's ActionTrail (a fake extension).
        """
        keywords = [keyword] if isinstance(keyword, str) else list(keyword or [])
        if len(keywords) > 10:
            raise ValueError("a robot has at most 10 keywords")
        if account_id is not None and account_id not in self.cloud.accounts:
            raise ValueError(f"unknown account {account_id}")
        token = ids.hex_id(64)
        with self.cloud.lock:
            self.robots[token] = Robot(token, secret, keywords, name or f"robot-{len(self.robots) + 1}",
                                       account_id, self.cloud.now())
        return WEBHOOK + token

    def robot(self, access_token_or_url: str) -> Robot:
        return self.robots[token_of(access_token_or_url)]

    def messages(self, access_token_or_url: str | None = None) -> list[dict]:
        """Accepted messages (of one robot, or of all in arrival order)."""
        with self.cloud.lock:
            if access_token_or_url is not None:
                return list(self.robot(access_token_or_url).messages)
            return sorted((m for r in self.robots.values() for m in r.messages), key=lambda m: m["seq"])

    # -- rules -------------------------------------------------------------------------------------
    def check_signature(self, robot: Robot, timestamp: str | None, signature: str | None, now: datetime) -> None:
        if robot.secret is None:
            return
        if not timestamp or not timestamp.lstrip("-").isdigit():
            raise DingTalkError(310000, "invalid timestamp")
        sent = datetime.fromtimestamp(int(timestamp) / 1000, tz=now.tzinfo)
        if abs(now - sent) > self.timestamp_window:
            raise DingTalkError(310000, "invalid timestamp")
        if not signature or not hmac.compare_digest(signature, sign(robot.secret, timestamp)):
            raise DingTalkError(310000, "sign not match")

    def accept(self, robot: Robot, payload: dict, now: datetime) -> dict:
        """Validate shape, keywords and rate of a (size- and signature-checked) message and keep it."""
        msgtype, text = readable_text(payload)
        if robot.keywords and not any(k in text for k in robot.keywords):
            raise DingTalkError(310000, "keywords not in content")
        if robot.throttled_until is not None and now < robot.throttled_until:
            raise DingTalkError(130101, "send too fast, exceed 20 times per minute")
        month = (now + CHINA_OFFSET).strftime("%Y-%m")
        if robot.month != month:
            robot.month, robot.sent_this_month = month, 0
        quota = robot.monthly_quota if robot.monthly_quota is not None else self.monthly_quota
        if quota is not None and robot.sent_this_month >= quota:
            raise DingTalkError(90030, "webhook over limit")
        window_start = now - timedelta(minutes=1)
        while robot.accepted_at and robot.accepted_at[0] <= window_start:
            robot.accepted_at.popleft()
        if len(robot.accepted_at) >= self.rate_limit:
            if self.overflow_lockout is not None:
                robot.throttled_until = now + self.overflow_lockout
            raise DingTalkError(130101, "send too fast, exceed 20 times per minute")
        robot.accepted_at.append(now)
        robot.sent_this_month += 1
        message = {"msgtype": msgtype, "payload": payload, "text": text, "at": payload.get("at") or {},
                   "received": now, "robot": robot.name, "access_token": robot.access_token,
                   "seq": next(self._seq)}
        robot.messages.append(message)
        return message
