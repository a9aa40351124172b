"""The `context` object FC 2.0 passes to Python handlers (python3.6/3.9/3.10 shape).

Field names follow the runtime (fc-deploy.md §3.3): `request_id`, `credentials`,
`function`, `service`, `region`, `account_id`, `tracing`, `getLogger()`. `credentials` is
None when the service has no role, as in FC.
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
        return function_logger(self.service.name, self.function.name)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.fc_request_id = current_request_id.get()
        return True


# FC's `$utc $requestId [$Level] $message`, for a handler the local runtime may attach.
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(fc_request_id)s [%(levelname)s] %(message)s"


def function_logger(service_name: str, function_name: str) -> logging.Logger:
    """One logger per function (not per request, so loggers don't accumulate).

    Lines carry FC's `$utc $requestId [$Level] $message` shape via `fc_request_id` on each
    record; the logger propagates to the root logger, so pytest's caplog sees them.
    """
    logger = logging.getLogger(f"fakecloud.fc.{service_name}.{function_name}")
    if not any(isinstance(f, _RequestIdFilter) for f in logger.filters):
        logger.addFilter(_RequestIdFilter())
        logger.setLevel(logging.INFO)
    return logger

