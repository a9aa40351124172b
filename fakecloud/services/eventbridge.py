"""EventBridge's default bus, as far as ActionTrail events reaching Function Compute go.

ActionTrail publishes only Write events to EventBridge (alibaba-api.md §4.4); `Trail`
already hands subscribers nothing else. Each event is wrapped in the CloudEvents envelope
EventBridge delivers and matched against the `eventRuleFilterPattern` of every enabled
`eventbridge` trigger of the event's account; each match queues an async invocation.

Facts and guesses:
- envelope fields and `type` = `<product>:ActionTrail:<eventType>` [D];
  `source` = `acs.<product>` [? style of service events]; IMS events (RAM users and keys)
  are given product `ram`, the product that owns them [?].
- regional events reach only functions of their region. Where global (RAM) events are published
  is not documented; `EventBridge.global_events_region` is the fake's guess: the region that stores
  global events (`fakecloud.trail.GLOBAL_EVENTS_REGION`, the default -- conservative: a deployment
  elsewhere sees RAM events only through its LookupEvents pull of that region), or None = every
  region's bus.
- only Write events are published ([D] EventBridge "ActionTrail events": "EventBridge supports only
  ActionTrail events of the write type"); `cloud.trail.publish_reads` says otherwise.
- FC's EventBridge triggers can be sync; the fake always delivers through the async queue,
  so retries follow the function's async policy (max_async_retry, on_failure).

Patterns follow EventBridge's syntax: a JSON object whose leaves are arrays of accepted
values; nested objects match nested fields (`{"data": {"eventName": [...]}}`). Array
elements are exact values or matchers `{"prefix": s}`, `{"suffix": s}`,
`{"anything-but": v | [v...] | {"prefix": s}}`, `{"exists": bool}` and
`{"numeric": [op, n, ...]}`.
"""
from __future__ import annotations

import json
import operator
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone

from fakecloud import clock
from fakecloud.errors import ServiceError
from fakecloud.trail import GLOBAL_EVENTS_REGION

CHINA_TZ = timezone(timedelta(hours=8))
PUBLISH_ADDR = "172.25.0.1"  # a bus front-end address, like the docs' masked 172.25.XX.XX
_PRODUCT_ALIASES = {"ims": "ram"}
_NUMERIC_OPS = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">=": operator.ge, ">": operator.gt}
_MATCHERS = {"prefix", "suffix", "anything-but", "exists", "numeric"}


class PatternError(ValueError):
    """An eventRuleFilterPattern EventBridge would refuse."""


# ------------------------------------------------------------------------------------ patterns
class EventPattern:
    """A compiled event pattern; `matches(event)` says whether a rule would fire."""

    def __init__(self, pattern: dict) -> None:
        _validate(pattern, "")
        self.pattern = pattern

    @classmethod
    def parse(cls, text: str | dict) -> "EventPattern":
        if isinstance(text, dict):
            return cls(text)
        try:
            pattern = json.loads(text or "{}")
        except ValueError as error:
            raise PatternError(f"eventRuleFilterPattern is not valid JSON: {error}")
        if not isinstance(pattern, dict):
            raise PatternError("eventRuleFilterPattern must be a JSON object")
        return cls(pattern)

    def matches(self, event: dict) -> bool:
        return _match_object(self.pattern, event)


def _validate(pattern: dict, path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            _validate(value, where)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    if len(item) != 1 or next(iter(item)) not in _MATCHERS:
                        raise PatternError(f"{where}: unsupported matcher {item!r}")
                    if "numeric" in item:
                        _numeric_pairs(item["numeric"], where)
                elif isinstance(item, list):
                    raise PatternError(f"{where}: nested arrays are not allowed")
        else:
            raise PatternError(f"{where}: pattern values must be arrays or objects, got {value!r}")


def _match_object(pattern: dict, event: object) -> bool:
    if not isinstance(event, dict):
        return False
    for key, expected in pattern.items():
        present = key in event
        actual = event.get(key)
        if isinstance(expected, dict):
            if not present or not _match_object(expected, actual):
                return False
        elif not _match_values(expected, present, actual):
            return False
    return True


def _match_values(accepted: list, present: bool, actual: object) -> bool:
    candidates = actual if isinstance(actual, list) else [actual]
    for rule in accepted:
        if isinstance(rule, dict) and "exists" in rule:
            if bool(rule["exists"]) == present:
                return True
            continue
        if not present:
            continue
        if any(_match_one(rule, value) for value in candidates):
            return True
    return False


def _match_one(rule: object, value: object) -> bool:
    if not isinstance(rule, dict):
        if isinstance(rule, bool) or isinstance(value, bool):  # JSON true is not 1
            return type(rule) is type(value) and rule == value
        return rule == value
    (kind, arg), = rule.items()
    if kind == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if kind == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if kind == "anything-but":
        if isinstance(arg, dict) and "prefix" in arg:
            return isinstance(value, str) and not value.startswith(arg["prefix"])
        excluded = arg if isinstance(arg, list) else [arg]
        return value not in excluded
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return all(op(value, bound) for op, bound in _numeric_pairs(arg, ""))
    return False


def _numeric_pairs(spec: object, where: str) -> list:
    if not isinstance(spec, list) or len(spec) % 2 or not spec:
        raise PatternError(f"{where}: numeric matcher needs [op, number, ...]")
    pairs = []
    for op, bound in zip(spec[::2], spec[1::2]):
        if op not in _NUMERIC_OPS or isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise PatternError(f"{where}: bad numeric condition {op!r} {bound!r}")
        pairs.append((_NUMERIC_OPS[op], bound))
    return pairs


# ------------------------------------------------------------------------------------ envelope
def product_of(event: dict) -> str:
    name = str(event.get("serviceName") or "").lower()
    return _PRODUCT_ALIASES.get(name, name)


def build_envelope(account_id: str, event: dict, now: datetime) -> dict:
    """The CloudEvents envelope EventBridge delivers for one ActionTrail event (alibaba-api.md §4.4)."""
    product = product_of(event)
    region = event.get("acsRegion") or ""
    try:
        event_time = clock.parse_iso(event["eventTime"])
    except (KeyError, ValueError):
        event_time = now
    resource = event.get("resourceName") or event.get("eventName") or ""
    published = now.astimezone(CHINA_TZ)
    return {
        "id": str(uuid.uuid4()),
        "source": f"acs.{product}",
        "specversion": "1.0",
        "type": f"{product}:ActionTrail:{event.get('eventType') or 'ApiCall'}",
        "subject": f"acs.{product}:{region}:{account_id}:{resource}",
        "time": event_time.astimezone(CHINA_TZ).isoformat(timespec="seconds"),
        "datacontenttype": "application/json;charset=utf-8",
        "aliyunaccountid": account_id,
        "aliyunpublishtime": published.strftime("%Y-%m-%dT%H:%M:%S.") + f"{published.microsecond // 1000:03d}PRC",
        "aliyuneventbusname": "default",
        "aliyunregionid": region,
        "aliyunpublishaddr": PUBLISH_ADDR,
        "data": event,
    }


# ------------------------------------------------------------------------------------ the bus
class EventBridge:
    """Subscribes to ActionTrail's Write events and feeds matching FC eventbridge triggers.

    Created by the FC backend when the first eventbridge trigger is added, so clouds without
    such triggers pay nothing per event. `published` keeps the last envelopes for debugging.
    """

    def __init__(self, cloud, fc_backend) -> None:
        self.cloud = cloud
        self.fc = fc_backend
        self.published: deque[dict] = deque(maxlen=1000)
        self.global_events_region: str | None = GLOBAL_EVENTS_REGION
        self._unsubscribe = cloud.trail.subscribe(self.deliver)

    def close(self) -> None:
        self._unsubscribe()

    def deliver(self, account_id: str, event: dict) -> int:
        """Route one Write event; returns how many invocations were queued."""
        triggers = self.fc.triggers_of_type("eventbridge", account_id=account_id)
        if not triggers:
            return 0
        envelope = build_envelope(account_id, event, self.cloud.now())
        self.published.append(envelope)
        body = None
        queued = 0
        regional = not event.get("isGlobal", False)
        for trigger in triggers:
            if not trigger.enabled or trigger.pattern is None:
                continue
            if regional and trigger.region != envelope["aliyunregionid"]:
                continue
            if not regional and self.global_events_region not in (None, trigger.region):
                continue
            if trigger.pattern.matches(envelope):
                body = body or json.dumps(envelope, ensure_ascii=False).encode("utf-8")
                try:
                    self.fc.invoke_async(trigger.account_id, trigger.service_name, trigger.function_name, body,
                                         region=trigger.region, source="eventbridge")
                except ServiceError:  # function removed meanwhile; never fail the API call that emitted
                    continue
                queued += 1
        return queued
