"""DingTalk custom group robot: expiry notices and findings for the humans in the owner's group.

DingTalk answers HTTP 200 for errors too, so the `errcode` in the body decides. The access
token (in the webhook URL) and the signature are credentials: they never reach a log or an
error message. Nothing is retried here: DingTalk counts every message it takes towards its 20 a
minute, and a post whose answer was lost (a timeout, a 502) may have been taken, so one call is
one post, made on the send slot the caller claimed (shared/notify.py). Failures that may pass
(130101, -1, 5xx, no answer) are raised as retryable CloudErrors: the caller queues the message
and sends it again later, on a slot of its own.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import quote_plus

import dataclasses

from shared.errors import CloudError
from shared.gateways.retry import call_with_retry

SERVICE, ACTION = "dingtalk", "robot.send"
TIMEOUT = 10  # seconds
RATE_LIMITED = 130101
BUSY = -1  # "系统繁忙": worth trying again later too


class DingTalkError(CloudError):
    """An `errcode` answer; `.errcode` is DingTalk's number, `.code` is `DingTalk.<errcode>`."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(SERVICE, ACTION, f"DingTalk.{errcode}", errmsg, status=200)
        self.errcode = errcode

    @property
    def retryable(self) -> bool:
        return self.errcode in (RATE_LIMITED, BUSY)


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's "加签": url-encoded base64 HMAC-SHA256 of "<timestamp>\\n<secret>" keyed by the secret."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


class DingTalkGateway:
    def __init__(self, webhook: str, secret: str | None = None, *, settings=None) -> None:
        import requests

        if settings is None:
            from shared.settings import Settings

            settings = Settings(account_id="")
        self.settings = settings
        self._one_attempt = dataclasses.replace(settings, max_attempts=1)  # see the module doc
        self._webhook = webhook
        self._secret = secret
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"DingTalkGateway(signed={self._secret is not None})"

    def send_markdown(self, title: str, text: str, at: dict | None = None) -> None:
        """`at`: DingTalk's {"atMobiles": [...], "atUserIds": [...], "isAtAll": bool}."""
        self._send({"msgtype": "markdown", "markdown": {"title": title, "text": text}, **({"at": at} if at else {})})

    def send_text(self, content: str, at: dict | None = None) -> None:
        self._send({"msgtype": "text", "text": {"content": content}, **({"at": at} if at else {})})

    def _url(self) -> str:
        if not self._secret:
            return self._webhook
        timestamp = int(self.settings.clock().timestamp() * 1000)
        separator = "&" if "?" in self._webhook else "?"
        return f"{self._webhook}{separator}timestamp={timestamp}&sign={sign(self._secret, timestamp)}"

    def _send(self, message: dict) -> None:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json;charset=utf-8"}

        def post():
            response = self._session.post(self._url(), data=body, headers=headers, timeout=TIMEOUT)
            if response.status_code != 200:
                raise CloudError(SERVICE, ACTION, f"HTTP{response.status_code}", response.reason or "",
                                 status=response.status_code)
            return response

        response = call_with_retry(post, service=SERVICE, action=ACTION, settings=self._one_attempt)
        try:
            answer = response.json()
        except ValueError:
            raise CloudError(SERVICE, ACTION, "UnexpectedResponse", "DingTalk answered with no JSON body", status=200)
        if not isinstance(answer, dict):
            raise CloudError(SERVICE, ACTION, "UnexpectedResponse", "DingTalk answered with no JSON object", status=200)
        try:
            errcode = int(answer.get("errcode", 0))
        except (TypeError, ValueError):
            errcode = BUSY
        if errcode != 0:
            raise DingTalkError(errcode, str(answer.get("errmsg", "")))
