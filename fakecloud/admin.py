"""The fake's own admin API under `/_fakecloud/` (server mode only).

What a test in another language needs to set the stage and look behind it, like moto's
`/moto-api/`: create accounts, seed ECS instances, create DingTalk robots, set a key's
source IP / MFA, read call counts and DingTalk messages, register FC functions (code cannot
cross HTTP: they answer every invocation with null) and their triggers. Unauthenticated, so the
server binds to 127.0.0.1 by default.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from fakecloud.errors import ServiceError
from fakecloud.router import Route
from fakecloud.wire import Request, Response


class AdminService:
    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.routes: dict[tuple[str, str], Callable[[dict, Request], object]] = {
            ("GET", "health"): lambda body, req: {"status": "ok"},
            ("GET", "accounts"): self.list_accounts,
            ("POST", "accounts"): self.add_account,
            ("POST", "caller-context"): self.caller_context,
            ("GET", "calls"): self.calls,
            ("POST", "ecs/instances"): self.seed_instance,
            ("POST", "dingtalk/robots"): self.add_robot,
            ("GET", "dingtalk/messages"): self.robot_messages,
            ("GET", "trail"): self.trail,
            ("POST", "fc/functions"): self.register_function,
        }

    def handle(self, request: Request, route: Route) -> Response:
        if route.by_host:
            raise ServiceError("NotFound", "admin API is only served locally", 404)
        name = request.path[len("/_fakecloud/"):].strip("/")
        handler = self.routes.get((request.method, name))
        if handler is None:
            return self._json(404, {"error": f"no admin endpoint {request.method} /_fakecloud/{name}"})
        try:
            body = json.loads(request.body or b"{}")
            return self._json(200, handler(body, request))
        except (ServiceError, ValueError, KeyError, TypeError) as problem:
            return self._json(400, {"error": str(problem)})

    @staticmethod
    def _json(status: int, payload) -> Response:
        return Response(status, {"Content-Type": "application/json"}, json.dumps(payload, default=str).encode())

    def list_accounts(self, body, request):
        return [{"accountId": a.account_id, "alias": a.alias} for a in self.cloud.accounts.values()]

    def add_account(self, body, request):
        creds = self.cloud.add_account(str(body["accountId"]), body.get("alias"),
                                       access_key_id=body.get("accessKeyId"),
                                       access_key_secret=body.get("accessKeySecret"))
        return {"accountId": creds.account_id, "accessKeyId": creds.access_key_id,
                "accessKeySecret": creds.access_key_secret}

    def caller_context(self, body, request):
        try:
            self.cloud.set_caller_context(body["accessKeyId"], source_ip=body.get("sourceIp"),
                                          vpc_id=body.get("vpcId"), mfa=body.get("mfa"))
        except ValueError as error:
            raise ServiceError("InvalidParameter", str(error), 400)
        return {"ok": True}

    def calls(self, body, request):
        query = request.query
        return {"count": self.cloud.calls.count(query.get("action"), service=query.get("service"))}

    def seed_instance(self, body, request):
        instance_id = self.cloud.backend("ecs").seed_instance(
            str(body["accountId"]), body.get("region", self.cloud.default_region),
            name=body.get("name"), status=body.get("status", "Running"))
        return {"instanceId": instance_id}

    def add_robot(self, body, request):
        return {"webhook": self.cloud.add_dingtalk_robot(secret=body.get("secret"), keyword=body.get("keyword"))}

    def robot_messages(self, body, request):
        return self.cloud.backend("dingtalk").messages(request.query.get("webhook"))

    def trail(self, body, request):
        return self.cloud.trail.events(request.query["accountId"])

    def register_function(self, body, request):
        """An FC function that does nothing (`{"accountId", "service", "function", "runtime"?,
        "handler"?, "serviceRole"?, "region"?, "triggers": [{"name", "type", "config", "sourceArn"?,
        "invocationRole"?}]}`): for clients that check a deployment's wiring, such as `rolepact doctor`."""
        fc = self.cloud.backend("fc")
        account, service, function = str(body["accountId"]), body.get("service"), body["function"]
        region = body.get("region")
        fc.register_function(account, service, function, lambda event, context: None,
                             handler_name=body.get("handler", "index.handler"),
                             runtime=body.get("runtime", "python3.10"), service_role=body.get("serviceRole"),
                             region=region)
        for trigger in body.get("triggers") or []:
            fc.add_trigger(account, service, function, trigger["name"], trigger["type"], trigger.get("config") or {},
                           region=region, source_arn=trigger.get("sourceArn"),
                           invocation_role=trigger.get("invocationRole"))
        return {"function": function, "triggers": [t["name"] for t in body.get("triggers") or []]}
