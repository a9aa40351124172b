"""Function Compute 2016-08-15 wire, as `fc2.Client` (aliyun-fc2 2.5.2) speaks it.

Requests under `/2023-03-30/` (FC 3.0) are handed to `responses3.Fc3Api`; both wires share
the backend (models.py) and `invoke_function` below.

Served: InvokeFunction (Sync/Async), GetService, ListServices, GetFunction, ListFunctions,
GetTrigger, ListTriggers. Functions come from the registry (models.py), not from
CreateFunction; other paths answer PathNotSupported.

Authentication (fc-deploy.md §4.2, fc2/auth.py): `Authorization: FC <AK>:<base64(HMAC-SHA256(
secret, METHOD\\nContent-MD5\\nContent-Type\\nDate\\n<x-fc-* headers, lower-case, sorted,
"k:v\\n"><unescaped path>))>`. Queries are signed only for HTTP-trigger (`/proxy/`) paths --
fc2 signs list calls without them. Content-Length is never signed (fc2 signs a placeholder
`0`). STS tokens arrive in `x-fc-security-token`. Error bodies are
`{"ErrorCode","ErrorMessage"}` with `X-Fc-Request-Id`; codes, statuses and messages follow
FC's error-code page (doc-detail/154973); the FunctionNotFound/TriggerNotFound texts and the
date-skew error are [?].
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from fakecloud import clock
from fakecloud.auth.pop import check_key
from fakecloud.errors import FakeCrash, ServiceError
from fakecloud.faults import CallRecord
from fakecloud.router import Route
from fakecloud.services.fc.models import FcBackend, FunctionSpec, ServiceSpec, Trigger, new_request_id
from fakecloud.trail import build_event
from fakecloud.wire import Request, Response

API_VERSION = "2016-08-15"
MAX_SKEW = timedelta(minutes=15)
SIGNATURE_MESSAGE = ("The request signature we calculated does not match the signature you provided. "
                     "Check your access key and signing method")
_SEGMENT = r"[^/]+"
_ROUTES = [  # (method, path regex, action)
    ("POST", rf"^/{API_VERSION}/services/(?P<svc>{_SEGMENT})/functions/(?P<fn>{_SEGMENT})/invocations/?$",
     "InvokeFunction"),
    ("GET", rf"^/{API_VERSION}/services/?$", "ListServices"),
    ("GET", rf"^/{API_VERSION}/services/(?P<svc>{_SEGMENT})/?$", "GetService"),
    ("GET", rf"^/{API_VERSION}/services/(?P<svc>{_SEGMENT})/functions/?$", "ListFunctions"),
    ("GET", rf"^/{API_VERSION}/services/(?P<svc>{_SEGMENT})/functions/(?P<fn>{_SEGMENT})/?$", "GetFunction"),
    ("GET", rf"^/{API_VERSION}/services/(?P<svc>{_SEGMENT})/functions/(?P<fn>{_SEGMENT})/triggers/?$",
     "ListTriggers"),
    ("GET", rf"^/{API_VERSION}/services/(?P<svc>{_SEGMENT})/functions/(?P<fn>{_SEGMENT})/triggers/(?P<trigger>{_SEGMENT})/?$",
     "GetTrigger"),
]
_COMPILED = [(method, re.compile(pattern), action) for method, pattern, action in _ROUTES]
_READ_ACTIONS = {"ListServices", "GetService", "ListFunctions", "GetFunction", "ListTriggers", "GetTrigger"}


class FcCall:
    """One authenticated FC call: who, where, what."""

    def __init__(self, caller, account_id: str, region: str, action: str, params: dict, request: Request,
                 request_id: str) -> None:
        self.caller = caller
        self.account_id = account_id  # the account whose resources are addressed
        self.region = region
        self.action = action
        self.params = params
        self.request = request
        self.request_id = request_id
        service = params.get("svc")
        self.service, _, self.qualifier = (service or "").partition(".")
        self.function = params.get("fn")
        self.trigger = params.get("trigger")

    def resource(self) -> str:
        """The RAM resource of the call, e.g. acs:fc:<region>:<uid>:services/<svc>/functions/<fn>."""
        base = f"acs:fc:{self.region}:{self.account_id}:services"
        service = self.params.get("svc")  # keeps `.qualifier`, as FC 2.0 resources do
        if self.action == "ListServices":
            return f"{base}/*"
        if self.action == "GetService":
            return f"{base}/{service}"
        if self.action == "ListFunctions":
            return f"{base}/{service}/functions/*"
        if self.action in ("GetFunction", "InvokeFunction"):
            return f"{base}/{service}/functions/{self.function}"
        if self.action == "ListTriggers":
            return f"{base}/{service}/functions/{self.function}/triggers/*"
        return f"{base}/{service}/functions/{self.function}/triggers/{self.trigger}"


class FcService:
    name = "fc"
    trail_service_name = "FC"  # [?] no FC event seen in the docs (fake-fidelity.md d.)
    event_source = "fc.aliyuncs.com"

    def __init__(self, cloud) -> None:
        from fakecloud.services.fc.responses3 import Fc3Api

        self.cloud = cloud
        self.backend = FcBackend(cloud)
        self.v3 = Fc3Api(self)  # the FC 3.0 (2023-03-30) wire, on the same endpoints and state

    # -- wire ------------------------------------------------------------------------------------
    def handle(self, request: Request, route: Route) -> Response:
        if request.path.startswith(f"/{self.v3.api_version}/"):
            return self.v3.handle(request, route)
        cloud = self.cloud
        request_id = new_request_id()
        try:
            key = self.authenticate(request)
            caller = cloud.resolve_caller(key, request)
            action, params = self.route_action(request)
        except ServiceError as error:
            return self.render_error(_fc_auth_error(error), request_id)
        account_id = route.account_id or key.account_id
        call = FcCall(caller, account_id, route.region or cloud.default_region, action, params, request, request_id)
        if action == "InvokeFunction":
            response, error, crash = self.invoke(call)
        else:
            body, error, crash = cloud.run_call(self.name, action, lambda: self.read(call))
            response = self.render_json(200, body, request_id) if error is None else None
        cloud.calls.add(CallRecord(self.name, action, caller.account_id, caller.arn, action not in _READ_ACTIONS,
                                   error is None, error.code if error else None))
        if action in _READ_ACTIONS or self.backend.trail_invocations:
            self.record_trail(call, error)
        if crash:
            raise FakeCrash(f"simulated crash after {self.name}:{action}")
        if error is not None:
            return self.render_error(error, request_id)
        return response

    def authenticate(self, request: Request):
        header = request.headers.get("authorization")
        if not header:
            raise ServiceError("MissingRequiredHeader", "required HTTP header Authorization was not specified", 400)
        scheme, _, credential = header.partition(" ")
        access_key_id, _, signature = credential.rpartition(":")
        if scheme != "FC" or not access_key_id or not signature:
            raise ServiceError("SignatureNotMatch", SIGNATURE_MESSAGE, 403)
        key = self.cloud.keys.get(access_key_id)
        if key is None:
            raise ServiceError("InvalidAccessKeyID", f"invalid access key ID '{access_key_id}'", 403)
        expected = base64.b64encode(hmac.new(key.secret.encode("utf-8"), string_to_sign(request).encode("utf-8"),
                                             hashlib.sha256).digest()).decode("ascii")
        if not hmac.compare_digest(expected, signature):
            raise ServiceError("SignatureNotMatch", SIGNATURE_MESSAGE, 403)
        date = request.headers.get("date")
        if not date:
            raise ServiceError("MissingRequiredHeader", "required HTTP header Date was not specified", 400)
        try:
            sent = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            raise ServiceError("InvalidArgument", f"invalid Date header '{date}'", 400)
        if sent.tzinfo is None or abs(self.cloud.now() - sent) > MAX_SKEW:
            raise ServiceError("InvalidArgument",
                               f"the difference between the request time '{date}' and the server's time is too large",
                               400)
        check_key(key, request.headers.get("x-fc-security-token"), self.cloud.now())
        return key

    @staticmethod
    def route_action(request: Request) -> tuple[str, dict]:
        path = request.path
        for method, pattern, action in _COMPILED:
            if m := pattern.match(path):
                if request.method == method:
                    return action, {k: unquote(v) for k, v in m.groupdict().items()}
        raise ServiceError("PathNotSupported", f"'{request.method}' against '{request.unquoted_path}' is not "
                           "supported (fakecloud serves InvokeFunction and the Get/List calls of services, "
                           "functions and triggers)", 400)

    # -- actions -------------------------------------------------------------------------------------
    def authorize(self, call: FcCall) -> None:
        resource = call.resource()
        decision = self.cloud.decide(call.caller, f"fc:{call.action}", resource, resource_account=call.account_id)
        if decision.value != "Allow":
            raise ServiceError("AccessDenied", f"the caller is not authorized to perform 'fc:{call.action}' on "
                                               f"resource '{resource}'", 403)

    def _service(self, call: FcCall) -> ServiceSpec:
        service = self.backend.get_service(call.account_id, call.service, region=call.region)
        if call.qualifier and call.qualifier != "LATEST":
            if call.qualifier.isdigit():
                raise ServiceError("VersionNotFound",
                                   f"version '{call.qualifier}' of service '{call.service}' does not exist", 404)
            raise ServiceError("AliasNotFound", f"alias '{call.qualifier}' of service '{call.service}' does not exist",
                               404)
        return service

    def _function(self, call: FcCall) -> FunctionSpec:
        self._service(call)
        return self.backend.get_function(call.account_id, call.service, call.function, region=call.region)

    def read(self, call: FcCall) -> dict:
        self.authorize(call)
        query = call.request.query
        if call.action == "ListServices":
            items = [service_json(s) for s in self.backend.list_services(call.account_id, region=call.region)]
            return page(items, "services", "serviceName", query)
        if call.action == "GetService":
            return service_json(self._service(call))
        if call.action == "ListFunctions":
            self._service(call)
            functions = self.backend.list_functions(call.account_id, call.service, region=call.region)
            return page([function_json(f) for f in functions], "functions", "functionName", query)
        spec = self._function(call)
        if call.action == "GetFunction":
            return function_json(spec)
        if call.action == "ListTriggers":
            triggers = sorted(spec.triggers.values(), key=lambda t: t.name)
            return page([trigger_json(t) for t in triggers], "triggers", "triggerName", query)
        return trigger_json(self.backend.get_trigger(call.account_id, call.service, call.function, call.trigger,
                                                     region=call.region))

    def invoke(self, call: FcCall) -> tuple[Response | None, ServiceError | None, bool]:
        """InvokeFunction. Not under `cloud.lock`: the handler runs here and calls other services."""
        def check() -> None:
            self.authorize(call)
            self._function(call)

        return invoke_function(self.cloud, self.name, self.backend, check, call.account_id, call.service,
                               call.function, call.region, call.request, call.request_id)

    # -- rendering ------------------------------------------------------------------------------------
    def render_json(self, status: int, body: dict, request_id: str) -> Response:
        raw = json.dumps(body).encode("utf-8")
        return Response(status, {"Content-Type": "application/json; charset=utf-8", "X-Fc-Request-Id": request_id,
                                 "Date": clock.http_date(self.cloud.now()),
                                 "ETag": hashlib.md5(raw).hexdigest()}, raw)

    def render_error(self, error: ServiceError, request_id: str) -> Response:
        body = {"ErrorCode": error.code, "ErrorMessage": error.message, **error.extra}
        return Response(error.status or 500, {"Content-Type": "application/json; charset=utf-8",
                                              "X-Fc-Request-Id": request_id,
                                              "Date": clock.http_date(self.cloud.now())},
                        json.dumps(body).encode("utf-8"))

    def record_trail(self, call: FcCall, error: ServiceError | None) -> None:
        params = {k: v for k, v in (("serviceName", call.service), ("qualifier", call.qualifier or None),
                                    ("functionName", call.function), ("triggerName", call.trigger)) if v}
        resource_type, resource_name = None, None
        if call.function:
            resource_type, resource_name = "ACS::FC::Function", f"{call.service}/{call.function}"
        elif call.service:
            resource_type, resource_name = "ACS::FC::Service", call.service
        event = build_event(
            call.caller, now=self.cloud.now(), service_name=self.trail_service_name, event_source=self.event_source,
            event_name=call.action, api_version=API_VERSION, region=call.region, is_global=False,
            read=call.action in _READ_ACTIONS, request_id=call.request_id, request_parameters=params,
            error_code=error.code if error else None, error_message=error.message if error else None,
            resource_type=resource_type, resource_name=resource_name,
        )
        # InvokeFunction events are fake-only (opt-in): real EventBridge never carries them.
        self.cloud.trail.record(call.caller.account_id, event, publish=call.action != "InvokeFunction")


def invoke_function(cloud, service_key: str, backend: FcBackend, check, account_id: str, service_name: str | None,
                    function_name: str, region: str, request: Request,
                    request_id: str) -> tuple[Response | None, ServiceError | None, bool]:
    """What InvokeFunction does on both wires once the caller is known; returns (response, error, crash).

    `check()` authorizes and finds the function (raising ServiceError). `x-fc-invocation-type`
    is `Sync` (default: run now, the handler's result or `X-Fc-Error-Type`) or `Async`
    (queued, HTTP 202). Faults: a plain rule fails before anything runs; an `after` rule
    lets the invocation happen, then fails or crashes the caller.
    """
    rule = cloud.faults.check(service_key, "InvokeFunction")
    if rule is not None and not rule.after:
        return None, rule.error(), False
    invocation_type = request.headers.get("x-fc-invocation-type", "Sync")
    payload = request.body or b""
    asynchronous = invocation_type.lower() == "async"
    try:
        check()
        if invocation_type.lower() not in ("sync", "async"):
            raise ServiceError("InvalidArgument",
                               f"invalid invocation type '{invocation_type}', expected 'Sync' or 'Async'", 400)
        limit = backend.async_payload_limit if asynchronous else backend.sync_payload_limit
        if len(payload) > limit:
            raise ServiceError("EntityTooLarge", f"payload size exceeds maximum allowed size ({limit} bytes)", 400)
    except ServiceError as error:
        return None, error, False
    base = {"X-Fc-Request-Id": request_id, "Date": clock.http_date(cloud.now())}
    if asynchronous:
        backend.invoke_async(account_id, service_name, function_name, payload, region=region,
                             request_id=request_id, source="api")
        response = Response(202, {**base, "Content-Type": "application/json"}, b"")
    else:
        result = backend.invoke_sync(account_id, service_name, function_name, payload, region=region,
                                     request_id=request_id)
        headers_out = {**base, "Content-Type": "application/octet-stream",
                       "X-Fc-Invocation-Duration": str(max(1, round(result.record.duration * 1000)))}
        if service_name:
            headers_out["X-Fc-Invocation-Service-Version"] = "LATEST"
        if not result.ok:
            headers_out["X-Fc-Error-Type"] = "UnhandledInvocationError"
            headers_out["Content-Type"] = "application/json"
        response = Response(200, headers_out, result.body)
    if rule is not None:  # an `after` rule: the invocation happened, then the caller fails or dies
        return (response, None, True) if rule.crash else (None, rule.error(), False)
    return response, None, False


# ------------------------------------------------------------------------------------ signing
def string_to_sign(request: Request) -> str:
    """What fc2's Auth.sign_request signs, rebuilt from the request as received."""
    headers = request.headers
    canonical_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(h for h in headers if h.startswith("x-fc-")))
    resource = request.unquoted_path
    if "/proxy/" in resource:  # HTTP-trigger calls sign their query too
        params = sorted(f"{k}={v}" for k, v in request.query_pairs)  # fc2: "k=" even for an empty value
        resource = resource + "\n" + "\n".join(params)
    return "\n".join([request.method.upper(), headers.get("content-md5", ""), headers.get("content-type", ""),
                      headers.get("date", ""), canonical_headers + resource])


def _fc_auth_error(error: ServiceError) -> ServiceError:
    """POP-style key errors from `check_key` / `resolve_caller`, in FC's vocabulary where FC has one."""
    if error.code == "InvalidAccessKeyId.NotFound":
        return ServiceError("InvalidAccessKeyID", "invalid access key ID", 403)
    return error


# ------------------------------------------------------------------------------------ JSON shapes
def _fc_time(moment) -> str:
    """FC 2.0 timestamps: `2016-08-15T15:00:00.000+0000`."""
    return clock.iso_millis(moment)[:-1] + "+0000"


def service_json(service: ServiceSpec) -> dict:
    return {
        "serviceName": service.name,
        "serviceId": service.service_id,
        "description": service.description,
        "role": service.role or "",
        "logConfig": {"project": service.log_project, "logstore": service.log_store,
                      "enableRequestMetrics": False, "enableInstanceMetrics": False, "logBeginRule": "None"},
        "internetAccess": True,
        "vpcConfig": {"vpcId": "", "vSwitchIds": [], "securityGroupId": "", "role": ""},
        "nasConfig": {"userId": -1, "groupId": -1, "mountPoints": []},
        "tracingConfig": {},
        "createdTime": _fc_time(service.created),
        "lastModifiedTime": _fc_time(service.modified),
    }


def function_json(spec: FunctionSpec) -> dict:
    return {
        "functionId": spec.function_id,
        "functionName": spec.function_name,
        "description": "",
        "runtime": spec.runtime,
        "handler": spec.handler_name,
        "timeout": spec.timeout,
        "initializer": "",
        "initializationTimeout": 3,
        "memorySize": spec.memory,
        "codeSize": 0,
        "codeChecksum": "",
        "environmentVariables": dict(spec.environment),
        "instanceConcurrency": 1,
        "instanceType": "e1",
        "layers": [],
        "createdTime": _fc_time(spec.created),
        "lastModifiedTime": _fc_time(spec.modified),
    }


def trigger_json(trigger: Trigger) -> dict:
    return {
        "triggerId": trigger.trigger_id,
        "triggerName": trigger.name,
        "description": "",
        "triggerType": trigger.trigger_type,
        "triggerConfig": trigger.config,
        "sourceArn": trigger.source_arn,
        "invocationRole": trigger.invocation_role or "",
        "qualifier": trigger.qualifier,
        "createdTime": _fc_time(trigger.created),
        "lastModifiedTime": _fc_time(trigger.modified),
    }


def page(items: list[dict], key: str, name_field: str, query: dict) -> dict:
    """FC list paging: `prefix`, `startKey` (names >= it), `limit` (default 20, max 100); the
    `nextToken` is the name of the first item of the next page."""
    prefix, start = query.get("prefix", ""), query.get("startKey", "")
    token = query.get("nextToken", "")
    try:
        limit = int(query.get("limit") or 20)
    except ValueError:
        raise ServiceError("InvalidArgument", f"invalid limit '{query.get('limit')}'", 400)
    if not 1 <= limit <= 100:
        raise ServiceError("InvalidArgument", "limit must be between 1 and 100", 400)
    selected = [i for i in items if i[name_field].startswith(prefix) and i[name_field] >= max(start, token)]
    body: dict = {key: selected[:limit]}
    if len(selected) > limit:
        body["nextToken"] = selected[limit][name_field]
    return body
