"""What a partner did with an agreement's role, from the access audit's stored events.

The audit stores every call made with a managed role's session, normalized and tagged
`rolepact: {agreementId, kind: "partner"}` (shared/audit/storage.py). Per agreement this
module counts, per RAM action (mapping.py):

- allowed calls — no error, or an error RAM did not cause (`IncorrectInstanceStatus`: the call
  was authorized, then failed) — with the resources they name (arns.py);
- denied calls (`NoPermission…`, `Forbidden…`, `AccessDenied…`), kept apart: the agreement
  did not allow them, so a proposal never grants them;
- calls by principals that are not the partner's (`stsTokenPlayerUid` is another account, or
  missing): reported, never proposed — the access audit flags them as `unknown-principal`.

A call "names its resource" only when it is a Write (`eventRW`), is not a create (a new
resource's id says nothing about the next one) and ActionTrail gives a resource rolepact can
map. Reads are never scoped: Alibaba authorizes list operations such as ecs:DescribeInstances
on the whole collection (`instance/*`) whatever ids the call filters on.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.agreements.model import Agreement
from shared.audit.pipeline import DENIAL_PREFIXES
from shared.documents import iso
from shared.rightsize.arns import event_resources
from shared.rightsize.mapping import on_the_event_resource, ram_actions

CREATE_VERBS = ("Create", "Run", "Allocate", "Import", "Copy", "Clone", "Purchase")
CALL_TYPES = ("ApiCall", "ConsoleOperation")


@dataclass
class UsedAction:
    action: str
    allowed: int = 0
    denied: int = 0
    resources: set = field(default_factory=set)  # ARNs named by allowed calls that name their resource
    unscoped: int = 0  # allowed calls that name none (reads, creates, no usable resource)
    principals: Counter = field(default_factory=Counter)  # "company-b/alice" -> calls
    errors: Counter = field(default_factory=Counter)  # denial codes

    def to_dict(self) -> dict:
        return {"action": self.action, "allowed": self.allowed, "denied": self.denied,
                "resources": sorted(self.resources), "unscopedCalls": self.unscoped,
                "principals": dict(sorted(self.principals.items())), "denials": dict(sorted(self.errors.items()))}


@dataclass
class Usage:
    agreement_id: str
    since: datetime
    until: datetime
    events: int = 0
    sessions: set = field(default_factory=set)  # STS AccessKeyIds (one per AssumeRole)
    principals: Counter = field(default_factory=Counter)
    actions: dict = field(default_factory=dict)  # by the partner's own principals: action -> UsedAction
    foreign: dict = field(default_factory=dict)  # by anyone else: action -> UsedAction

    @property
    def allowed(self) -> list[UsedAction]:
        return [u for _, u in sorted(self.actions.items()) if u.allowed]

    @property
    def denied(self) -> list[UsedAction]:
        return [u for _, u in sorted(self.actions.items()) if u.denied]

    def to_dict(self) -> dict:
        return {"events": self.events, "sessions": len(self.sessions), "principals": dict(sorted(self.principals.items())),
                "allowed": [u.to_dict() for u in self.allowed], "denied": [u.to_dict() for u in self.denied],
                "foreign": [u.to_dict() for _, u in sorted(self.foreign.items())]}


def is_denial(code: object) -> bool:
    return isinstance(code, str) and code.startswith(DENIAL_PREFIXES)


def names_its_resource(event: dict, action: str) -> bool:
    name = action.partition(":")[2]
    return event.get("eventRW") == "Write" and not name.startswith(CREATE_VERBS) \
        and on_the_event_resource(event.get("serviceName"), event.get("eventName"), action)


class UsageCollector:
    """Feeds stored events, keeps what concerns the agreements asked for (each eventId once)."""

    def __init__(self, agreements: Iterable[Agreement], since: datetime, until: datetime,
                 starts: Mapping[str, datetime] | None = None) -> None:
        """`starts`: a later start for some agreements (their own beginning), else `since`."""
        self.agreements = {a.agreement_id: a for a in agreements}
        starts = starts or {}
        self.usage = {i: Usage(i, starts.get(i, since), until) for i in self.agreements}
        self._from = {i: iso(u.since) for i, u in self.usage.items()}
        self._seen: set[str] = set()

    def feed(self, event: dict) -> None:
        tag = event.get("rolepact")
        if not isinstance(tag, dict) or tag.get("kind") != "partner":
            return
        agreement = self.agreements.get(tag.get("agreementId"))
        identity = event.get("userIdentity")
        if agreement is None or not isinstance(identity, dict) or identity.get("type") != "assumed-role":
            return
        role, _, session = str(identity.get("userName") or "").partition(":")
        if role.lower() != agreement.role_name.lower() or event.get("eventType", "ApiCall") not in CALL_TYPES \
                or event["eventTime"] < self._from[agreement.agreement_id]:
            return
        if event["eventId"] in self._seen:  # stored by both paths, or in the overlap of two pulls
            return
        self._seen.add(event["eventId"])
        actions = ram_actions(event.get("serviceName"), event.get("eventName"))
        if not actions:
            return
        usage = self.usage[agreement.agreement_id]
        params = event.get("requestParameters") if isinstance(event.get("requestParameters"), dict) else {}
        player = str(params.get("stsTokenPlayerUid") or "")
        own = player == agreement.partner.account_id
        person = f"{agreement.partner.display if own else (player or '?')}/{session}"
        usage.events += 1
        usage.principals[person] += 1
        if identity.get("accessKeyId"):
            usage.sessions.add(identity["accessKeyId"])
        denied = is_denial(event.get("errorCode"))
        for action in actions:
            used = (usage.actions if own else usage.foreign).setdefault(action, UsedAction(action))
            used.principals[person] += 1
            if denied:
                used.denied += 1
                used.errors[event["errorCode"]] += 1
                continue
            used.allowed += 1
            arns = event_resources(event, agreement.owner.account_id, action) \
                if names_its_resource(event, action) else None
            if arns:
                used.resources.update(arns)
            else:
                used.unscoped += 1

    def feed_all(self, events: Iterable[dict]) -> Mapping[str, Usage]:
        for event in events:
            self.feed(event)
        return self.usage


def load_usage(audit_store, agreements: Iterable[Agreement], since: datetime, until: datetime, *,
               starts: Mapping[str, datetime] | None = None) -> Mapping[str, Usage]:
    """Usage of each agreement in [since (or its own start), until), read one stored object at a time."""
    collector = UsageCollector(agreements, since, until, starts)
    return collector.feed_all(audit_store.iter_events(since, until))
