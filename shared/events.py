"""Typed, read-only views of the trigger payloads FC hands to handlers (as bytes)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus


class EventError(ValueError):
    """The trigger's bytes are not the event this function expects."""


def load_json(raw: bytes | str | dict | list) -> object:
    if isinstance(raw, (dict, list)):
        return raw
    try:
        return json.loads(raw)
    except (TypeError, ValueError) as problem:
        raise EventError(f"event is not JSON: {problem}") from None


@dataclass(frozen=True)
class OssRecord:
    event_name: str  # "ObjectCreated:PutObject" (no "oss:" prefix, as FC delivers it)
    bucket: str
    key: str
    size: int
    etag: str
    principal_id: str | None
    source_ip: str | None
    event_time: str
    region: str

    @property
    def created(self) -> bool:
        return self.event_name.startswith("ObjectCreated")

    @property
    def removed(self) -> bool:
        return self.event_name.startswith("ObjectRemoved")

    def key_candidates(self) -> list[str]:
        """Every key the event may mean: as sent, percent-decoded, and form-decoded (`+` = space).

        Whether OSS URL-encodes `object.key` in event notifications is not documented (the fake sends
        it raw, S3 form-encodes it), so a key with `+`, `%`, a space or non-ASCII could be any of
        these; the caller matches them against what exists and what rolepact recorded.
        """
        if "%" not in self.key and "+" not in self.key:
            return [self.key]
        return list(dict.fromkeys([self.key, unquote(self.key), unquote_plus(self.key)]))


def parse_oss_event(raw) -> list[OssRecord]:
    payload = load_json(raw)
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise EventError('an OSS trigger event is {"events": [...]}')
    records = []
    for index, item in enumerate(payload["events"]):
        try:
            oss = item["oss"]
            records.append(OssRecord(
                event_name=str(item["eventName"]).removeprefix("oss:"),
                bucket=str(oss["bucket"]["name"]),
                key=str(oss["object"]["key"]),
                size=int(oss["object"].get("size") or 0),
                etag=str(oss["object"].get("eTag") or ""),
                principal_id=_text((item.get("userIdentity") or {}).get("principalId")),
                source_ip=(item.get("requestParameters") or {}).get("sourceIPAddress"),
                event_time=str(item.get("eventTime") or ""),
                region=str(item.get("region") or ""),
            ))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as problem:
            raise EventError(f"events[{index}] is not an OSS event record ({problem!r})") from None
    return records


def _text(value) -> str | None:
    """A principal id as a string (None if absent): event fields are untrusted JSON."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


@dataclass(frozen=True)
class TimerEvent:
    trigger_time: str
    trigger_name: str
    payload: str


def parse_timer_event(raw) -> TimerEvent:
    payload = load_json(raw) if raw not in (b"", "", None) else {}
    if not isinstance(payload, dict):
        raise EventError('a timer event is {"triggerTime", "triggerName", "payload"}')
    return TimerEvent(str(payload.get("triggerTime") or ""), str(payload.get("triggerName") or ""),
                      str(payload.get("payload") or ""))
