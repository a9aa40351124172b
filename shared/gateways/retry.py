"""One error type and one retry policy for every cloud call.

Each SDK fails in its own way (tea `ClientException`, `oss2.exceptions.OssError`,
`fc2.fc_exceptions.FcError`, bare `requests` errors). `to_cloud_error` turns all of them
into `CloudError`, keeping the cloud's code, HTTP status and request id, so the core only
ever handles one type. `call_with_retry` retries what `CloudError.retryable` says may
succeed later (throttling, 5xx, dropped connections) with capped exponential backoff and
full jitter, so that many concurrent workers hitting a throttled API spread out instead of
retrying in lock-step.

SDK modules are looked up in `sys.modules` instead of being imported: an exception can only
come from an SDK that is already loaded, and a cold start must not pay for the others.
"""
from __future__ import annotations

import json
import logging
import random
import sys
from collections.abc import Callable
from typing import TypeVar

from shared.errors import CloudError
from shared.log import redact

BASE_DELAY = 0.2  # seconds
MAX_DELAY = 10.0  # seconds

log = logging.getLogger("rolepact.gateway")
_random = random.Random()
T = TypeVar("T")


def backoff(attempt: int, *, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Full-jitter delay before retry number `attempt` (1 = first retry)."""
    return _random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def call_with_retry(fn: Callable[[], T], *, service: str, action: str, settings) -> T:
    """Run `fn`; map failures to CloudError and retry the retryable ones.

    At most `settings.max_attempts` calls are made; the last CloudError is raised when they
    are used up. Non-retryable errors (and exceptions that are not cloud errors at all, i.e.
    bugs) are raised at once. Sleeps go through `settings.sleep` so tests can skip them.
    """
    attempts = max(1, settings.max_attempts)
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified right below
            error = to_cloud_error(exc, service, action)
            if error is None:
                raise
            if not error.retryable or attempt >= attempts:
                if error is exc:
                    raise
                raise error from exc
            delay = backoff(attempt)
            retry_after = getattr(exc, "retry_after", None)  # tea ThrottlingException (seconds)
            if isinstance(retry_after, (int, float)) and retry_after > 0:
                delay = max(delay, min(float(retry_after), MAX_DELAY))
            log.warning("retrying %s:%s after %s (attempt %d of %d, waiting %.2fs)", service, action,
                        error.code, attempt, attempts, delay,
                        extra={"service": service, "action": action, "errorCode": error.code,
                               "status": error.status, "cloudRequestId": error.request_id, "attempt": attempt})
            settings.sleep(delay)
            attempt += 1


def to_cloud_error(exc: BaseException, service: str, action: str) -> CloudError | None:
    """The CloudError an SDK/transport exception stands for; None if it is not one (a bug)."""
    if isinstance(exc, CloudError):
        return exc
    for convert in (_from_tea, _from_oss2, _from_fc2, _from_transport):
        error = convert(exc, service, action)
        if error is not None:
            return error
    return None


def _error(service: str, action: str, code, message, status=None, request_id=None) -> CloudError:
    return CloudError(service, action, str(code or "UnknownError"), redact(str(message or "")),
                      status=status if isinstance(status, int) else None, request_id=request_id or None)


def _module(name: str):
    return sys.modules.get(name)


def _from_tea(exc, service, action):
    """tea-openapi / darabonba / Tea exceptions (RAM, STS, ActionTrail)."""
    tea = _module("Tea.exceptions")
    if tea is None or not isinstance(exc, tea.TeaException):
        return None
    inner = getattr(exc, "inner_exception", None)
    if inner is not None and inner is not exc:
        # UnretryableException wraps what went wrong: a RetryError is the SDK's name for an IOError
        # (connection refused, reset, timed out) raised while sending.
        if type(inner).__name__ == "RetryError" or isinstance(inner, OSError):
            return _error(service, action, "ConnectionError", getattr(inner, "message", None) or inner)
        nested = to_cloud_error(inner, service, action)
        if nested is not None:
            return nested
    data = getattr(exc, "data", None)
    data = data if isinstance(data, dict) else {}
    status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None) or data.get("statusCode")
    # `.message` is "code: 404, <Message> request id: <id>"; the body's own Message reads better.
    message = data.get("Message") or data.get("message") or getattr(exc, "message", None) or str(exc)
    request_id = getattr(exc, "request_id", None) or data.get("RequestId") or data.get("requestId")
    code = getattr(exc, "code", None) or ("UnexpectedResponse" if status is None else f"HTTP{status}")
    return _error(service, action, code, message, status, request_id)


def _from_oss2(exc, service, action):
    oss = _module("oss2.exceptions")
    if oss is None or not isinstance(exc, oss.OssError):
        return None
    if isinstance(exc, oss.RequestError):  # requests failed before any HTTP answer
        return _error(service, action, "ConnectionError", getattr(exc, "exception", None) or exc.body)
    status = exc.status if isinstance(exc.status, int) and exc.status > 0 else None
    code = exc.code or type(exc).__name__  # a HEAD error has no body, hence no code
    return _error(service, action, code, exc.message or exc.body, status, exc.request_id)


def _from_fc2(exc, service, action):
    fc = _module("fc2.fc_exceptions")
    if fc is None or not isinstance(exc, fc.FcError):
        return None
    message = exc.message
    try:  # fc2 puts the whole JSON error body in the message
        body = json.loads(message)
        message = body.get("ErrorMessage") or body.get("errorMessage") or message
    except (TypeError, ValueError, AttributeError):
        pass
    # A sync invocation whose function raised comes back as HTTP 200 + x-fc-error-type: the
    # function failed, not FC; never worth a blind retry.
    code = exc.err_code or ("UnhandledInvocationError" if exc.status_code == 200 else f"HTTP{exc.status_code}")
    request_id = exc.request_id if exc.request_id not in ("", "unknown") else None
    return _error(service, action, code, message, exc.status_code, request_id)


def _from_transport(exc, service, action):
    """`requests` ConnectionError/Timeout and plain socket errors: no answer at all."""
    requests_exc = _module("requests.exceptions")
    if requests_exc is not None and isinstance(exc, (requests_exc.ConnectionError, requests_exc.Timeout)):
        return _error(service, action, "ConnectionError", exc)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return _error(service, action, "ConnectionError", exc)
    return None
