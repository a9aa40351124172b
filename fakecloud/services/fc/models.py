"""Function Compute state, FC 2.0 and FC 3.0: the function registry, triggers, the async queue and its retries.

FC 2.0 functions live in a service (`register_function(account, service, function, ...)`);
FC 3.0 functions are first-level resources with their own role and async invoke config
(`create_function(account, function, ...)`, `put_async_invoke_config`, `create_trigger`).
Both share everything below: a function is a Python callable `handler(event: bytes, context)`
(or, for functions created through the FC 3.0 API, the `module.function` of its `handler`,
imported in this process when first invoked). What FC does around it is modelled here:

- the context (FC 2.0 or FC 3.0 shape, `context.py`) and the service / function role's STS
  credentials (issued by the fake STS, so they work against every fake service and show up
  in ActionTrail as the role's session);
- sync invocation (the caller waits, errors come back as UnhandledInvocationError);
- the async queue: `invoke_async` only enqueues; `run_pending` drains it in the calling
  thread (deterministic tests) and `start_workers` drains it in background threads (local
  runtime). Unhandled errors -- including `FakeCrash`, a dead instance -- are retried
  `max_async_retry` times (FC default 3, i.e. 4 attempts), then sent to the on-failure
  destination (an FC 2.0 or FC 3.0 function ARN) or kept in `failed_invocations`;
- triggers: OSS notifications, timers (`fire_due_timers`) and EventBridge (ActionTrail
  Write events), all of which invoke asynchronously.

An FC 3.0 call may name an FC 2.0 function as `service$function`, as FC 3.0 shows 2.0 functions.

Locking: `_lock` guards the registry and records and is never held while a handler runs or
while `cloud.lock` is taken, so handlers may call any fake service (including FC itself).
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fakecloud import clock, ids
from fakecloud.errors import FakeCrash, ServiceError
from fakecloud.services.fc.context import (Credentials, FC3Context, FC3ServiceMeta, FC312Context, FCContext,
                                           FunctionMeta, FunctionMeta312, ServiceMeta, current_request_id)
from fakecloud.services.fc.schedule import parse_schedule

log = logging.getLogger(__name__)

FC_PRINCIPAL = "fc.aliyuncs.com"
ASYNC_PAYLOAD_LIMIT = 128 * 1024  # FC 2.0: async request payload <= 128 KB
SYNC_PAYLOAD_LIMIT = 32 * 1024 * 1024  # FC 2.0: sync request payload <= 32 MB
MAX_ASYNC_RETRY = 8  # FC allows 0..8
# FC's service-role credentials are valid 36 hours (not configurable) and never expire during an
# invocation, which may last 24 hours (docs/fake-fidelity.md): issued for 36 h, renewed once less
# than 24 h are left.
CREDENTIAL_LIFETIME = timedelta(hours=36)
CREDENTIAL_REFRESH_MARGIN = timedelta(hours=24)
RUN_PENDING_GUARD = 10_000  # rounds; more means handlers keep invoking each other forever
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
ROLE_ARN = re.compile(r"^acs:ram::(?P<account>\d+):role/(?P<name>[A-Za-z0-9.\-]{1,64})$", re.IGNORECASE)
FUNCTION_ARN = re.compile(
    r"^acs:fc:(?P<region>[a-z0-9-]+):(?P<account>\d+):services/(?P<service>[^/.]+)(?:\.[^/]+)?/functions/(?P<function>[^/]+)$")
# FC 3.0: acs:fc:<region>:<account>:functions/<name> (the account may be left out: the same account)
FUNCTION3_ARN = re.compile(
    r"^acs:fc:(?P<region>[a-z0-9-]+):(?P<account>\d*):functions/(?P<function>[^/:]+)(?::(?P<qualifier>[^/:]+))?$")
TRIGGER_TYPES = ("oss", "timer", "eventbridge", "http", "log", "mns_topic", "cdn_events", "tablestore", "rds",
                 "mq_topic")
UNHANDLED = "UnhandledInvocationError"
FC3_DEFAULT_TIMEOUT = 3  # seconds: CreateFunction's default timeout in FC 3.0
elapsed_clock = time.perf_counter  # measures handler duration (timeouts); not moved by time travel


# ------------------------------------------------------------------------------------ records
@dataclass
class Trigger:
    account_id: str
    region: str
    service_name: str | None  # None: an FC 3.0 function's trigger
    function_name: str
    name: str
    trigger_type: str
    config: dict
    trigger_id: str
    created: datetime
    modified: datetime
    source_arn: str | None = None
    invocation_role: str | None = None
    qualifier: str = "LATEST"
    schedule: object = None  # timer: EverySchedule | CronSchedule
    pattern: object = None  # eventbridge: EventPattern
    last_fired: datetime | None = None  # timer: latest tick fired (or the creation time)
    bucket: str | None = None  # oss: the bucket (FC 2.0 config.bucketName, FC 3.0 sourceArn)
    description: str = ""

    @property
    def enabled(self) -> bool:
        if self.trigger_type == "timer":
            return bool(self.config.get("enable", True))
        if self.trigger_type == "eventbridge":
            return bool(self.config.get("triggerEnable", True))
        return True


@dataclass
class FunctionSpec:
    account_id: str
    region: str
    service_name: str | None  # None: an FC 3.0 function (no service)
    function_name: str
    handler: Callable | None  # None: imported from `handler_name` when first invoked
    handler_name: str
    runtime: str
    memory: int
    timeout: int
    environment: dict[str, str]
    service_role: str | None  # role ARN (FC 2.0: the service's; FC 3.0: the function's own)
    max_async_retry: int
    on_failure: str | None
    function_id: str
    created: datetime
    modified: datetime
    triggers: dict[str, Trigger] = field(default_factory=dict)
    description: str = ""
    async_config: dict | None = None  # FC 3.0: what PutAsyncInvokeConfig stored (None: never put)
    async_config_times: tuple[datetime, datetime] | None = None  # (created, modified)
    on_success: str | None = None  # FC 3.0 async config: where successful async results go

    @property
    def fc3(self) -> bool:
        return self.service_name is None

    @property
    def arn(self) -> str:
        """The functionArn FC puts in destination payloads (FC 3.0: `acs:fc:<region>:<uid>:functions/<name>`)."""
        if self.fc3:
            return f"acs:fc:{self.region}:{self.account_id}:functions/{self.function_name}"
        return f"acs:fc:{self.region}:{self.account_id}:services/{self.service_name}.LATEST/functions/{self.function_name}"


@dataclass
class ServiceSpec:
    account_id: str
    region: str
    name: str
    service_id: str
    role: str | None
    created: datetime
    modified: datetime
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    description: str = ""
    log_project: str = ""
    log_store: str = ""


@dataclass(frozen=True)
class InvocationRecord:
    """One attempt of one invocation (sync, or async attempt N)."""

    account_id: str
    region: str
    service: str | None  # None: an FC 3.0 function
    function: str
    request_id: str
    attempt: int
    ok: bool
    error: str | None  # the error message
    error_type: str | None  # the exception class name (or "FakeCrash", "TimeoutError")
    duration: float  # seconds of wall time
    invocation_type: str  # "Sync" | "Async"
    source: str  # "api", "oss", "timer", "eventbridge", "destination", ...
    started: datetime
    payload: bytes


@dataclass(frozen=True)
class FailedInvocation:
    """An async invocation that exhausted its retries with no on-failure destination."""

    account_id: str
    region: str
    service: str | None
    function: str
    request_id: str
    payload: bytes
    error: str
    attempts: int
    source: str
    destination_payload: dict


@dataclass
class InvocationResult:
    """What a sync invocation returns to the API layer."""

    request_id: str
    ok: bool
    body: bytes  # handler's return value, or FC's error JSON
    record: InvocationRecord


@dataclass
class _Pending:
    account_id: str
    region: str
    service: str | None
    function: str
    payload: bytes
    request_id: str
    source: str
    attempt: int = 1
    not_before: float = 0.0  # time.monotonic(); only background workers wait for it


# ------------------------------------------------------------------------------------ backend
class FcBackend:
    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self._lock = threading.RLock()
        self._services: dict[tuple[str, str, str], ServiceSpec] = {}  # (account, region, service)
        self._functions3: dict[tuple[str, str, str], FunctionSpec] = {}  # FC 3.0: (account, region, function)
        self._queue: deque[_Pending] = deque()
        self._queue_changed = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._credentials: dict[tuple[str, str, str], object] = {}  # (account, role, session) -> AccessKey
        self.invocations: list[InvocationRecord] = []
        self.failed_invocations: list[FailedInvocation] = []
        self.async_payload_limit = ASYNC_PAYLOAD_LIMIT
        self.sync_payload_limit = SYNC_PAYLOAD_LIMIT
        # FC's audited events are management calls only -- InvokeFunction is not among them
        # (docs/fake-fidelity.md d.). Set True to have the fake record it anyway.
        self.trail_invocations = False
        self._oss_subscribed = False
        self.eventbridge = None  # fakecloud.services.eventbridge.EventBridge, created on demand
        self._workers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._retry_delay = 0.0

    # -- registry ------------------------------------------------------------------------------
    def register_function(self, account_id: str, service_name: str, function_name: str, handler: Callable, *,
                          handler_name: str = "index.handler", runtime: str = "python3.10", memory: int = 512,
                          timeout: int = 60, environment: dict | None = None, service_role: str | None = None,
                          max_async_retry: int = 3, on_failure: str | None = None,
                          region: str | None = None) -> FunctionSpec:
        """Deploy (or redeploy) a function; its service is created on first use.

        `service_role` is a role ARN or name in `account_id`; it is checked when credentials
        are needed (at invocation), as the role may be created after registration.
        `on_failure` is `"<service>/<function>"` or a function ARN in the same account.
        """
        if not callable(handler):
            raise TypeError("handler must be a callable handler(event: bytes, context)")
        for what, name in (("service", service_name), ("function", function_name)):
            if not NAME.match(name or ""):
                raise ValueError(f"invalid {what} name {name!r}: letters, digits, '_' and '-', 1-128 chars")
        if not 0 <= max_async_retry <= MAX_ASYNC_RETRY:
            raise ValueError(f"max_async_retry must be 0..{MAX_ASYNC_RETRY}")
        region = region or self.cloud.default_region
        role_arn = self._role_arn(account_id, service_role) if service_role else None
        if on_failure is not None:
            self._parse_destination(account_id, region, on_failure)
        now = clock.now()
        with self._lock:
            service = self._services.get((account_id, region, service_name))
            if service is None:
                service = ServiceSpec(account_id, region, service_name, ids.request_id().lower(), role_arn, now, now)
                self._services[(account_id, region, service_name)] = service
            elif role_arn and service.role != role_arn:
                service.role, service.modified = role_arn, now
            previous = service.functions.get(function_name)
            spec = FunctionSpec(
                account_id, region, service_name, function_name, handler, handler_name, runtime, memory, timeout,
                dict(environment or {}), role_arn or service.role, max_async_retry, on_failure,
                previous.function_id if previous else ids.request_id().lower(),
                previous.created if previous else now, now, previous.triggers if previous else {},
            )
            service.functions[function_name] = spec
        return spec

    def remove_function(self, account_id: str, service_name: str, function_name: str, *,
                        region: str | None = None) -> None:
        with self._lock:
            service = self.get_service(account_id, service_name, region=region)
            self.get_function(account_id, service_name, function_name, region=region)
            del service.functions[function_name]

    def get_service(self, account_id: str, service_name: str, *, region: str | None = None) -> ServiceSpec:
        with self._lock:
            service = self._services.get((account_id, region or self.cloud.default_region, service_name))
        if service is None:
            raise ServiceError("ServiceNotFound", f"service '{service_name}' does not exist", 404)
        return service

    def get_function(self, account_id: str, service_name: str | None, function_name: str, *,
                     region: str | None = None) -> FunctionSpec:
        """An FC 2.0 function of a service, or (`service_name` None or "") an FC 3.0 function."""
        if not service_name:
            return self.get_function3(account_id, function_name, region=region)
        service = self.get_service(account_id, service_name, region=region)
        with self._lock:
            spec = service.functions.get(function_name)
        if spec is None:
            raise ServiceError("FunctionNotFound",
                               f"function '{function_name}' does not exist in service '{service_name}'", 404)
        return spec

    def list_services(self, account_id: str, *, region: str | None = None) -> list[ServiceSpec]:
        region = region or self.cloud.default_region
        with self._lock:
            return sorted((s for (a, r, _), s in self._services.items() if a == account_id and r == region),
                          key=lambda s: s.name)

    def list_functions(self, account_id: str, service_name: str, *, region: str | None = None) -> list[FunctionSpec]:
        service = self.get_service(account_id, service_name, region=region)
        with self._lock:
            return sorted(service.functions.values(), key=lambda f: f.function_name)

    # -- FC 3.0 functions (no service) ------------------------------------------------------------
    def create_function(self, account_id: str, function_name: str, handler: Callable | None = None, *,
                        handler_name: str = "index.handler", runtime: str = "python3.10", memory: int = 512,
                        timeout: int = FC3_DEFAULT_TIMEOUT, environment: dict | None = None, role: str | None = None,
                        description: str = "", region: str | None = None, replace: bool = True) -> FunctionSpec:
        """Deploy (or, with `replace`, redeploy) an FC 3.0 function; returns its spec.

        `handler` is the callable FC runs; without one, `handler_name` (`module.function`) is
        imported in this process when the function is first invoked -- the code package is
        not unpacked. `role` is a role ARN or name in `account_id`, FC 3.0's per-function
        role. A redeploy keeps the function's triggers and async invoke config.
        `replace=False` refuses an existing name with FunctionAlreadyExists (CreateFunction).
        """
        if handler is not None and not callable(handler):
            raise TypeError("handler must be a callable handler(event: bytes, context)")
        if not NAME.match(function_name or ""):
            raise ServiceError("InvalidArgument", f"invalid function name {function_name!r}: letters, digits, '_' "
                               "and '-', not starting with a digit or '-', 1-128 chars", 400)
        if not handler_name or "." not in handler_name:
            raise ServiceError("InvalidArgument", f"invalid handler {handler_name!r}: expected 'module.function'", 400)
        region = region or self.cloud.default_region
        try:
            role_arn = self._role_arn(account_id, role) if role else None
        except ValueError as bad:
            raise ServiceError("InvalidArgument", str(bad), 400)
        now = clock.now()
        with self._lock:
            previous = self._functions3.get((account_id, region, function_name))
            if previous is not None and not replace:
                raise ServiceError("FunctionAlreadyExists", f"function '{function_name}' already exists", 409)
            spec = FunctionSpec(
                account_id, region, None, function_name, handler, handler_name, runtime, memory, timeout,
                dict(environment or {}), role_arn,
                previous.max_async_retry if previous else 3, previous.on_failure if previous else None,
                previous.function_id if previous else ids.request_id().lower(),
                previous.created if previous else now, now, previous.triggers if previous else {},
                description=description,
                async_config=previous.async_config if previous else None,
                async_config_times=previous.async_config_times if previous else None,
                on_success=previous.on_success if previous else None,
            )
            self._functions3[(account_id, region, function_name)] = spec
        return spec

    def get_function3(self, account_id: str, function_name: str, *, region: str | None = None) -> FunctionSpec:
        """An FC 3.0 function; `service$function` names an FC 2.0 function, as FC 3.0 shows those."""
        region = region or self.cloud.default_region
        with self._lock:
            spec = self._functions3.get((account_id, region, function_name))
            if spec is None and "$" in function_name:
                service_name, _, name = function_name.partition("$")
                service = self._services.get((account_id, region, service_name))
                spec = service.functions.get(name) if service else None
        if spec is None:
            raise ServiceError("FunctionNotFound", f"function '{function_name}' does not exist", 404)
        return spec

    def list_functions3(self, account_id: str, *, region: str | None = None) -> list[FunctionSpec]:
        """FC 3.0 functions of the account in the region, by name (FC 2.0 ones are not listed [?])."""
        region = region or self.cloud.default_region
        with self._lock:
            return sorted((f for (a, r, _), f in self._functions3.items() if a == account_id and r == region),
                          key=lambda f: f.function_name)

    def delete_function(self, account_id: str, function_name: str, *, region: str | None = None) -> None:
        """Remove an FC 3.0 function with its triggers and async config (queued invocations then fail)."""
        region = region or self.cloud.default_region
        with self._lock:
            if self._functions3.pop((account_id, region, function_name), None) is None:
                raise ServiceError("FunctionNotFound", f"function '{function_name}' does not exist", 404)

    def put_async_invoke_config(self, account_id: str, function_name: str, *, max_async_retry: int | None = None,
                                max_event_age: int | None = None, on_failure: str | None = None,
                                on_success: str | None = None, async_task: bool = False,
                                region: str | None = None) -> dict:
        """FC 3.0 PutAsyncInvokeConfig: retries (0..8, default 3) and destinations of async invocations.

        Destinations are function ARNs (`acs:fc:<region>:<uid>:functions/<name>`, FC 2.0 ARNs too);
        the fake delivers to Function Compute only, so any other ARN (MNS, RocketMQ,
        EventBridge) is refused here rather than silently dropped later.
        """
        spec = self.get_function(account_id, None, function_name, region=region)
        if max_async_retry is not None and not 0 <= max_async_retry <= MAX_ASYNC_RETRY:
            raise ServiceError("InvalidArgument", f"maxAsyncRetryAttempts must be between 0 and {MAX_ASYNC_RETRY}",
                               400)
        if max_event_age is not None and not 1 <= max_event_age <= 604800:
            raise ServiceError("InvalidArgument", "maxAsyncEventAgeInSeconds must be between 1 and 604800", 400)
        for destination in (on_failure, on_success):
            if destination:
                try:
                    self._parse_destination(account_id, spec.region, destination)
                except ValueError as bad:
                    raise ServiceError("InvalidArgument", str(bad), 400)
        destinations = {k: {"destination": v} for k, v in (("onFailure", on_failure), ("onSuccess", on_success)) if v}
        config = {"maxAsyncRetryAttempts": 3 if max_async_retry is None else max_async_retry,
                  "destinationConfig": destinations, "asyncTask": bool(async_task)}
        if max_event_age is not None:
            config["maxAsyncEventAgeInSeconds"] = max_event_age
        now = clock.now()
        with self._lock:
            spec.async_config = config
            spec.async_config_times = (spec.async_config_times[0] if spec.async_config_times else now, now)
            spec.max_async_retry = config["maxAsyncRetryAttempts"]
            spec.on_failure, spec.on_success = on_failure, on_success
        return dict(config)

    def get_async_invoke_config(self, account_id: str, function_name: str, *, region: str | None = None) -> dict:
        spec = self.get_function(account_id, None, function_name, region=region)
        with self._lock:
            config = spec.async_config
        if config is None:
            raise ServiceError("AsyncConfigNotExists",
                               f"AsyncConfig for {function_name}:LATEST does not exist.", 404)
        return dict(config)

    def create_trigger(self, account_id: str, function_name: str, name: str, trigger_type: str, config: dict, *,
                       source_arn: str | None = None, invocation_role: str | None = None, description: str = "",
                       region: str | None = None) -> Trigger:
        """An FC 3.0 trigger (`add_trigger` with no service): OSS triggers name their bucket by `source_arn`."""
        return self.add_trigger(account_id, None, function_name, name, trigger_type, config, region=region,
                                source_arn=source_arn, invocation_role=invocation_role, description=description)

    # -- triggers --------------------------------------------------------------------------------
    def add_trigger(self, account_id: str, service_name: str | None, function_name: str, name: str,
                    trigger_type: str, config: dict, *, region: str | None = None, invocation_role: str | None = None,
                    source_arn: str | None = None, description: str = "") -> Trigger:
        """Attach a trigger; `oss`, `timer` and `eventbridge` ones act, other types are only listed.

        `service_name` None: an FC 3.0 function's trigger. The config is validated here (cron
        syntax, filter pattern), as FC's CreateTrigger does.
        """
        if trigger_type not in TRIGGER_TYPES:
            raise ValueError(f"unknown trigger type {trigger_type!r}; expected one of {', '.join(TRIGGER_TYPES)}")
        if not NAME.match(name or ""):
            raise ValueError(f"invalid trigger name {name!r}")
        spec = self.get_function(account_id, service_name, function_name, region=region)
        if name in spec.triggers:
            raise ServiceError("TriggerAlreadyExists", f"trigger '{name}' already exists in function '{function_name}'",
                               409)
        config = dict(config)
        now = clock.now()
        trigger = Trigger(account_id, spec.region, spec.service_name, spec.function_name, name, trigger_type, config,
                          ids.request_id().lower(), now, now, source_arn=source_arn, invocation_role=invocation_role,
                          description=description)
        if trigger_type == "timer":
            trigger.schedule = parse_schedule(config.get("cronExpression", ""), now)
            trigger.last_fired = now
        elif trigger_type == "eventbridge":
            from fakecloud.services.eventbridge import EventPattern

            trigger.pattern = EventPattern.parse(config.get("eventRuleFilterPattern") or "{}")
            trigger.source_arn = source_arn or (
                f"acs:eventbridge:{spec.region}:{account_id}:eventbus/default/rule/{function_name}-{name}")
        elif trigger_type == "oss":
            bucket = config.get("bucketName") or _bucket_of_arn(source_arn)
            if not bucket:
                raise ValueError("an oss trigger needs config['bucketName'] or an acs:oss source_arn")
            if spec.service_name is not None:  # FC 2.0 configs carry the bucket; FC 3.0 ones only the ARN does
                config["bucketName"] = bucket
            trigger.bucket = bucket
            config.setdefault("events", ["oss:ObjectCreated:*"])
            trigger.source_arn = source_arn or f"acs:oss:{spec.region}:{account_id}:{bucket}"
        with self._lock:
            if name in spec.triggers:
                raise ServiceError("TriggerAlreadyExists",
                                   f"trigger '{name}' already exists in function '{function_name}'", 409)
            spec.triggers[name] = trigger
        if trigger_type == "eventbridge":
            self._ensure_eventbridge()
        elif trigger_type == "oss":
            self._ensure_oss_subscription()
        return trigger

    def remove_trigger(self, account_id: str, service_name: str, function_name: str, name: str, *,
                       region: str | None = None) -> None:
        spec = self.get_function(account_id, service_name, function_name, region=region)
        with self._lock:
            if spec.triggers.pop(name, None) is None:
                raise ServiceError("TriggerNotFound", _trigger_missing(name, service_name, function_name), 404)

    def get_trigger(self, account_id: str, service_name: str, function_name: str, name: str, *,
                    region: str | None = None) -> Trigger:
        spec = self.get_function(account_id, service_name, function_name, region=region)
        with self._lock:
            trigger = spec.triggers.get(name)
        if trigger is None:
            raise ServiceError("TriggerNotFound", _trigger_missing(name, service_name, function_name), 404)
        return trigger

    def triggers_of_type(self, trigger_type: str, *, account_id: str | None = None) -> list[Trigger]:
        """Triggers of one type on FC 2.0 and FC 3.0 functions."""
        with self._lock:
            functions = [f for (a, _, _), s in self._services.items() if account_id in (None, a)
                         for f in s.functions.values()]
            functions += [f for (a, _, _), f in self._functions3.items() if account_id in (None, a)]
            return [t for f in functions for t in f.triggers.values() if t.trigger_type == trigger_type]

    # -- invocation ------------------------------------------------------------------------------
    def invoke_async(self, account_id: str, service_name: str, function_name: str, payload: bytes | str, *,
                     source: str = "api", region: str | None = None, request_id: str | None = None) -> str:
        """Queue an async invocation (the function must exist); returns its request id."""
        spec = self.get_function(account_id, service_name, function_name, region=region)
        request_id = request_id or new_request_id()
        item = _Pending(account_id, spec.region, spec.service_name, spec.function_name, _as_bytes(payload), request_id,
                        source)
        with self._queue_changed:
            self._queue.append(item)
            self._queue_changed.notify()
        return request_id

    def invoke_sync(self, account_id: str, service_name: str, function_name: str, payload: bytes | str = b"", *,
                    region: str | None = None, request_id: str | None = None, source: str = "api") -> InvocationResult:
        """Run the function now in the calling thread, like a Sync InvokeFunction (never retried)."""
        spec = self.get_function(account_id, service_name, function_name, region=region)
        request_id = request_id or new_request_id()
        record, body = self._execute(spec, _as_bytes(payload), request_id, 1, "Sync", source)
        return InvocationResult(request_id, record.ok, body, record)

    @property
    def pending(self) -> int:
        with self._queue_changed:
            return len(self._queue)

    def run_pending(self, max_rounds: int | None = None) -> int:
        """Deliver queued async invocations in this thread; returns how many attempts ran.

        A round runs everything queued when it starts; invocations queued meanwhile (by
        handlers, triggers or retries) run in the next round. Retries are immediate (no real
        backoff) but each attempt is recorded. Without `max_rounds` it runs until the queue is
        empty and raises RuntimeError past 10,000 rounds (handlers re-triggering themselves).
        """
        attempts = rounds = 0
        while max_rounds is None or rounds < max_rounds:
            with self._queue_changed:
                batch = list(self._queue)
                self._queue.clear()
                self._in_flight += len(batch)
            if not batch:
                break
            rounds += 1
            for item in batch:
                try:
                    self._attempt(item)
                finally:
                    self._done()
                attempts += 1
            if max_rounds is None and rounds >= RUN_PENDING_GUARD:
                raise RuntimeError(f"run_pending: still busy after {rounds} rounds; an invocation loop?")
        return attempts

    # -- background delivery -----------------------------------------------------------------------
    def start_workers(self, n: int = 2, *, retry_delay: float = 1.0, timer_interval: float | None = 1.0) -> None:
        """Deliver the queue from `n` daemon threads (local runtime); retries wait `retry_delay` * attempt.

        With `timer_interval`, one more thread calls `fire_due_timers` that often.
        """
        if self._workers:
            raise RuntimeError("FC workers are already running")
        self._stopping.clear()
        self._retry_delay = retry_delay
        self._workers = [threading.Thread(target=self._worker_loop, name=f"fakecloud-fc-worker-{i}", daemon=True)
                         for i in range(n)]
        if timer_interval:
            self._workers.append(threading.Thread(target=self._timer_loop, args=(timer_interval,),
                                                  name="fakecloud-fc-timers", daemon=True))
        for thread in self._workers:
            thread.start()

    def stop_workers(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._queue_changed:
            self._queue_changed.notify_all()
        for thread in self._workers:
            thread.join(timeout)
        self._workers = []
        self._retry_delay = 0.0

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty and nothing is running (for the workers); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue_changed:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue_changed.wait(min(remaining, 0.05))
        return True

    def _worker_loop(self) -> None:
        while not self._stopping.is_set():
            with self._queue_changed:
                item, wait = self._pop_ready()
                if item is None:
                    self._queue_changed.wait(wait)
                    continue
                self._in_flight += 1
            try:
                self._attempt(item)
            except Exception:  # a bug in the fake must not kill the worker
                log.exception("fakecloud FC worker failed delivering %s", item.request_id)
            finally:
                self._done()

    def _pop_ready(self) -> tuple[_Pending | None, float]:
        now = time.monotonic()
        for index, item in enumerate(self._queue):
            if item.not_before <= now:
                del self._queue[index]
                return item, 0.0
        soonest = min((i.not_before for i in self._queue), default=now + 0.5)
        return None, max(0.01, min(soonest - now, 0.5))

    def _done(self) -> None:
        with self._queue_changed:
            self._in_flight -= 1
            self._queue_changed.notify_all()

    def _timer_loop(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            try:
                self.fire_due_timers()
            except Exception:
                log.exception("fakecloud FC timer thread failed")

    # -- one attempt ------------------------------------------------------------------------------
    def _attempt(self, item: _Pending) -> None:
        try:
            spec = self.get_function(item.account_id, item.service, item.function, region=item.region)
        except ServiceError as gone:  # deleted while queued: nothing to run, nothing to retry
            self._record_failure(item, gone.message, _destination_payload(item, None, gone.message, item.attempt))
            return
        record, body = self._execute(spec, item.payload, item.request_id, item.attempt, "Async", item.source)
        if record.ok:
            if spec.on_success and item.source != "destination":
                self._deliver(spec, spec.on_success, _destination_payload(
                    item, spec, body.decode("utf-8", "replace"), item.attempt, success=True))
            return
        if item.attempt <= spec.max_async_retry:
            item.attempt += 1
            item.not_before = time.monotonic() + self._retry_delay * (item.attempt - 1)
            with self._queue_changed:
                self._queue.append(item)
                self._queue_changed.notify()
            return
        self._give_up(item, spec, body.decode("utf-8", "replace"))

    def _give_up(self, item: _Pending, spec: FunctionSpec, error_body: str) -> None:
        payload = _destination_payload(item, spec, error_body, item.attempt)
        if spec.on_failure:
            missing = self._deliver(spec, spec.on_failure, payload)
            if missing is None:
                return
            error_body = f"{error_body} (on-failure destination unusable: {missing})"
        self._record_failure(item, error_body, payload)

    def _deliver(self, spec: FunctionSpec, destination: str, payload: dict) -> str | None:
        """Queue a destination invocation; returns why it could not be, or None."""
        try:
            region, service, function = self._parse_destination(spec.account_id, spec.region, destination)
            self.invoke_async(spec.account_id, service, function, json.dumps(payload).encode("utf-8"),
                              region=region, source="destination")
        except (ServiceError, ValueError) as missing:
            return getattr(missing, "message", None) or str(missing)
        return None

    def _record_failure(self, item: _Pending, error: str, destination_payload: dict) -> None:
        with self._lock:
            self.failed_invocations.append(FailedInvocation(
                item.account_id, item.region, item.service, item.function, item.request_id, item.payload, error,
                item.attempt, item.source, destination_payload))

    def _execute(self, spec: FunctionSpec, payload: bytes, request_id: str, attempt: int, invocation_type: str,
                 source: str) -> tuple[InvocationRecord, bytes]:
        """Run the handler once; returns the record and the response body (result or error JSON)."""
        started = clock.now()
        t0 = elapsed_clock()
        error = error_type = None
        body = b""
        stack: list[str] = []
        try:
            context = self.context_for(spec, request_id)
        except ServiceError as denied:
            error, error_type = (f"FC could not assume the service role {spec.service_role}: "
                                 f"{denied.code}: {denied.message}"), "AssumeRoleError"
        else:
            token = current_request_id.set(request_id)
            try:
                body = _result_bytes(self._handler_of(spec)(payload, context))
            except FakeCrash as crash:  # the instance died mid-request
                error, error_type = f"Process exited unexpectedly before completing request ({crash})", "FakeCrash"
            except Exception as exc:
                error, error_type = str(exc) or type(exc).__name__, type(exc).__name__
                stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])  # the handler's frames
            finally:
                current_request_id.reset(token)
        duration = elapsed_clock() - t0
        if error is None and duration > spec.timeout:  # no preemption; a late result is discarded
            error, error_type = f"Function timed out after {spec.timeout} seconds", "TimeoutError"
        if error is not None:
            body = json.dumps({"errorMessage": error, "errorType": error_type, "stackTrace": stack}).encode("utf-8")
        record = InvocationRecord(spec.account_id, spec.region, spec.service_name, spec.function_name, request_id,
                                  attempt, error is None, error, error_type, duration, invocation_type, source,
                                  started, payload)
        with self._lock:
            self.invocations.append(record)
        return record, body

    @staticmethod
    def _handler_of(spec: FunctionSpec) -> Callable:
        """The registered callable, or `handler_name` imported now (API-created FC 3.0 functions).

        An import failure is an invocation error, as a broken code package is in FC.
        """
        if spec.handler is not None:
            return spec.handler
        import importlib

        module_name, _, attribute = spec.handler_name.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        spec.handler = handler
        return handler

    # -- context and credentials -------------------------------------------------------------------
    def context_for(self, spec: FunctionSpec, request_id: str) -> FCContext | FC3Context | FC312Context:
        """The context object of the function's platform and runtime (context.py, fc-deploy.md §3.3)."""
        if spec.fc3:
            return self._context3(spec, request_id)
        with self._lock:
            service = self._services.get((spec.account_id, spec.region, spec.service_name))
        return FCContext(
            request_id=request_id,
            credentials=self._role_credentials(spec) if spec.service_role else None,
            function=FunctionMeta(spec.function_name, spec.handler_name, spec.memory, spec.timeout),
            service=ServiceMeta(spec.service_name, service.log_project if service else "",
                                service.log_store if service else ""),
            region=spec.region,
            account_id=spec.account_id,
        )

    def _context3(self, spec: FunctionSpec, request_id: str) -> FC3Context | FC312Context:
        if _runtime_version(spec.runtime) >= (3, 12):  # credentials only in ALIBABA_CLOUD_* variables
            return FC312Context(
                request_id=request_id, account_id=spec.account_id, region=spec.region,
                function=FunctionMeta312(spec.function_name, spec.handler_name, spec.memory, spec.timeout),
            )
        return FC3Context(
            request_id=request_id,
            credentials=self._role_credentials(spec) if spec.service_role else None,
            function=FunctionMeta(spec.function_name, spec.handler_name, spec.memory, spec.timeout),
            service=FC3ServiceMeta(),
            region=spec.region,
            account_id=spec.account_id,
        )

    def _role_credentials(self, spec: FunctionSpec) -> Credentials:
        """The service role's STS credentials (36 h), reused while at least 24 h of them are left.

        The trust policy is re-checked on every call (cheap), so editing it away from
        fc.aliyuncs.com breaks the next invocation rather than the next refresh [?].
        """
        role_name = ROLE_ARN.match(spec.service_role)["name"]
        session_name = f"fc-{spec.service_name or spec.function_name}"[:64]
        cache_key = (spec.account_id, role_name.lower(), session_name)
        sts = self.cloud.backend("sts")
        now = clock.now()
        with self.cloud.lock:
            key = self._credentials.get(cache_key)
            fresh = (key is not None and self.cloud.keys.get(key.access_key_id) is key
                     and key.expiration - now > CREDENTIAL_REFRESH_MARGIN and self._still_trusted(spec, key))
            if not fresh:
                key = sts.issue_service_session(spec.account_id, role_name, FC_PRINCIPAL,
                                                int(CREDENTIAL_LIFETIME.total_seconds()), session_name,
                                                fixed_duration=True)
                self._credentials[cache_key] = key
        return Credentials(key.access_key_id, key.secret, key.security_token)

    def _still_trusted(self, spec: FunctionSpec, key) -> bool:
        from fakecloud.iam.policy import Decision, PrincipalRef, RequestContext, evaluate_trust

        ram = self.cloud.backend("ram")
        role = ram.find_role(spec.account_id, key.session.role_name) if spec.account_id in ram.accounts else None
        if role is None or role.role_id != key.session.role_id:
            return False
        ctx = RequestContext("sts:AssumeRole", role.arn, {"acs:CurrentTime": clock.iso(clock.now())})
        return evaluate_trust(role.parsed_trust, PrincipalRef("service", spec.account_id, FC_PRINCIPAL), ctx) \
            == Decision.ALLOW

    @staticmethod
    def _role_arn(account_id: str, role: str) -> str:
        if m := ROLE_ARN.match(role):
            if m["account"] != account_id:
                raise ValueError(f"service role {role} belongs to another account than {account_id}")
            return role
        if not re.match(r"^[A-Za-z0-9.\-]{1,64}$", role):
            raise ValueError(f"service_role must be a role ARN or name, got {role!r}")
        return f"acs:ram::{account_id}:role/{role}"

    def _parse_destination(self, account_id: str, region: str, destination: str) -> tuple[str, str | None, str]:
        """(region, service or None for FC 3.0, function) of a destination (checked for existence only when used).

        Accepted: an FC 2.0 function ARN, an FC 3.0 one (`acs:fc:<region>:[<uid>]:functions/<name>`),
        or `<service>/<function>`. Other destinations (MNS, RocketMQ, EventBridge) are not served.
        """
        if m := FUNCTION_ARN.match(destination):
            if m["account"] != account_id:
                raise ValueError(f"on_failure destination {destination} is in another account")
            region, service, function = m["region"], m["service"], m["function"]
        elif m := FUNCTION3_ARN.match(destination):
            if m["account"] not in ("", account_id):
                raise ValueError(f"on_failure destination {destination} is in another account")
            region, service, function = m["region"], None, m["function"]
        elif destination.count("/") == 1 and not destination.startswith("acs:"):
            service, function = destination.split("/")
        else:
            raise ValueError(f"destination must be a Function Compute function ARN or '<service>/<function>', got "
                             f"{destination!r} (fakecloud delivers to Function Compute only)")
        return region, service, function

    # -- timers ---------------------------------------------------------------------------------------
    def fire_due_timers(self, now: datetime | None = None) -> int:
        """Fire every enabled timer whose schedule ticked in (last fired, now]; returns how many fired.

        FC fires every tick; to keep time travel cheap the fake fires only the *latest* due
        tick per trigger per call and skips older missed ones. Event:
        `{"triggerTime": "<tick>Z", "triggerName": ..., "payload": <config payload>}`, async.
        """
        now = now or clock.now()
        fired = 0
        for trigger in self.triggers_of_type("timer"):
            if not trigger.enabled:
                continue
            with self._lock:
                tick = trigger.schedule.latest_tick(trigger.last_fired, now)
                if tick is None:
                    continue
                trigger.last_fired = tick
            event = {"triggerTime": clock.iso(tick), "triggerName": trigger.name,
                     "payload": str(trigger.config.get("payload", ""))}
            try:
                self.invoke_async(trigger.account_id, trigger.service_name, trigger.function_name,
                                  json.dumps(event).encode("utf-8"), region=trigger.region, source="timer")
            except ServiceError:  # function removed under the trigger
                continue
            fired += 1
        return fired

    # -- OSS --------------------------------------------------------------------------------------------
    def on_oss_event(self, bucket_name: str, payload: bytes | str) -> int:
        """An OSS notification for `bucket_name` (FC OSS-trigger JSON); returns invocations queued.

        Each matching trigger gets one async invocation carrying only the events it matches
        (the original bytes when all match). Events name their bucket owner and region; a
        trigger only sees its own account's buckets in its own region.
        """
        triggers = [t for t in self.triggers_of_type("oss") if t.bucket == bucket_name]
        if not triggers:
            return 0
        raw = _as_bytes(payload)
        events = json.loads(raw).get("events", [])
        queued = 0
        for trigger in triggers:
            matching = [e for e in events if _oss_event_matches(trigger, e)]
            if not matching:
                continue
            body = raw if len(matching) == len(events) else json.dumps({"events": matching}).encode("utf-8")
            try:
                self.invoke_async(trigger.account_id, trigger.service_name, trigger.function_name, body,
                                  region=trigger.region, source="oss")
            except ServiceError:
                continue
            queued += 1
        return queued

    def _ensure_oss_subscription(self) -> None:
        """Subscribe to the OSS backend's notifications once, if that backend offers them."""
        with self._lock:
            if self._oss_subscribed:
                return
            oss = self.cloud.services.get("oss")
            subscribe = getattr(getattr(oss, "backend", None), "subscribe", None)
            if subscribe is None:
                return
            self._oss_subscribed = True
        subscribe(self.on_oss_event)

    def _ensure_eventbridge(self) -> None:
        with self._lock:
            if self.eventbridge is None:
                from fakecloud.services.eventbridge import EventBridge

                self.eventbridge = EventBridge(self.cloud, self)


# ------------------------------------------------------------------------------------ helpers
def _runtime_version(runtime: str) -> tuple[int, ...]:
    """`python3.12` -> (3, 12); anything else -> (0,)."""
    digits = runtime[len("python"):] if runtime.startswith("python") else ""
    try:
        return tuple(int(part) for part in digits.split("."))
    except ValueError:
        return (0,)


def new_request_id() -> str:
    """FC request ids are lower-case UUIDs."""
    return ids.request_id().lower()


def _as_bytes(payload: bytes | str | None) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return bytes(payload)


def _result_bytes(result: object) -> bytes:
    """The runtime's rendering of a handler's return value."""
    if result is None:
        return b""
    if isinstance(result, (bytes, bytearray)):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8")
    return json.dumps(result).encode("utf-8")


def _trigger_missing(name: str, service: str | None, function: str) -> str:
    if not service:
        return f"trigger '{name}' does not exist in function '{function}'"
    return f"trigger '{name}' does not exist in service '{service}' and function '{function}'"


def _bucket_of_arn(arn: str | None) -> str | None:
    if arn and arn.startswith("acs:oss:"):
        return arn.split(":")[-1] or None
    return None


def _oss_event_matches(trigger: Trigger, event: dict) -> bool:
    bucket = (event.get("oss") or {}).get("bucket") or {}
    owner = bucket.get("ownerIdentity")
    if owner and owner != trigger.account_id:
        return False
    if event.get("region") and event["region"] != trigger.region:
        return False
    name = "oss:" + str(event.get("eventName", ""))
    if not any(_event_name_matches(pattern, name) for pattern in trigger.config.get("events", [])):
        return False
    key = str(((event.get("oss") or {}).get("object") or {}).get("key", ""))
    flt = trigger.config.get("filter") or {}
    key_filter = flt.get("Key") or flt.get("key") or {}
    prefix = key_filter.get("Prefix", key_filter.get("prefix")) or ""
    suffix = key_filter.get("Suffix", key_filter.get("suffix")) or ""
    return key.startswith(prefix) and key.endswith(suffix)


def _event_name_matches(pattern: str, name: str) -> bool:
    """`oss:ObjectCreated:*` style: a trailing `*` matches any event of that category."""
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def _destination_payload(item: _Pending, spec: FunctionSpec | None, error_body: str, attempts: int, *,
                         success: bool = False) -> dict:
    """FC's async-destination payload ("result callback" page) for a failed -- or successful -- invocation."""
    if spec is not None:
        arn = spec.arn
    elif item.service is None:
        arn = f"acs:fc:{item.region}:{item.account_id}:functions/{item.function}"
    else:
        arn = f"acs:fc:{item.region}:{item.account_id}:services/{item.service}.LATEST/functions/{item.function}"
    return {
        "timestamp": int(clock.now().timestamp()),
        "requestContext": {"requestId": item.request_id, "functionArn": arn, "condition": "" if success else UNHANDLED,
                           "approximateInvokeCount": attempts},
        "requestPayload": item.payload.decode("utf-8", "replace"),
        "responseContext": {"statusCode": 200, "functionError": "" if success else UNHANDLED},
        "responsePayload": error_body,
    }
