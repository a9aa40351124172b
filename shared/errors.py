"""Typed errors. Cloud errors carry the cloud's own error code, status and request id."""
from __future__ import annotations

from dataclasses import dataclass


class RolepactError(Exception):
    """Base of every error rolepact raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an agreement: where (a JSON path like `policies[1].document`) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def to_dict(self) -> dict:
        return {"path": self.path, "message": self.message}


class AgreementRejected(RolepactError):
    """The agreement (or this upload of it) is refused; nothing in RAM was changed."""

    def __init__(self, problems: list[Problem], *, reason: str = "invalid") -> None:
        self.problems = list(problems)
        self.reason = reason  # invalid | guardrail | conflict
        super().__init__("; ".join(str(p) for p in self.problems))


class CloudError(RolepactError):
    """An error answered by an Alibaba Cloud API (or the transport to it)."""

    def __init__(self, service: str, action: str, code: str, message: str, *, status: int | None = None,
                 request_id: str | None = None) -> None:
        self.service = service
        self.action = action
        self.code = code
        self.status = status
        self.request_id = request_id
        self.message = message
        super().__init__(f"{service}:{action} failed: {code} ({status}) {message} [request {request_id}]")

    @property
    def retryable(self) -> bool:
        """Throttling, server-side failures and dropped connections may succeed if tried again."""
        return (self.code.startswith("Throttling") or self.code in RETRYABLE_CODES
                or (self.status is not None and self.status >= 500))

    def to_dict(self) -> dict:
        return {"service": self.service, "action": self.action, "code": self.code, "status": self.status,
                "requestId": self.request_id, "message": self.message}


RETRYABLE_CODES = frozenset({"ServiceUnavailable", "InternalError", "ConnectionError", "Timeout",
                             "RequestTimeTooSkewed", "OperationConflict"})


class BucketVersioned(RolepactError):
    """rolepact's bucket has versioning Enabled or Suspended: OSS then ignores x-oss-forbid-overwrite
    (PutObject reference), so no first-writer-wins marker (claims, once-only notices, leases, tick
    and alert claims) holds any more. rolepact refuses to act rather than grant or notify twice."""

    code = "Rolepact.BucketVersioned"

    def __init__(self, bucket: str, status: str) -> None:
        self.bucket = bucket
        self.status = status
        super().__init__(
            f"bucket {bucket} has versioning {status}: OSS ignores x-oss-forbid-overwrite in a versioned bucket, so "
            "rolepact cannot keep its once-only records there and refuses to act. Versioning cannot be turned "
            "off again: deploy rolepact with a new bucket that never had versioning (ROLEPACT_BUCKET) and copy "
            "agreements/, status/ and state/ into it (docs/operations.md, 'Bucket versioning')")


class NotConverged(RolepactError):
    """The executor kept finding work to do; something else is changing the same role."""
