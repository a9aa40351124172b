"""Function Compute 2.0 state: the function registry, triggers, the async queue and its retries.

Functions are registered by tests and the local runtime, not through the API: a function is
a Python callable `handler(event: bytes, context)`. What FC does around it is modelled here:

- the context and the service role's STS credentials (issued by the fake STS, so they work
  against every fake service and show up in ActionTrail as the role's session);
- sync invocation (the caller waits, errors come back as UnhandledInvocationError);
- the async queue: `invoke_async` only enqueues; `run_pending` drains it in the calling
  thread (deterministic tests) and `start_workers` drains it in background threads (local
  runtime). Unhandled errors -- including `FakeCrash`, a dead instance -- are retried
  `max_async_retry` times (FC default 3, i.e. 4 attempts), then sent to the on-failure
  destination or kept in `failed_invocations`;
- triggers: OSS notifications, timers (`fire_due_timers`) and EventBridge (ActionTrail
  Write events), all of which invoke asynchronously.

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
from fakecloud.services.fc.context import (Credentials, FCContext, FunctionMeta, ServiceMeta,
                                           current_request_id)
from fakecloud.services.fc.schedule import parse_schedule

log = logging.getLogger(__name__)

FC_PRINCIPAL = "fc.aliyuncs.com"
ASYNC_PAYLOAD_LIMIT = 128 * 1024  # FC 2.0: async request payload <= 128 KB
SYNC_PAYLOAD_LIMIT = 32 * 1024 * 1024  # FC 2.0: sync request payload <= 32 MB
MAX_ASYNC_RETRY = 8  # FC allows 0..8
CREDENTIAL_REFRESH_MARGIN = timedelta(minutes=10)
RUN_PENDING_GUARD = 10_000  # rounds; more means handlers keep invoking each other forever
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
ROLE_ARN = re.compile(r"^acs:ram::(?P<account>\d+):role/(?P<name>[A-Za-z0-9.\-]{1,64})$", re.IGNORECASE)
FUNCTION_ARN = re.compile(
    r"^acs:fc:(?P<region>[a-z0-9-]+):(?P<account>\d+):services/(?P<service>[^/.]+)(?:\.[^/]+)?/functions/(?P<function>[^/]+)$")
TRIGGER_TYPES = ("oss", "timer", "eventbridge", "http", "log", "mns_topic", "cdn_events", "tablestore", "rds",
                 "mq_topic")
UNHANDLED = "UnhandledInvocationError"
elapsed_clock = time.perf_counter  # measures handler duration (timeouts); not moved by time travel


# ------------------------------------------------------------------------------------ records
@dataclass
class Trigger:
    account_id: str
    region: str
    service_name: str
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
    service_name: str
    function_name: str
    handler: Callable
    handler_name: str
    runtime: str
    memory: int
    timeout: int
    environment: dict[str, str]
    service_role: str | None  # role ARN
    max_async_retry: int
    on_failure: str | None
    function_id: str
    created: datetime
    modified: datetime
    triggers: dict[str, Trigger] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        """The functionArn FC puts in destination payloads."""
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
    service: str
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
    service: str
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
    service: str
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

    def get_function(self, account_id: str, service_name: str, function_name: str, *,
                     region: str | None = None) -> FunctionSpec:
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

    # -- triggers --------------------------------------------------------------------------------
    def add_trigger(self, account_id: str, service_name: str, function_name: str, name: str, trigger_type: str,
                    config: dict, *, region: str | None = None, invocation_role: str | None = None,
                    source_arn: str | None = None) -> Trigger:
        """Attach a trigger; `oss`, `timer` and `eventbridge` ones act, other types are only listed.

        The config is validated here (cron syntax, filter pattern), as FC's CreateTrigger does.
        """
        if trigger_type not in TRIGGER_TYPES:
            raise ValueError(f"unknown trigger type {trigger_type!r}; expected one of {', '.join(TRIGGER_TYPES)}")
        if not NAME.match(name or ""):
            raise ValueError(f"invalid trigger name {name!r}")
        spec = self.get_function(account_id, service_name, function_name, region=region)
        config = dict(config)
        now = clock.now()
        trigger = Trigger(account_id, spec.region, service_name, function_name, name, trigger_type, config,
                          ids.request_id().lower(), now, now, source_arn=source_arn, invocation_role=invocation_role)
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
            config["bucketName"] = bucket
            config.setdefault("events", ["oss:ObjectCreated:*"])
            trigger.source_arn = source_arn or f"acs:oss:{spec.region}:{account_id}:{bucket}"
        with self._lock:
            if name in spec.triggers:
                raise ValueError(f"trigger {name!r} already exists on {service_name}/{function_name}")
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
        with self._lock:
            return [t for (a, _, _), s in self._services.items() if account_id in (None, a)
                    for f in s.functions.values() for t in f.triggers.values() if t.trigger_type == trigger_type]

    # -- invocation ------------------------------------------------------------------------------
    def invoke_async(self, account_id: str, service_name: str, function_name: str, payload: bytes | str, *,
                     source: str = "api", region: str | None = None, request_id: str | None = None) -> str:
        """Queue an async invocation (the function must exist); returns its request id."""
        spec = self.get_function(account_id, service_name, function_name, region=region)
        request_id = request_id or new_request_id()
        item = _Pending(account_id, spec.region, service_name, function_name, _as_bytes(payload), request_id, source)
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
            try:
                region, service, function = self._parse_destination(spec.account_id, spec.region, spec.on_failure)
                self.invoke_async(spec.account_id, service, function, json.dumps(payload).encode("utf-8"),
                                  region=region, source="destination")
                return
            except ServiceError as missing:
                error_body = f"{error_body} (on-failure destination unusable: {missing.message})"
        self._record_failure(item, error_body, payload)

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
                body = _result_bytes(spec.handler(payload, context))
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

    # -- context and credentials -------------------------------------------------------------------
    def context_for(self, spec: FunctionSpec, request_id: str) -> FCContext:
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

    def _role_credentials(self, spec: FunctionSpec) -> Credentials:
        """The service role's STS credentials, reused until 10 minutes before they expire.

        The trust policy is re-checked on every call (cheap), so editing it away from
        fc.aliyuncs.com breaks the next invocation rather than the next refresh [?].
        """
        role_name = ROLE_ARN.match(spec.service_role)["name"]
        session_name = f"fc-{spec.service_name}"[:64]
        cache_key = (spec.account_id, role_name.lower(), session_name)
        sts = self.cloud.backend("sts")
        now = clock.now()
        with self.cloud.lock:
            key = self._credentials.get(cache_key)
            fresh = (key is not None and self.cloud.keys.get(key.access_key_id) is key
                     and key.expiration - now > CREDENTIAL_REFRESH_MARGIN and self._still_trusted(spec, key))
            if not fresh:
                key = sts.issue_service_session(spec.account_id, role_name, FC_PRINCIPAL, 3600, session_name)
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

    def _parse_destination(self, account_id: str, region: str, destination: str) -> tuple[str, str, str]:
        """(region, service, function) of an on-failure destination (checked for existence only when used)."""
        if m := FUNCTION_ARN.match(destination):
            if m["account"] != account_id:
                raise ValueError(f"on_failure destination {destination} is in another account")
            region, service, function = m["region"], m["service"], m["function"]
        elif destination.count("/") == 1:
            service, function = destination.split("/")
        else:
            raise ValueError(f"on_failure must be '<service>/<function>' or a function ARN, got {destination!r}")
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
        triggers = [t for t in self.triggers_of_type("oss") if t.config.get("bucketName") == bucket_name]
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


def _trigger_missing(name: str, service: str, function: str) -> str:
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


def _destination_payload(item: _Pending, spec: FunctionSpec | None, error_body: str, attempts: int) -> dict:
    """FC's async-destination payload for a failed invocation."""
    arn = spec.arn if spec else (f"acs:fc:{item.region}:{item.account_id}:services/{item.service}.LATEST"
                                 f"/functions/{item.function}")
    return {
        "timestamp": int(clock.now().timestamp()),
        "requestContext": {"requestId": item.request_id, "functionArn": arn, "condition": UNHANDLED,
                           "approximateInvokeCount": attempts},
        "requestPayload": item.payload.decode("utf-8", "replace"),
        "responseContext": {"statusCode": 200, "functionError": UNHANDLED},
        "responsePayload": error_body,
    }
