"""Shared wire layer of POP (RPC-style) services: RAM, STS, ECS, ActionTrail.

A service subclass declares its API version and its actions with `@action`; this module
does what every POP call goes through: signature check, caller resolution, fault injection,
the global state lock, ActionTrail recording, call accounting and JSON rendering of results
and errors exactly as the tea SDKs parse them.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakecloud import ids
from fakecloud.auth.pop import authenticate
from fakecloud.errors import FakeCrash, ServiceError
from fakecloud.faults import CallRecord
from fakecloud.iam.identity import Caller
from fakecloud.iam.policy import Decision
from fakecloud.router import Route
from fakecloud.trail import Deferred
from fakecloud.wire import Request, Response

_READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Query", "Check")


def _compact_json():
    """`json.dumps(obj, separators=(",", ":"))`, for the reply of every call.

    `JSONEncoder.encode` builds a new C encoder on each call; building it once and calling it
    directly halves the cost. Falls back to the plain encoder where the C accelerator is absent.
    """
    encoder = json.JSONEncoder(separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    accelerated = make(None, encoder.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False,
                       True)
    return lambda obj: "".join(accelerated(obj, 0))


_to_json = _compact_json()
NO_PERMISSION_MESSAGE = "You are not authorized to do this action. You should be authorized by RAM."


def action(name: str, *, read: bool | None = None):
    """Register a method as the handler of POP action `name`."""

    def register(fn):
        fn.pop_action = (name, name.startswith(_READ_PREFIXES) if read is None else read)
        return fn

    return register


@dataclass
class PopCall:
    """One authenticated call: parameters, caller and helpers for validation and authorization."""

    service: "PopService"
    caller: Caller
    action: str
    params: dict[str, str]
    region: str
    request_id: str
    request: Request
    read: bool
    # What the ActionTrail event should say about the call (set by handlers when useful).
    trail_resource_type: str | None = None
    trail_resource_name: str | None = None
    trail_response_elements: dict | None = None
    trail_extra_accounts: list[str] = field(default_factory=list)
    trail_account: str | None = None

    @property
    def cloud(self):
        return self.service.cloud

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    def str(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise ServiceError(
                    f"MissingParameter", f"The input parameter \"{name}\" that is mandatory for processing this request is not supplied.", 400
                )
            return default
        return value

    def int(self, name: str, *, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None, code: str | None = None) -> int | None:
        raw = self.str(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ServiceError(code or f"InvalidParameter.{name}", f"The parameter {name} is invalid: {raw!r}.", 400)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ServiceError(code or f"InvalidParameter.{name}",
                               f"The parameter {name} must be between {minimum} and {maximum}.", 400)
        return value

    def bool(self, name: str, *, default: bool = False) -> bool:
        raw = self.str(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise ServiceError(f"InvalidParameter.{name}", f"The parameter {name} must be true or false.", 400)
        return lowered == "true"

    def json(self, name: str, *, default: Any = None) -> Any:
        raw = self.str(name)
        if raw is None:
            return default
        try:
            return json.loads(raw)
        except ValueError:
            raise ServiceError(f"InvalidParameter.{name}", f"The parameter {name} is not valid JSON.", 400)

    def repeat_list(self, name: str) -> list[dict[str, str]]:
        """`Name.1.Key=..&Name.1.Value=..` style parameters, in index order."""
        items: dict[int, dict[str, str]] = {}
        prefix = name + "."
        for key, value in self.params.items():
            if key.startswith(prefix):
                index, _, field_name = key[len(prefix):].partition(".")
                if index.isdigit():
                    items.setdefault(int(index), {})[field_name] = value
        return [items[i] for i in sorted(items)]

    def authorize(self, ram_action: str, resource: str, *, resource_account: str | None = None,
                  conditions: dict | None = None) -> None:
        decision = self.cloud.decide(self.caller, ram_action, resource,
                                     resource_account=resource_account or self.caller.account_id,
                                     conditions=conditions)
        if decision is not Decision.ALLOW:
            raise self.service.denied(self, ram_action, decision.value)


class PopService:
    name = ""  # key in the cloud, in fault rules and call counts: "ram"
    api_version = ""
    trail_service_name = ""  # ActionTrail serviceName: "Ram"
    event_source = ""  # ActionTrail eventSource: "ram.aliyuncs.com"
    is_global = False
    no_permission_message = NO_PERMISSION_MESSAGE

    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.actions: dict[str, tuple[Callable, bool]] = {}
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            if callable(fn) and hasattr(fn, "pop_action"):
                name, read = fn.pop_action
                self.actions[name] = (fn, read)

    # -- wire -----------------------------------------------------------------------------
    def handle(self, request: Request, route: Route) -> Response:
        cloud = self.cloud
        request_id = ids.request_id()
        now = cloud.now()
        try:
            auth = authenticate(request, cloud.keys, cloud.nonces, now)
            action_name, version = auth.action, auth.version
            if version != self.api_version:
                raise ServiceError("InvalidVersion", f"Specified parameter Version is not valid.", 400)
            caller = cloud.resolve_caller(auth.key, request)
        except ServiceError as error:
            return self.render_error(error, request_id, request)
        handler = self.actions.get(action_name or "")
        if handler is None:
            return self.render_error(
                ServiceError("InvalidAction.NotFound", "Specified api is not found, please check your url and method.", 404),
                request_id, request)
        fn, read = handler
        region = auth.params.get("RegionId") or route.region or cloud.default_region
        call = PopCall(self, caller, action_name, auth.params, region, request_id, request, read)
        body, error, crash = cloud.run_call(self.name, action_name, lambda: fn(self, call))
        cloud.calls.add(CallRecord(self.name, action_name, caller.account_id, caller.arn, not read,
                                   error is None, error.code if error else None))
        self.record_trail(call, error)
        if crash:
            raise FakeCrash(f"simulated crash after {self.name}:{action_name}")
        if error is not None:
            return self.render_error(error, request_id, request)
        return self.render(body or {}, request_id)

    def trail_source(self, call: PopCall) -> tuple[str, str]:
        """ActionTrail (serviceName, eventSource) of a call."""
        return self.trail_service_name, self.event_source

    def record_trail(self, call: PopCall, error: ServiceError | None) -> None:
        service_name, event_source = self.trail_source(call)
        values = (self.cloud.now(), service_name, event_source, call.action, self.api_version, call.region,
                  self.is_global, call.read, call.request_id, call.params, error.code if error else None,
                  error.message if error else None, call.trail_resource_type, call.trail_resource_name,
                  call.trail_response_elements if error is None else None)  # in Deferred.FIELDS order
        event = Deferred(call.caller, values, ids.uuid_bits())  # built when read, or now for a subscriber
        if call.trail_extra_accounts:
            event = event.build()
        self.cloud.trail.record(call.trail_account or call.caller.account_id, event)
        for account in call.trail_extra_accounts:
            self.cloud.trail.record(account, dict(event, recipientAccountId=account))

    def render(self, body: dict, request_id: str) -> Response:
        payload = {"RequestId": request_id, **body}
        return Response(200, {"Content-Type": "application/json;charset=utf-8", "x-acs-request-id": request_id},
                        _to_json(payload).encode("utf-8"))

    def render_error(self, error: ServiceError, request_id: str, request: Request) -> Response:
        payload = {
            "RequestId": request_id,
            "HostId": request.raw_host,
            "Code": error.code,
            "Message": error.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product={self.trail_service_name}",
        }
        payload.update(error.extra)
        return Response(error.status, {"Content-Type": "application/json;charset=utf-8", "x-acs-request-id": request_id},
                        json.dumps(payload).encode("utf-8"))

    # -- authorization ------------------------------------------------------------------------
    def denied(self, call: PopCall, ram_action: str, decision: str) -> ServiceError:
        """The error this service answers when RAM denies a call (RAM/STS: NoPermission)."""
        caller = call.caller
        return ServiceError(
            "NoPermission", self.no_permission_message, 403,
            AccessDeniedDetail={
                "AuthAction": ram_action,
                "AuthPrincipalDisplayName": caller.user_name if caller.kind != "assumed-role" else caller.principal_id,
                "AuthPrincipalOwnerId": caller.account_id,
                "AuthPrincipalType": {"ram-user": "SubUser", "assumed-role": "AssumedRoleUser"}.get(caller.kind, "Account"),
                "NoPermissionType": decision,
                "PolicyType": "AccountLevelIdentityBasedPolicy",
                "EncodedDiagnosticMessage": "",
            },
        )
