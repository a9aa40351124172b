"""ActionTrail's record of every call the fake answers, per account.

Services call `record_call` once per request (allowed or denied). Events keep the field
names ActionTrail documents. Write events are also handed to subscribers, which is how the
EventBridge delivery of ActionTrail events is modelled.

Where an event is recorded follows the docs (fake-fidelity.md §d): in the caller's account,
and for calls made with an STS token in the role owner's account. Whether the role owner
also sees the AssumeRole call itself is undocumented; `FakeCloud(record_assume_role_in_owner_account=True)`
records it there too (as a copy with `recipientAccountId` = the owner), default off.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from fakecloud import ids
from fakecloud.clock import iso
from fakecloud.iam.identity import Caller

RETENTION = timedelta(days=90)
MAX_LOOKUP_DELAY = timedelta(minutes=10)  # ActionTrail limits page: time before an event can be queried
GLOBAL_EVENTS_REGION = "cn-hangzhou"


def build_event(caller: Caller, *, now: datetime, service_name: str, event_source: str, event_name: str,
                api_version: str, region: str, is_global: bool, read: bool, request_id: str,
                request_parameters: dict | None = None, error_code: str | None = None,
                error_message: str | None = None, resource_type: str | None = None,
                resource_name: str | None = None, response_elements: dict | None = None,
                referenced_resources: dict | None = None, event_type: str = "ApiCall",
                event_id: str | None = None) -> dict:
    params = dict(request_parameters or {})
    if caller.session is not None:
        params["stsTokenPlayerUid"] = caller.session.assumer_uid
        params["stsTokenPrincipalName"] = f"{caller.session.role_name}/{caller.session.session_name}"
    params.setdefault("AcsHost", event_source)
    event = {
        "eventId": event_id or ids.event_id(),
        "eventVersion": 1,
        "eventName": event_name,
        "eventSource": event_source,
        "eventTime": iso(now),
        "eventType": event_type,
        "eventRW": "Read" if read else "Write",
        "eventCategory": "Management",
        "serviceName": service_name,
        "acsRegion": GLOBAL_EVENTS_REGION if is_global else region,
        "isGlobal": is_global,
        "requestId": request_id,
        "apiVersion": api_version,
        "sourceIpAddress": caller.source_ip,
        "userAgent": caller.user_agent,
        "requestParameters": params,
        "recipientAccountId": caller.account_id,
        "userIdentity": caller.user_identity(),
        "referencedResources": referenced_resources or {"ACS::RAM::AccessKey": [caller.access_key_id]},
        "additionalEventData": {"Scheme": "HTTPS" if caller.secure_transport else "HTTP"},
    }
    if resource_type:
        event["resourceType"] = resource_type
    if resource_name:
        event["resourceName"] = resource_name
    if response_elements is not None:
        event["responseElements"] = response_elements
    if error_code:
        event["errorCode"] = error_code
        event["errorMessage"] = error_message or ""
    return event


class Deferred:
    """An event kept as the arguments of `build_event` and built when first read.

    The fake records every call it answers, and almost none is ever looked up: building the
    nested dicts at once cost a tenth of a call's time and most of the fake's memory. The
    arguments are immutable or owned by the finished call, so the event built later is the one
    that would have been built then; its id's random bits and its time are taken at the call.
    """

    FIELDS = ("now", "service_name", "event_source", "event_name", "api_version", "region", "is_global", "read",
              "request_id", "request_parameters", "error_code", "error_message", "resource_type", "resource_name",
              "response_elements")
    READ = FIELDS.index("read")
    __slots__ = ("caller", "values", "id_bits")

    def __init__(self, caller: Caller, values: tuple, id_bits: int) -> None:
        self.caller, self.values, self.id_bits = caller, values, id_bits

    def build(self) -> dict:
        return build_event(self.caller, **dict(zip(self.FIELDS, self.values)), event_id=ids.uuid_text(self.id_bits))


class Trail:
    """Per-account events. Two delivery options, defaults from the docs:

    - `lookup_delay`: how long after the call an event shows in LookupEvents. ActionTrail's limits
      page: "Time before an event is available for query in the console: 10 minutes" -- an upper
      bound (MAX_LOOKUP_DELAY). Default 0 (at once) so that tests of other things stay direct; the
      product's pull is tested with the documented bound (tests/acceptance/test_actiontrail_delivery.py).
    - `publish_reads`: whether Read events reach EventBridge subscribers. EventBridge's ActionTrail
      events page: "EventBridge supports only ActionTrail events of the write type" (default False).
    """

    def __init__(self) -> None:
        self.lookup_delay = timedelta(0)
        self.publish_reads = False
        self._events: dict[str, list[dict | Deferred]] = {}
        self._subscribers: list[Callable[[str, dict], None]] = []
        self._lock = threading.Lock()

    def record(self, account_id: str, event: dict | Deferred, *, publish: bool = True) -> None:
        """Store `event`; Write events also go to subscribers unless `publish` is False
        (fake-only events such as DingTalk sends, which real EventBridge never carries).

        A `Deferred` event is built now only if a subscriber needs it; otherwise when read."""
        with self._lock:
            wanted = publish and self._subscribers and (
                self.publish_reads or (not event.values[Deferred.READ] if type(event) is Deferred
                                       else event.get("eventRW") == "Write"))
            if wanted and type(event) is Deferred:
                event = event.build()
            subscribers = list(self._subscribers) if wanted else ()
            self._events.setdefault(account_id, []).append(event)
        for deliver in subscribers:
            deliver(account_id, event)

    def visible(self, account_id: str, now: datetime) -> list[dict]:
        """What LookupEvents can return at `now`: the events at least `lookup_delay` old."""
        events = self.events(account_id, now)
        if not self.lookup_delay:
            return events
        cutoff = iso(now - self.lookup_delay)
        return [e for e in events if e["eventTime"] <= cutoff]

    def events(self, account_id: str, now: datetime | None = None) -> list[dict]:
        """Events of one account in time order, minus those past the 90-day retention."""
        with self._lock:
            events = self._events.get(account_id, [])
            for index, event in enumerate(events):
                if type(event) is Deferred:
                    events[index] = event.build()
            if now is not None and events:
                cutoff = iso(now - RETENTION)
                if events[0]["eventTime"] < cutoff:
                    events[:] = [e for e in events if e["eventTime"] >= cutoff]
            return list(events)

    def subscribe(self, deliver: Callable[[str, dict], None]) -> Callable[[], None]:
        """`deliver(account_id, event)` for every Write event; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(deliver)

        def unsubscribe() -> None:
            with self._lock:
                if deliver in self._subscribers:
                    self._subscribers.remove(deliver)

        return unsubscribe
