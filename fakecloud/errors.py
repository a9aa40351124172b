"""Errors raised inside the fake and rendered by each service in its own wire format."""
from __future__ import annotations


class ServiceError(Exception):
    """A cloud error: the code, HTTP status and message the real service would answer.

    `extra` carries service-specific fields (RAM's `AccessDeniedDetail`, OSS's `Key`, ...).
    """

    def __init__(self, code: str, message: str, status: int = 400, **extra: object) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra


class FakeCrash(BaseException):
    """Simulates the *caller's* process dying right after the cloud applied a change.

    A BaseException (like KeyboardInterrupt) so that product code's `except Exception`
    does not swallow it: a test sees exactly what a crashed FC instance would leave behind.
    """


class UnservedEndpoint(ConnectionError):
    """A request reached the fake for a host or API it does not implement."""
