"""What arrives, made uniform: trigger payloads -> ActionTrail records -> normalized events.

The access-audit function gets three kinds of payload:
- an EventBridge CloudEvent, or a JSON list of them (batched delivery), whose `data` is one
  ActionTrail record (`type` = `<product>:ActionTrail:<eventType>`);
- a timer event `{"triggerTime", "triggerName", "payload"}`;
- anything else, which is kept as malformed and never raised.

A *normalized event* keeps ActionTrail's own field names (so `Pipeline.feed` reads it like a
raw record, and a stored event can be fed again to rebuild a report) but only the fields the
audit uses, with uniform types: `eventTime` as `YYYY-MM-DDTHH:MM:SSZ` (UTC), the
`stsTokenPlayerUid` as a string (the docs show it as a number, real events as a string),
no empty `errorCode`. Request parameters are kept in full (values cut at 2000 characters) only
for changes to RAM roles and policies, where they say what was changed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from shared.audit.fastjson import loads, object_loader
from shared.audit.pipeline import KEEP_PARAMETERS

TOP_FIELDS = ("eventId", "eventTime", "eventName", "eventType", "eventRW", "eventSource", "serviceName",
              "acsRegion", "isGlobal", "sourceIpAddress", "resourceType", "resourceName", "errorCode",
              "errorMessage", "requestId")
IDENTITY_FIELDS = ("type", "userName", "principalId", "accountId", "accessKeyId")
PARAMETER_FIELDS = ("stsTokenPlayerUid", "stsTokenPrincipalName", "RoleName", "PolicyName", "PolicyType",
                    "RegionId", "InstanceId", "UserName", "GroupName")
MAX_VALUE = 2000
# What the audit reads of an event, raw or normalized (Pipeline, storage, the report):
# `load_event` skips the rest of a record unread.
EVENT_SCHEMA = {**dict.fromkeys(TOP_FIELDS), "userIdentity": dict.fromkeys(IDENTITY_FIELDS),
                "requestParameters": None, "rolepact": None}
load_event = object_loader(EVENT_SCHEMA)
MAX_RAW = 64 * 1024  # how much of a malformed payload is kept


@dataclass
class Payload:
    """One trigger payload, taken apart."""

    kind: str  # "timer" | "events" | "malformed"
    timer: dict | None = None
    events: list[dict] = field(default_factory=list)  # normalized events
    malformed: list[dict] = field(default_factory=list)  # {"reason", "raw"}


def _raw_text(raw) -> str:
    if isinstance(raw, (bytes, bytearray)):
        text = bytes(raw[:MAX_RAW]).decode("utf-8", "replace")
    elif isinstance(raw, str):
        text = raw[:MAX_RAW]
    else:
        try:
            text = json.dumps(raw, ensure_ascii=False, default=str)[:MAX_RAW]
        except (TypeError, ValueError):
            text = repr(raw)[:MAX_RAW]
    return text


def bad(reason: str, raw) -> dict:
    return {"reason": reason, "raw": _raw_text(raw)}


def parse_payload(raw) -> Payload:
    """Never raises: whatever cannot be understood ends up in `malformed`."""
    if isinstance(raw, (dict, list)):
        document = raw
    else:
        try:
            document = loads(raw)
        except (TypeError, ValueError, UnicodeDecodeError):
            return Payload("malformed", malformed=[bad("payload is not JSON", raw)])
    if isinstance(document, dict) and ("triggerTime" in document or "triggerName" in document):
        return Payload("timer", timer=document)
    items = document if isinstance(document, list) else [document]
    payload = Payload("events")
    for item in items:
        event, problem = unwrap_cloud_event(item)
        if problem is not None:
            payload.malformed.append(bad(problem, item))
            continue
        normalized, problem = normalize_event(event)
        if problem is not None:
            payload.malformed.append(bad(problem, item))
        else:
            payload.events.append(normalized)
    if not payload.events and not payload.malformed:
        payload.kind = "malformed"
        payload.malformed.append(bad("empty payload", raw))
    return payload


def unwrap_cloud_event(item) -> tuple[dict | None, str | None]:
    """The ActionTrail record inside one CloudEvent, or why there is none."""
    if not isinstance(item, dict):
        return None, "not a CloudEvent object"
    kind = item.get("type")
    if not isinstance(kind, str) or ":ActionTrail:" not in kind:
        return None, f"unknown event type {str(kind)[:100]!r} (not an ActionTrail event)"
    data = item.get("data")
    if isinstance(data, (str, bytes)):  # some deliveries carry data as a JSON string
        try:
            data = loads(data)
        except ValueError:
            return None, "CloudEvent data is not JSON"
    if not isinstance(data, dict):
        return None, "CloudEvent has no ActionTrail record in data"
    return data, None


_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z")
_VALID_DAYS: dict[str, bool] = {}


def _valid_day(day: str) -> bool:
    valid = _VALID_DAYS.get(day)
    if valid is None:
        try:
            date.fromisoformat(day)
            valid = True
        except ValueError:
            valid = False
        if len(_VALID_DAYS) < 10_000:
            _VALID_DAYS[day] = valid
    return valid


def normalize_time(value) -> str | None:
    """ActionTrail's eventTime as `YYYY-MM-DDTHH:MM:SSZ` in UTC; None if it is no time.

    Only a real time passes: a shape-alike such as `2027-13-45T99:99:99Z` would crash date
    arithmetic further down (and with it the whole batch)."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    if len(value) == 20 and _CANONICAL_TIME.fullmatch(value):
        return value if _valid_day(value[:10]) else None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scalar(value):
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:MAX_VALUE]


def normalize_event(event) -> tuple[dict | None, str | None]:
    """(normalized event, None) or (None, why it is malformed)."""
    if not isinstance(event, dict):
        return None, "ActionTrail record is not an object"
    event_id = event.get("eventId")
    if not isinstance(event_id, str) or not event_id.strip():
        return None, "ActionTrail record has no eventId"
    event_time = normalize_time(event.get("eventTime"))
    if event_time is None:
        return None, "ActionTrail record has no valid eventTime"
    out: dict = {}
    for name in TOP_FIELDS:
        value = event.get(name)
        if value is not None and value != "":
            out[name] = _scalar(value)
    out["eventId"] = event_id.strip()
    out["eventTime"] = event_time
    identity = event.get("userIdentity")
    if isinstance(identity, dict):
        out["userIdentity"] = {k: _scalar(identity[k]) for k in IDENTITY_FIELDS if identity.get(k) is not None}
    params = event.get("requestParameters")
    if isinstance(params, str):  # seen as a JSON string in some deliveries
        try:
            params = loads(params)
        except ValueError:
            params = None
    if isinstance(params, dict):
        if event.get("eventName") in KEEP_PARAMETERS:
            kept = {k: _scalar(v) for k, v in params.items() if k != "AcsHost"}
        else:
            kept = {k: _scalar(params[k]) for k in PARAMETER_FIELDS if params.get(k) is not None}
        if "stsTokenPlayerUid" in kept:
            kept["stsTokenPlayerUid"] = str(kept["stsTokenPlayerUid"])
        if kept:
            out["requestParameters"] = kept
    return out, None
