"""The `context` objects FC passes to Python handlers.

- FC 2.0, python3.6/3.9/3.10 (`FCContext`, fc-deploy.md §3.3): `request_id`, `credentials`,
  `function`, `service` (with its `name`), `region`, `account_id`, `tracing`, `getLogger()`.
- FC 3.0, python3.6/3.9/3.10 (`FC3Context`; FC 3.0 "Context" page, Python 3.10 section):
  the same, but there are no services: `service` keeps only `log_project`, `log_store`,
  `qualifier` and `version_id` -- no `name` -- and `credentials` are the *function's* role.
- FC 3.0, python3.12 (`FC312Context`): no `credentials` (they are in the
  ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN variables) and no `service`;
  `function` adds `version_id` and `qualifier`; `log_project`, `log_store` and `logger`
  (None until `getLogger()`) sit on the context itself.

`credentials` is None when the service / function has no role, as in FC.
"""
from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field

# The request being handled in this thread / task, so one logger per function can tag lines
# with the right request id even when workers run invocations concurrently.
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("fc_request_id", default="")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    security_token: str


@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str
    memory: int
    timeout: int
    initializer: str = ""
    initialization_timeout: int = 3


@dataclass(frozen=True)
class ServiceMeta:
    name: str
    log_project: str = ""
    log_store: str = ""
    qualifier: str = "LATEST"
    version_id: str = ""


@dataclass(frozen=True)
class Tracing:
    span_context: str | None = None
    jaeger_endpoint: str | None = None
    span_baggages: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FCContext:
    request_id: str
    credentials: Credentials | None
    function: FunctionMeta
    service: ServiceMeta
    region: str
    account_id: str
    tracing: Tracing = field(default_factory=Tracing)

    def getLogger(self) -> logging.Logger:  # noqa: N802 - the runtime's name
        return function_logger(self.function.name, self.service.name)


@dataclass(frozen=True)
class FC3ServiceMeta:
    """What remains of `context.service` in FC 3.0's python3.10 runtime: no service name."""

    log_project: str = ""
    log_store: str = ""
    qualifier: str = "LATEST"
    version_id: str = ""


@dataclass(frozen=True)
class FC3Context:
    """FC 3.0, python3.6/3.9/3.10."""

    request_id: str
    credentials: Credentials | None
    function: FunctionMeta
    service: FC3ServiceMeta
    region: str
    account_id: str
    tracing: Tracing = field(default_factory=Tracing)

    def getLogger(self) -> logging.Logger:  # noqa: N802 - the runtime's name
        return function_logger(self.function.name)


@dataclass(frozen=True)
class FunctionMeta312:
    name: str
    handler: str
    memory: int
    timeout: int
    version_id: str = ""
    qualifier: str = "LATEST"


@dataclass
class FC312Context:
    """FC 3.0, python3.12: no credentials, no service."""

    request_id: str
    account_id: str
    region: str
    function: FunctionMeta312
    log_project: str = ""
    log_store: str = ""
    logger: logging.Logger | None = None

    def getLogger(self) -> logging.Logger:  # noqa: N802 - the runtime's name
        if self.logger is None:
            self.logger = function_logger(self.function.name)
        return self.logger


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.fc_request_id = current_request_id.get()
        return True


# FC's `$utc $requestId [$Level] $message`, for a handler the local runtime may attach.
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(fc_request_id)s [%(levelname)s] %(message)s"


def function_logger(function_name: str, service_name: str | None = None) -> logging.Logger:
    """One logger per function (not per request, so loggers don't accumulate).

    Lines carry FC's `$utc $requestId [$Level] $message` shape via `fc_request_id` on each
    record; the logger propagates to the root logger, so pytest's caplog sees them.
    """
    logger = logging.getLogger(f"fakecloud.fc.{service_name}.{function_name}" if service_name
                               else f"fakecloud.fc3.{function_name}")
    if not any(isinstance(f, _RequestIdFilter) for f in logger.filters):
        logger.addFilter(_RequestIdFilter())
        logger.setLevel(logging.INFO)
    return logger

