"""Fault injection and call accounting, for reliability and cost tests.

A rule matches calls by service and action; it fires on the N-th matching call (or with a
probability, from a seeded generator), either *before* the state change (the caller gets
an error and nothing changed) or *after* it (the change is applied, then the caller gets
an error — or its process "crashes" with `FakeCrash`).
"""
from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from fakecloud.errors import FakeCrash, ServiceError

_DEFAULT_MESSAGES = {
    "Throttling": "Request was denied due to request throttling.",
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
    "InternalError": "The request processing has failed due to some unknown error, exception or failure.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
}


@dataclass
class FaultRule:
    service: str | None
    action: str | None
    code: str
    status: int
    message: str
    after: bool = False  # apply the change, then fail
    crash: bool = False  # apply the change, then raise FakeCrash in the caller
    nth: int | None = None  # fire on the n-th matching call (1-based) ...
    times: int = 1  # ... and the (times-1) calls after it
    probability: float | None = None  # or fire at random with this probability
    answers: tuple = ()  # instead of an error: these (odd but well-formed) success bodies, one per firing
    resource_prefix: str | None = None  # only calls on a resource starting with this (OSS: "bucket/key")
    seen: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def matches(self, service: str, action: str, resource: str = "") -> bool:
        return (self.service in (None, service)) and (self.action in (None, action)) and \
            (self.resource_prefix is None or resource.startswith(self.resource_prefix))

    def should_fire(self) -> bool:
        self.seen += 1
        if self.probability is not None:
            return self.rng.random() < self.probability
        if self.nth is None:
            return False
        return self.nth <= self.seen < self.nth + self.times

    def error(self) -> ServiceError:
        return ServiceError(self.code, self.message, self.status)


class Faults:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._garbles: list[GarbleRule] = []
        self._lock = threading.Lock()

    def fail(self, action: str | None = None, *, service: str | None = None, nth: int = 1, times: int = 1,
             code: str = "InternalError", status: int | None = None, message: str | None = None,
             after: bool = False, resource_prefix: str | None = None) -> FaultRule:
        """Make the `nth` matching call (and `times`-1 more) answer an error. `resource_prefix`: only calls
        on such a resource count (OSS object calls: `bucket/key`, e.g. `rolepact-data/audit/events/`)."""
        return self._add(FaultRule(service, action, code, status or _status_for(code),
                                   message or _DEFAULT_MESSAGES.get(code, code), after=after, nth=nth, times=times,
                                   resource_prefix=resource_prefix))

    def answer(self, action: str, *bodies: dict, service: str | None = None, nth: int = 1) -> FaultRule:
        """Make the `nth` matching POP call (and the next ones, one per body) succeed with these
        bodies and change nothing: a cloud that answers oddly (a paging marker that repeats, an
        empty page), for client robustness tests."""
        return self._add(FaultRule(service, action, "Answer", 200, "canned answer", nth=nth, times=len(bodies),
                                   answers=bodies))

    def next_answer(self, rule: FaultRule) -> dict:
        return dict(rule.answers[rule.fired - 1])

    def crash_after(self, action: str | None = None, *, service: str | None = None, nth: int = 1) -> FaultRule:
        """Apply the `nth` matching call, then raise FakeCrash in the caller (a dead FC instance)."""
        return self._add(FaultRule(service, action, "FakeCrash", 0, "simulated crash", after=True, crash=True, nth=nth))

    def chaos(self, probability: float, *, code: str = "Throttling.User", status: int | None = None,
              action: str | None = None, service: str | None = None, seed: int = 0) -> FaultRule:
        """Fail a random share of matching calls before they change anything."""
        return self._add(FaultRule(service, action, code, status or _status_for(code),
                                   _DEFAULT_MESSAGES.get(code, code), probability=probability,
                                   rng=random.Random(seed)))

    def garble(self, service: str, *, method: str | None = None, request: bool = False, nth: int = 1,
               times: int = 1) -> GarbleRule:
        """Flip a byte of the `nth` (and `times`-1 more) non-empty body sent to or from `service` (a
        network that corrupts data: what OSS's CRC-64 header is for). `request=True`: the body the
        server receives, so it stores and reports the corrupted bytes."""
        rule = GarbleRule(service, method.upper() if method else None, request, nth, times)
        with self._lock:
            self._garbles.append(rule)
        return rule

    def garbled(self, service: str, method: str, body: bytes, *, request: bool) -> bytes:
        """`body` as it arrives: flipped when a garble rule fires for this transfer."""
        if not self._garbles or not body:
            return body
        with self._lock:
            for rule in self._garbles:
                if rule.matches(service, method, request):
                    rule.seen += 1
                    if rule.nth <= rule.seen < rule.nth + rule.times:
                        rule.fired += 1
                        return flip_last_byte(body)
        return body

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._garbles.clear()

    def _add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def check(self, service: str, action: str, resource: str = "") -> FaultRule | None:
        """Called once per call; returns the rule that fires for it, if any."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if rule.matches(service, action, resource) and rule.should_fire():
                    rule.fired += 1
                    return rule
        return None


@dataclass
class GarbleRule:
    """A body corrupted in transit: one byte flipped, headers (and the signature) untouched."""

    service: str
    method: str | None
    request: bool  # the request's body (the server stores what it got) or the response's
    nth: int
    times: int
    seen: int = 0
    fired: int = 0

    def matches(self, service: str, method: str, request: bool) -> bool:
        return self.service == service and self.method in (None, method) and self.request == request


def flip_last_byte(body: bytes) -> bytes:
    return body[:-1] + bytes([body[-1] ^ 0x01])


def _status_for(code: str) -> int:
    if code.startswith("Throttling"):
        return 400
    if code == "ServiceUnavailable":
        return 503
    if code in ("InternalError", "InternalFailure", "UnknownError"):
        return 500
    return 400


class CallRecord(NamedTuple):
    """One call the fake answered (a tuple: one is built for every call)."""

    service: str
    action: str
    account_id: str | None
    caller_arn: str | None
    write: bool
    ok: bool
    error_code: str | None


class CallLog:
    """Every call the fake answered, for cost assertions (`count`) and least-privilege proofs."""

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        self.keep_records = True

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._counts[(record.service, record.action)] += 1
            if self.keep_records:
                self._records.append(record)

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def count(self, action: str | None = None, *, service: str | None = None, account_id: str | None = None,
              write: bool | None = None, ok: bool | None = None) -> int:
        if account_id is None and write is None and ok is None:
            with self._lock:
                return sum(n for (s, a), n in self._counts.items()
                           if service in (None, s) and action in (None, a))
        return sum(1 for r in self.records
                   if service in (None, r.service) and action in (None, r.action)
                   and account_id in (None, r.account_id) and write in (None, r.write) and ok in (None, r.ok))

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._counts.clear()


__all__ = ["Faults", "FaultRule", "GarbleRule", "CallLog", "CallRecord", "FakeCrash"]
