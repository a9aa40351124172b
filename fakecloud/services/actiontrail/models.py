"""LookupEvents over the per-account event store in `fakecloud.trail` (no wire format here).

Rules modelled (docs/fake-fidelity.md §d, reference §4.1):
- a time window, default the last 7 days, inside the 90-day retention;
- up to two LookupAttribute conditions, AND-ed, exact case-sensitive match;
- region: regional events are seen in their acsRegion, global ones (RAM/IMS) only in
  `GLOBAL_EVENTS_REGION`;
- BACKWARD (newest first, default) or FORWARD;
- an opaque NextToken. It pins the first page's window and the newest event that existed
  then, so pages stay consistent while new events (including the LookupEvents calls
  themselves) keep arriving.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from fakecloud.clock import iso, parse_iso
from fakecloud.errors import ServiceError
from fakecloud.trail import GLOBAL_EVENTS_REGION

DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_MAX_RESULTS = 20
MAX_RESULTS = 50
DIRECTIONS = ("BACKWARD", "FORWARD")


def _role_name(event: dict) -> str | None:
    identity = event.get("userIdentity") or {}
    if identity.get("type") != "assumed-role":
        return None
    return (identity.get("userName") or "").split(":", 1)[0]


def _split(value: str | None) -> list[str]:
    """resourceName/resourceType may list several resources — names of one type separated by `,`,
    groups of different types by `;` — and any one of them matches."""
    return [part for group in value.split(";") for part in group.split(",")] if value else []


# LookupAttribute key -> the event's value(s) it is compared with.
ATTRIBUTES = {
    "ServiceName": lambda e: [e.get("serviceName")],
    "EventName": lambda e: [e.get("eventName")],
    "User": lambda e: [(e.get("userIdentity") or {}).get("userName")],
    "EventId": lambda e: [e.get("eventId")],
    "ResourceType": lambda e: _split(e.get("resourceType")),
    "ResourceName": lambda e: _split(e.get("resourceName")),
    "EventRW": lambda e: [e.get("eventRW")],
    "EventAccessKeyId": lambda e: [(e.get("userIdentity") or {}).get("accessKeyId")],
    "SourceIpAddress": lambda e: [e.get("sourceIpAddress")],
    "EventType": lambda e: [e.get("eventType")],
    "RoleName": lambda e: [_role_name(e)],
    "SensitiveAction": lambda e: [(e.get("eventAttributes") or {}).get("SensitiveAction")],
}


def invalid_query() -> ServiceError:
    return ServiceError("InvalidQueryParameter", "The specified query parameter is invalid.", 400)


@dataclass
class Query:
    start: datetime
    end: datetime
    max_results: int
    direction: str
    conditions: dict[str, str]
    cursor: str | None = None  # eventId of the first event of the requested page
    cursor_time: str | None = None  # its eventTime, to resume if that event aged out
    head: str | None = None  # eventId of the newest event recorded when page 1 was served


def parse_window(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    if (start is None) != (end is None):
        raise ServiceError("InvalidParameterCombination", "StartTime and EndTime must be set together.", 400)
    if start is None:
        return now - DEFAULT_WINDOW, now
    try:
        start_at = parse_iso(start)
    except ValueError:
        raise ServiceError("InvalidParameterStartTime", "The specified StartTime is invalid.", 400)
    try:
        end_at = parse_iso(end)
    except ValueError:
        raise ServiceError("InvalidParameterEndTime", "The specified EndTime is invalid.", 400)
    if end_at < start_at:
        raise ServiceError("InvalidParameterCombination", "The end time must be later than the start time.", 400)
    return start_at, end_at


def parse_conditions(attributes: list[dict[str, str]]) -> dict[str, str]:
    """The first two LookupAttribute entries; for a repeated key the later one wins."""
    conditions: dict[str, str] = {}
    for item in attributes[:2]:
        key, value = item.get("Key"), item.get("Value")
        if key not in ATTRIBUTES or value is None:
            raise invalid_query()
        conditions[key] = value
    return conditions


def encode_token(query: Query, cursor: dict) -> str:
    state = {"c": cursor["eventId"], "t": cursor["eventTime"], "h": query.head, "s": iso(query.start),
             "e": iso(query.end), "d": query.direction}
    return base64.b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict:
    try:
        state = json.loads(base64.b64decode(token.encode(), validate=True).decode())
        if not isinstance(state, dict) or not all(isinstance(state.get(k), str) for k in "ctsed"):
            raise ValueError
        parse_iso(state["s"]), parse_iso(state["e"]), parse_iso(state["t"])
        return state
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid_query()


def visible_in(event: dict, region: str) -> bool:
    if event.get("isGlobal"):
        return region == GLOBAL_EVENTS_REGION
    return event.get("acsRegion") == region


def lookup(events: list[dict], region: str, query: Query) -> tuple[list[dict], dict | None]:
    """One page of `events` (an account's events in recording order) and the next cursor."""
    if query.head is not None:
        ids = [e["eventId"] for e in events]
        if query.head in ids:
            events = events[:ids.index(query.head) + 1]
    start, end = iso(query.start), iso(query.end)
    matching = [e for e in events
                if start <= e["eventTime"] <= end and visible_in(e, region)
                and all(value in ATTRIBUTES[key](e) for key, value in query.conditions.items())]
    matching.sort(key=lambda e: e["eventTime"])  # stable: recording order within one second
    if query.direction == "BACKWARD":
        matching.reverse()
    first = 0
    if query.cursor is not None:
        first = next((n for n, e in enumerate(matching) if e["eventId"] == query.cursor), None)
        if first is None:  # the cursor event aged out of retention: resume at its time
            forward = query.direction == "FORWARD"
            first = next((n for n, e in enumerate(matching)
                          if (e["eventTime"] >= query.cursor_time if forward else e["eventTime"] <= query.cursor_time)),
                         len(matching))
    page = matching[first:first + query.max_results]
    rest = matching[first + query.max_results:]
    return page, rest[0] if rest else None
