"""DingTalk robot wire layer: `POST /robot/send?access_token=…[&timestamp=…&sign=…]` with a JSON body.

Not a POP service: no AccessKey, no RAM. Every send goes through `cloud.run_call` (so fault
rules on service "dingtalk", action "robot.send" apply: an injected 502/503/504 comes back as
that HTTP status with no JSON, like a gateway in front of the robot; any other injected fault
as DingTalk's own errcode), is counted in `cloud.calls`, and —
when the robot belongs to an account — recorded in that account's ActionTrail as
`DingTalk`/`SendRobotMessage` (a fake extension: real ActionTrail does not see DingTalk).
"""
from __future__ import annotations

import json

from fakecloud import ids
from fakecloud.clock import iso
from fakecloud.errors import FakeCrash, ServiceError
from fakecloud.faults import CallRecord
from fakecloud.router import Route
from fakecloud.services.dingtalk.models import DingTalkBackend, DingTalkError, Robot
from fakecloud.trail import GLOBAL_EVENTS_REGION
from fakecloud.wire import Request, Response

ACTION = "robot.send"
GATEWAY_ERRORS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def _as_dingtalk(error: ServiceError) -> tuple[int, str]:
    """errcode/errmsg of an error; injected faults (InternalError, Throttling…) become DingTalk's own."""
    if isinstance(error, DingTalkError):
        return error.errcode, error.errmsg
    if error.code.startswith("Throttling"):
        return 130101, "send too fast, exceed 20 times per minute"
    return -1, "系统繁忙"


class DingTalkService:
    name = "dingtalk"

    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.backend = DingTalkBackend(cloud)

    def handle(self, request: Request, route: Route) -> Response:
        cloud = self.cloud
        now = cloud.now()
        found: list[Robot] = []

        def send() -> dict:
            if request.method != "POST":
                raise DingTalkError(43002, "需要POST请求")
            token = request.query.get("access_token")
            if not token:
                raise DingTalkError(40035, "缺少参数 access_token")
            robot = self.backend.robots.get(token)
            if robot is None:
                raise DingTalkError(300001, "token is not exist")
            found.append(robot)
            if not request.headers.get("content-type", "").lower().startswith("application/json"):
                raise DingTalkError(43004, "无效的HTTP HEADER Content-Type")
            self.backend.check_signature(robot, request.query.get("timestamp"), request.query.get("sign"), now)
            if len(request.body) > self.backend.max_body_bytes:
                raise DingTalkError(460101, f"message too long, exceed {self.backend.max_body_bytes} bytes")
            try:
                payload = json.loads(request.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise DingTalkError(300001, "param error")
            if not isinstance(payload, dict):
                raise DingTalkError(300001, "param error")
            return self.backend.accept(robot, payload, now)

        message, error, crash = cloud.run_call(self.name, ACTION, send)
        robot = found[0] if found else None
        if error is not None and not isinstance(error, DingTalkError) and error.status in GATEWAY_ERRORS:
            cloud.calls.add(CallRecord(self.name, ACTION, robot.account_id if robot else None, None, True, False,
                                       f"HTTP{error.status}"))
            return Response(error.status, {"Content-Type": "text/html"},
                            f"<html><body>{error.status} {GATEWAY_ERRORS[error.status]}</body></html>".encode())
        errcode, errmsg = _as_dingtalk(error) if error is not None else (0, "ok")
        if robot is not None and errcode:
            robot.refusals.append((now, errcode))
        account_id = robot.account_id if robot else None
        cloud.calls.add(CallRecord(self.name, ACTION, account_id, None, True, error is None,
                                   str(errcode) if error is not None else None))
        if account_id is not None:
            # Not published to EventBridge subscribers: a product that notifies DingTalk on
            # ActionTrail events must not be fed its own notifications.
            cloud.trail.record(account_id, self._event(request, robot, message, errcode, errmsg, now), publish=False)
        if crash:
            raise FakeCrash(f"simulated crash after {self.name}:{ACTION}")
        body = json.dumps({"errcode": errcode, "errmsg": errmsg}, ensure_ascii=False).encode("utf-8")
        return Response(200, {"Content-Type": "application/json;charset=utf-8"}, body)

    def _event(self, request: Request, robot: Robot, message: dict | None, errcode: int, errmsg: str, now) -> dict:
        """A minimal ActionTrail event: there is no caller identity, so no userIdentity block."""
        event = {
            "eventId": ids.event_id(),
            "eventVersion": 1,
            "eventName": "SendRobotMessage",
            "eventSource": "oapi.dingtalk.com",
            "eventTime": iso(now),
            "eventType": "ApiCall",
            "eventRW": "Write",
            "eventCategory": "Management",
            "serviceName": "DingTalk",
            "acsRegion": GLOBAL_EVENTS_REGION,
            "isGlobal": True,
            "requestId": ids.request_id(),
            "sourceIpAddress": request.peer_ip or self.cloud.default_source_ip,
            "userAgent": request.headers.get("user-agent", ""),
            "requestParameters": {"msgtype": message["msgtype"] if message else None, "robotName": robot.name},
            "recipientAccountId": robot.account_id,
            "resourceType": "ACS::DingTalk::Robot",
            "resourceName": robot.name,
            "additionalEventData": {"Scheme": "HTTPS" if request.secure else "HTTP"},
        }
        if errcode:
            event["errorCode"] = str(errcode)
            event["errorMessage"] = errmsg
        return event
