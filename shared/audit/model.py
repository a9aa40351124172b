"""What the access audit knows about agreements, and what it finds."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from shared.agreements.model import Agreement
from shared.documents import guard_policy_name, iso, policy_prefix

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class AgreementView:
    """An agreement as the audit sees it: the role, who may use it, and when.

    Times are ISO strings (`2027-06-01T00:00:00Z`): ActionTrail's eventTime has the same
    form, so the hot path compares strings instead of parsing dates.
    """

    agreement_id: str
    role_name: str
    partner_account: str
    partner_alias: str
    principals: tuple[str, ...]
    starts_at: str  # "" = no lower bound
    ends_at: str  # expiresAt, or the moment it was ended early, whichever is first
    ended_reason: str | None  # expired | deleted | revoked | None while live
    networks: tuple = ()
    policy_prefix: str = ""
    state: str = "active"
    listed_users: frozenset = frozenset()  # partner user/role names listed; empty = the whole account

    @classmethod
    def from_agreement(cls, agreement: Agreement, status: dict | None = None) -> "AgreementView":
        status = status or {}
        ended = status.get("ended") or {}
        ends_at = iso(agreement.expires_at)
        if ended.get("at") and ended["at"] < ends_at:
            ends_at = ended["at"]
        return cls(
            agreement_id=agreement.agreement_id, role_name=agreement.role_name,
            partner_account=agreement.partner.account_id, partner_alias=agreement.partner.display,
            principals=agreement.principals,
            starts_at=iso(agreement.starts_at) if agreement.starts_at else "",
            ends_at=ends_at, ended_reason=ended.get("reason"),
            networks=tuple(ipaddress.ip_network(r, strict=False) for r in agreement.conditions.source_ip_ranges),
            policy_prefix=policy_prefix(agreement.agreement_id), state=status.get("state", "active"),
            listed_users=frozenset(p.split("/", 1)[1].lower() for p in agreement.principals if "/" in p),
        )

    @property
    def guard_name(self) -> str:
        return guard_policy_name(self.agreement_id)


@dataclass
class Finding:
    rule: str
    severity: str  # high | medium | low
    message: str
    event_id: str
    event_time: str
    agreement_id: str | None = None
    role: str | None = None
    session: str | None = None
    partner_account: str | None = None
    source_ip: str | None = None
    action: str | None = None

    @property
    def finding_id(self) -> str:
        return f"{self.rule}:{self.event_id}"

    def to_dict(self) -> dict:
        return {"id": self.finding_id, "rule": self.rule, "severity": self.severity, "message": self.message,
                "eventId": self.event_id, "eventTime": self.event_time, "agreementId": self.agreement_id,
                "role": self.role, "session": self.session, "partnerAccount": self.partner_account,
                "sourceIp": self.source_ip, "action": self.action}


@dataclass
class AgreementActivity:
    """Aggregates of one agreement over a report window."""

    agreement_id: str
    events: int = 0
    reads: int = 0
    writes: int = 0
    denials: int = 0
    people: dict = field(default_factory=dict)  # (player account, session name) -> events
    actions: dict = field(default_factory=dict)  # "ecs:StopInstance" -> events
    source_ips: dict = field(default_factory=dict)
    first: str = ""
    last: str = ""
    findings: dict = field(default_factory=dict)  # severity -> count

    @property
    def sessions(self) -> dict[str, int]:
        sessions: dict[str, int] = {}
        for (_, session), count in self.people.items():
            sessions[session] = sessions.get(session, 0) + count
        return sessions

    def top(self, counts: dict, n: int = 5) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]
