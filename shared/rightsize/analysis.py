"""One agreement, right-sized: what it granted, what the partner used, and the proposal.

Read-only except `write_proposal`, which puts `proposals/<agreementId>.json` (the proposed
agreement, ready to upload over the agreement's file) and `proposals/<agreementId>.usage.json`
(this analysis) in rolepact's bucket. Nothing is ever applied from here: the owner renews by
uploading the proposal as the agreement.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shared.agreements.model import Agreement
from shared.audit.storage import AuditStore
from shared.documents import iso
from shared.errors import CloudError
from shared.log import get_logger
from shared.rightsize.granted import GrantedPolicy, granted_policies, total
from shared.rightsize.proposal import Proposal, proposal_bytes, propose
from shared.rightsize.usage import Usage, load_usage

log = get_logger("rightsize")
PROPOSALS = "proposals/"
DEFAULT_LOOKBACK = timedelta(days=90)  # no start known: ActionTrail's own retention


def proposal_key(agreement_id: str) -> str:
    return f"{PROPOSALS}{agreement_id}.json"


@dataclass
class Analysis:
    agreement: Agreement
    usage: Usage
    policies: list[GrantedPolicy]
    proposal: Proposal | None

    @property
    def agreement_id(self) -> str:
        return self.agreement.agreement_id

    def used_by(self, policy: GrantedPolicy) -> list[str]:
        return [u.action for u in self.usage.allowed if policy.grants(u.action)]

    @staticmethod
    def _of(count: int, used: int, uncounted, *, short: bool = False) -> str | None:
        """N of "used 2 of N": exact; "at least N" when some of the grant cannot be counted; None when what
        can be counted is no more than was used (never "used 2 of at least 2": that reads as all used)."""
        if not uncounted:
            return str(count)
        if count > used:
            return f"≥{count}" if short else f"at least {count}"
        return "?" if short else None

    def summary(self) -> str:
        """`used 2 of 382 actions of AliyunECSFullAccess` (per policy in brackets when there are several)."""
        used = [u for u in self.usage.allowed if any(p.grants(u.action) for p in self.policies)]
        if not used:
            denied = sum(u.denied for u in self.usage.denied)
            return (f"no allowed use recorded since {iso(self.usage.since)}"
                    + (f" ({denied} denied call{'s' if denied != 1 else ''})" if denied else ""))
        known, uncounted = total(self.policies)
        names = [p.name for p in self.policies]
        of = self._of(len(known | {u.action for u in used}), len(used), uncounted)
        text = f"used {len(used)} of {of or 'an uncounted number of'} actions of "
        if len(self.policies) == 1:
            return text + names[0] + ("" if of else f" ({', '.join(uncounted)} cannot be counted)")
        parts = [f"{p.name} ({len(self.used_by(p))} of "
                 f"{self._of(max(p.count, len(self.used_by(p))), len(self.used_by(p)), p.uncounted, short=True)})"
                 for p in self.policies]
        return text + ", ".join(parts[:-1]) + " and " + parts[-1]

    def per_policy(self) -> list[dict]:
        rows = []
        for policy in self.policies:
            used = self.used_by(policy)
            unknown = not policy.count or (policy.uncounted and policy.count <= len(used))
            share = None if unknown else round(1 - min(len(used), policy.count) / policy.count, 4)
            rows.append(dict(policy.to_dict(), used=used, unusedShare=share,  # a lower bound when uncounted
                             of=self._of(max(policy.count, len(used)), len(used), policy.uncounted, short=True)))
        return rows

    def to_dict(self) -> dict:
        known, uncounted = total(self.policies)
        return {
            "agreementId": self.agreement_id, "since": iso(self.usage.since), "until": iso(self.usage.until),
            "summary": self.summary(),
            "granted": {"actions": len(known), "uncounted": list(uncounted), "policies": self.per_policy()},
            "used": self.usage.to_dict(),
            "proposal": self.proposal.to_dict() if self.proposal else None,
            "proposalKey": proposal_key(self.agreement_id) if self.proposal else None,
        }


def default_since(agreement: Agreement, status: dict, until: datetime) -> datetime:
    """Since the agreement began: startsAt, else when rolepact first applied it, else 90 days back."""
    if agreement.starts_at is not None:
        return min(agreement.starts_at, until)
    for name in ("firstAppliedAt", "appliedAt"):
        value = status.get(name)
        if isinstance(value, str):
            try:
                return min(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc), until)
            except ValueError:
                continue
    return until - DEFAULT_LOOKBACK


def system_documents(ram, agreement: Agreement) -> dict[str, dict | None]:
    """Each system policy's default version as RAM returns it (None: unknown, or not readable)."""
    documents: dict[str, dict | None] = {}
    for name in agreement.system_policies:
        try:
            found = ram.get_policy(name, "System")
        except CloudError as error:
            if not error.code.startswith(("NoPermission", "Forbidden")):
                raise
            log.warning("cannot read system policy %s (%s)", name, error.code)
            found = None
        documents[name] = found.document if found is not None else None
    return documents


def analyse(agreement: Agreement, status: dict, *, settings, gateways, since: datetime | None = None,
            until: datetime | None = None, usage: Usage | None = None) -> Analysis:
    until = until or settings.now()
    if usage is None:
        since = since or default_since(agreement, status, until)
        usage = load_usage(AuditStore(gateways.store), [agreement], since, until)[agreement.agreement_id]
    policies = granted_policies(agreement, system_documents(gateways.ram, agreement))
    proposal = propose(status["agreementText"], agreement.source_key or status.get("sourceKey") or "",
                       usage, policies, settings, settings.now())
    return Analysis(agreement, usage, policies, proposal)


def write_proposal(store, analysis: Analysis) -> str | None:
    """Put the proposal and this analysis in the bucket; the proposal's key, or None if there is none."""
    if analysis.proposal is None:
        return None
    key = proposal_key(analysis.agreement_id)
    store.put(key, proposal_bytes(analysis.proposal))
    store.put(f"{PROPOSALS}{analysis.agreement_id}.usage.json",
              json.dumps(analysis.to_dict(), indent=1, ensure_ascii=False).encode("utf-8"))
    return key
