"""Function Compute 3.0 wire (API 2023-03-30), as `alibabacloud_fc20230330` speaks it.

Served beside the FC 2.0 wire on the same endpoints (`<uid>.<region>.fc.aliyuncs.com`, the
SDK's default `fcv3.<region>.aliyuncs.com`, and the server mode), on the same state
(models.py): CreateFunction, GetFunction, ListFunctions, DeleteFunction, InvokeFunction
(Sync / `x-fc-invocation-type: Async`), CreateTrigger, GetTrigger, ListTriggers,
DeleteTrigger, PutAsyncInvokeConfig, GetAsyncInvokeConfig. Other paths answer
PathNotSupported.

Requests are ROA calls signed with ACS3-HMAC-SHA256 and checked like the POP services'
(`fakecloud.auth.pop`); the signature errors use FC's codes (SignatureNotMatch,
InvalidAccessKeyID, both 403: FC error-codes page). Errors are the 2023-03-30 `Error`
struct, `{"Code","Message","RequestId"}`, with FC's codes and statuses (FunctionNotFound
404, FunctionAlreadyExists 409, TriggerNotFound 404, TriggerAlreadyExists 409, AccessDenied
403 -- codes as the fc3 Serverless Devs component checks them). Authorization goes through
`cloud.decide` with FC 3.0 ARNs `acs:fc:<region>:<uid>:functions/<name>[/triggers/<name>]`
(RAM authorization page of the 2023-03-30 API). docs/fake-fidelity.md cites each of these.
"""
from __future__ import annotations

import json
import re
from urllib.parse import unquote

from fakecloud import clock
from fakecloud.auth.pop import authenticate
from fakecloud.errors import FakeCrash, ServiceError
from fakecloud.faults import CallRecord
from fakecloud.router import Route
from fakecloud.services.fc.models import FunctionSpec, Trigger, new_request_id
from fakecloud.services.fc.responses import invoke_function, page
from fakecloud.services.fc.schedule import ScheduleError
from fakecloud.trail import build_event
from fakecloud.wire import Request, Response

API_VERSION = "2023-03-30"
_NAME = r"(?P<{}>[^/]+)"
_FN = rf"^/{API_VERSION}/functions/{_NAME.format('fn')}"
_ROUTES = [  # (method, path regex, action, RAM action)
    ("POST", rf"^/{API_VERSION}/functions/?$", "CreateFunction", "fc:CreateFunction"),
    ("GET", rf"^/{API_VERSION}/functions/?$", "ListFunctions", "fc:ListFunctions"),
    ("GET", rf"{_FN}/?$", "GetFunction", "fc:GetFunction"),
    ("DELETE", rf"{_FN}/?$", "DeleteFunction", "fc:DeleteFunction"),
    ("POST", rf"{_FN}/invocations/?$", "InvokeFunction", "fc:InvokeFunction"),
    ("POST", rf"{_FN}/triggers/?$", "CreateTrigger", "fc:CreateTrigger"),
    ("GET", rf"{_FN}/triggers/?$", "ListTriggers", "fc:ListTriggers"),
    ("GET", rf"{_FN}/triggers/{_NAME.format('trigger')}/?$", "GetTrigger", "fc:GetTrigger"),
    ("DELETE", rf"{_FN}/triggers/{_NAME.format('trigger')}/?$", "DeleteTrigger", "fc:DeleteTrigger"),
    ("PUT", rf"{_FN}/async-invoke-config/?$", "PutAsyncInvokeConfig", "fc:PutFunctionAsyncInvokeConfig"),
    ("GET", rf"{_FN}/async-invoke-config/?$", "GetAsyncInvokeConfig", "fc:GetFunctionAsyncInvokeConfig"),
]
_COMPILED = [(method, re.compile(pattern), action, ram) for method, pattern, action, ram in _ROUTES]
_READS = {"ListFunctions", "GetFunction", "ListTriggers", "GetTrigger", "GetAsyncInvokeConfig"}
_NO_CONTENT = {"DeleteFunction", "DeleteTrigger"}
SIGNATURE_MESSAGE = ("The request signature we calculated does not match the signature you provided. "
                     "Check your access key and signing method")


class Fc3Call:
    """One authenticated FC 3.0 call."""

    def __init__(self, caller, account_id: str, region: str, action: str, ram_action: str, params: dict,
                 request: Request, request_id: str) -> None:
        self.caller = caller
        self.account_id = account_id
        self.region = region
        self.action = action
        self.ram_action = ram_action
        self.function = params.get("fn")
        self.trigger = params.get("trigger")
        self.request = request
        self.request_id = request_id

    def resource(self, function: str | None = None) -> str:
        """`acs:fc:<region>:<uid>:functions/<name>` (and `/triggers/<name>`; `*` for listings)."""
        base = f"acs:fc:{self.region}:{self.account_id}:functions"
        function = function or self.function
        if self.action == "ListFunctions":
            return f"{base}/*"
        if self.action == "ListTriggers":
            return f"{base}/{function}/triggers/*"
        if self.trigger is not None or self.action == "CreateTrigger":
            return f"{base}/{function}/triggers/{self.trigger or '*'}"
        return f"{base}/{function}"

    def body(self) -> dict:
        """The JSON request body (CreateFunction, CreateTrigger, PutAsyncInvokeConfig)."""
        raw = self.request.body or b"{}"
        try:
            body = json.loads(raw)
        except ValueError:
            raise ServiceError("InvalidArgument", "the request body is not valid JSON", 400)
        if not isinstance(body, dict):
            raise ServiceError("InvalidArgument", "the request body must be a JSON object", 400)
        return body


class Fc3Api:
    api_version = API_VERSION
    trail_service_name = "FC"
    event_source = "fc.aliyuncs.com"

    def __init__(self, service) -> None:
        self.service = service  # the FcService: its name ("fc") keys faults and call counts
        self.cloud = service.cloud
        self.backend = service.backend

    # -- wire ------------------------------------------------------------------------------------
    def handle(self, request: Request, route: Route) -> Response:
        cloud = self.cloud
        request_id = new_request_id()
        try:
            auth = authenticate(request, cloud.keys, cloud.nonces, cloud.now())
            caller = cloud.resolve_caller(auth.key, request)
            action, ram_action, params = self.route_action(request)
        except ServiceError as error:
            return self.render_error(_fc_auth_error(error), request_id)
        account_id = route.account_id or auth.key.account_id
        call = Fc3Call(caller, account_id, route.region or cloud.default_region, action, ram_action, params, request,
                       request_id)
        if action == "InvokeFunction":
            response, error, crash = invoke_function(cloud, self.service.name, self.backend,
                                                     lambda: self._invocable(call), account_id, None, call.function,
                                                     call.region, request, request_id)
            if response is not None:
                response.headers["x-fc-request-id"] = response.headers.pop("X-Fc-Request-Id")
        else:
            body, error, crash = cloud.run_call(self.service.name, action, lambda: self.apply(call))
            response = self.render_json(body, request_id, action) if error is None else None
        cloud.calls.add(CallRecord(self.service.name, action, caller.account_id, caller.arn, action not in _READS,
                                   error is None, error.code if error else None))
        if action != "InvokeFunction" or self.backend.trail_invocations:
            self.record_trail(call, error)
        if crash:
            raise FakeCrash(f"simulated crash after {self.service.name}:{action}")
        if error is not None:
            return self.render_error(error, request_id)
        return response

    @staticmethod
    def route_action(request: Request) -> tuple[str, str, dict]:
        for method, pattern, action, ram_action in _COMPILED:
            if (m := pattern.match(request.path)) and request.method == method:
                return action, ram_action, {k: unquote(v) for k, v in m.groupdict().items()}
        raise ServiceError("PathNotSupported", f"'{request.method}' against '{request.unquoted_path}' is not "
                           "supported", 400)

    # -- actions -------------------------------------------------------------------------------------
    def authorize(self, call: Fc3Call, function: str | None = None) -> None:
        resource = call.resource(function)
        decision = self.cloud.decide(call.caller, call.ram_action, resource, resource_account=call.account_id)
        if decision.value != "Allow":
            raise ServiceError("AccessDenied", f"the caller is not authorized to perform '{call.ram_action}' on "
                                               f"resource '{resource}'", 403)

    def _function(self, call: Fc3Call) -> FunctionSpec:
        qualifier = call.request.query.get("qualifier") or "LATEST"
        spec = self.backend.get_function3(call.account_id, call.function, region=call.region)
        if qualifier != "LATEST":
            what = "version" if qualifier.isdigit() else "alias"
            raise ServiceError("VersionNotFound" if qualifier.isdigit() else "AliasNotFound",
                               f"{what} '{qualifier}' of function '{call.function}' does not exist", 404)
        return spec

    def _invocable(self, call: Fc3Call) -> None:
        self.authorize(call)
        self._function(call)

    def apply(self, call: Fc3Call) -> dict | None:
        """Every call but InvokeFunction, under `cloud.lock` (run_call)."""
        action, backend, query = call.action, self.backend, call.request.query
        if action == "CreateFunction":
            body = call.body()
            name = body.get("functionName")
            if not isinstance(name, str) or not name:
                raise ServiceError("InvalidArgument", "functionName is required", 400)
            self.authorize(call, name)
            return function_json(backend.create_function(call.account_id, name, None, region=call.region,
                                                         replace=False, **_function_fields(body)))
        if action == "ListFunctions":
            self.authorize(call)
            items = [function_json(f) for f in backend.list_functions3(call.account_id, region=call.region)]
            return page(items, "functions", "functionName", query)
        self.authorize(call)
        if action == "DeleteFunction":
            backend.delete_function(call.account_id, call.function, region=call.region)
            return None
        spec = self._function(call)
        if action == "GetFunction":
            return function_json(spec)
        if action == "CreateTrigger":
            return trigger_json(self._create_trigger(call, spec))
        if action == "ListTriggers":
            triggers = sorted(spec.triggers.values(), key=lambda t: t.name)
            return page([trigger_json(t) for t in triggers], "triggers", "triggerName", query)
        if action == "GetTrigger":
            return trigger_json(backend.get_trigger(call.account_id, spec.service_name, spec.function_name,
                                                    call.trigger, region=call.region))
        if action == "DeleteTrigger":
            backend.remove_trigger(call.account_id, spec.service_name, spec.function_name, call.trigger,
                                   region=call.region)
            return None
        if action == "PutAsyncInvokeConfig":
            body = call.body()
            destinations = body.get("destinationConfig") or {}
            backend.put_async_invoke_config(
                call.account_id, call.function, region=call.region,
                max_async_retry=_int(body, "maxAsyncRetryAttempts"),
                max_event_age=_int(body, "maxAsyncEventAgeInSeconds"),
                on_failure=((destinations.get("onFailure") or {}).get("destination") or None),
                on_success=((destinations.get("onSuccess") or {}).get("destination") or None),
                async_task=bool(body.get("asyncTask")))
        return async_config_json(spec, backend.get_async_invoke_config(call.account_id, call.function,
                                                                       region=call.region))

    def _create_trigger(self, call: Fc3Call, spec: FunctionSpec) -> Trigger:
        body = call.body()
        name, trigger_type = body.get("triggerName"), body.get("triggerType")
        if not isinstance(name, str) or not isinstance(trigger_type, str):
            raise ServiceError("InvalidArgument", "triggerName and triggerType are required", 400)
        call.trigger = name
        self.authorize(call)
        config = body.get("triggerConfig") or "{}"
        try:
            config = json.loads(config) if isinstance(config, str) else config
        except ValueError:
            raise ServiceError("InvalidArgument", "triggerConfig is not valid JSON", 400)
        if not isinstance(config, dict):
            raise ServiceError("InvalidArgument", "triggerConfig must be a JSON object", 400)
        try:
            return self.backend.create_trigger(call.account_id, spec.function_name, name, trigger_type, config,
                                               source_arn=body.get("sourceArn") or None,
                                               invocation_role=body.get("invocationRole") or None,
                                               description=body.get("description") or "", region=call.region)
        except (ValueError, ScheduleError) as bad:
            raise ServiceError("InvalidArgument", str(bad), 400)

    # -- rendering ------------------------------------------------------------------------------------
    def render_json(self, body: dict | None, request_id: str, action: str) -> Response:
        headers = {"x-fc-request-id": request_id, "Date": clock.http_date(self.cloud.now())}
        if action in _NO_CONTENT:
            return Response(204, headers, b"")
        return Response(200, {**headers, "Content-Type": "application/json; charset=utf-8"},
                        json.dumps(body or {}).encode("utf-8"))

    def render_error(self, error: ServiceError, request_id: str) -> Response:
        body = {"Code": error.code, "Message": error.message, "RequestId": request_id, **error.extra}
        return Response(error.status or 500, {"Content-Type": "application/json; charset=utf-8",
                                              "x-fc-request-id": request_id,
                                              "Date": clock.http_date(self.cloud.now())},
                        json.dumps(body).encode("utf-8"))

    def record_trail(self, call: Fc3Call, error: ServiceError | None) -> None:
        params = {k: v for k, v in (("functionName", call.function), ("triggerName", call.trigger)) if v}
        event = build_event(
            call.caller, now=self.cloud.now(), service_name=self.trail_service_name, event_source=self.event_source,
            event_name=call.action, api_version=API_VERSION, region=call.region, is_global=False,
            read=call.action in _READS, request_id=call.request_id, request_parameters=params,
            error_code=error.code if error else None, error_message=error.message if error else None,
            resource_type="ACS::FC::Function" if call.function else None, resource_name=call.function,
        )
        self.cloud.trail.record(call.caller.account_id, event, publish=call.action != "InvokeFunction")


def _fc_auth_error(error: ServiceError) -> ServiceError:
    """POP signature / key errors in FC's vocabulary (FC error-codes page)."""
    if error.code == "InvalidAccessKeyId.NotFound":
        return ServiceError("InvalidAccessKeyID", "invalid access key ID", 403)
    if error.code in ("SignatureDoesNotMatch", "IncompleteSignature"):
        return ServiceError("SignatureNotMatch", SIGNATURE_MESSAGE, 403)
    if error.code == "MissingSignature":
        return ServiceError("MissingRequiredHeader", "required HTTP header Authorization was not specified", 400)
    return error


def _int(body: dict, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError("InvalidArgument", f"{name} must be an integer", 400)
    return value


def _function_fields(body: dict) -> dict:
    """CreateFunction's body -> `create_function` keyword arguments, checked as FC 3.0 does."""
    runtime, handler = body.get("runtime"), body.get("handler")
    if not isinstance(runtime, str) or not runtime:
        raise ServiceError("InvalidArgument", "runtime is required", 400)
    if not isinstance(handler, str) or not handler:
        raise ServiceError("InvalidArgument", "handler is required", 400)
    memory = _int(body, "memorySize")
    if memory is not None and not (128 <= memory <= 32768 and memory % 64 == 0):
        raise ServiceError("InvalidArgument", "memorySize must be a multiple of 64 between 128 and 32768", 400)
    timeout = _int(body, "timeout")
    if timeout is not None and not 1 <= timeout <= 86400:
        raise ServiceError("InvalidArgument", "timeout must be between 1 and 86400 seconds", 400)
    environment = body.get("environmentVariables") or {}
    if not isinstance(environment, dict) or not all(isinstance(v, str) for v in environment.values()):
        raise ServiceError("InvalidArgument", "environmentVariables must map names to strings", 400)
    fields = {"handler_name": handler, "runtime": runtime, "environment": environment,
              "role": body.get("role") or None, "description": body.get("description") or ""}
    if memory is not None:
        fields["memory"] = memory
    if timeout is not None:
        fields["timeout"] = timeout
    return fields


# ------------------------------------------------------------------------------------ JSON shapes
def function_json(spec: FunctionSpec) -> dict:
    """The 2023-03-30 `Function` struct (the fields the SDK model reads that the fake can fill)."""
    return {
        "functionId": spec.function_id,
        "functionName": spec.function_name if spec.fc3 else f"{spec.service_name}${spec.function_name}",
        "functionArn": spec.arn,
        "description": spec.description,
        "runtime": spec.runtime,
        "handler": spec.handler_name,
        "timeout": spec.timeout,
        "memorySize": spec.memory,
        "cpu": round(spec.memory / 1024, 2),
        "diskSize": 512,
        "environmentVariables": dict(spec.environment),
        "role": spec.service_role or "",
        "internetAccess": True,
        "instanceConcurrency": 1,
        "layers": [],
        "codeSize": 0,
        "codeChecksum": "",
        "state": "Active",
        "lastUpdateStatus": "Successful",
        "createdTime": clock.iso(spec.created),
        "lastModifiedTime": clock.iso(spec.modified),
    }


def trigger_json(trigger: Trigger) -> dict:
    """The 2023-03-30 `Trigger` struct: `triggerConfig` is a JSON string."""
    function_arn = (f"acs:fc:{trigger.region}:{trigger.account_id}:functions/{trigger.function_name}"
                    if trigger.service_name is None else None)
    return {
        "triggerId": trigger.trigger_id,
        "triggerName": trigger.name,
        "triggerType": trigger.trigger_type,
        "triggerConfig": json.dumps(trigger.config),
        "sourceArn": trigger.source_arn or "",
        "invocationRole": trigger.invocation_role or "",
        "qualifier": trigger.qualifier,
        "description": trigger.description,
        "status": "OK",
        "targetArn": function_arn or "",
        "createdTime": clock.iso(trigger.created),
        "lastModifiedTime": clock.iso(trigger.modified),
    }


def async_config_json(spec: FunctionSpec, config: dict) -> dict:
    created, modified = spec.async_config_times or (spec.created, spec.modified)
    return {**config, "functionArn": spec.arn, "createdTime": clock.iso(created),
            "lastModifiedTime": clock.iso(modified)}
