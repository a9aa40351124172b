"""The proposed agreement: the same file, with one Custom policy of exactly what was used.

Per action the partner's own principals were allowed to call (usage.py), one Allow:
- on the resources the calls named, when every allowed call named its resource and each of
  them lies inside a Resource of a statement of the agreement that allowed the action;
- otherwise on what the agreement granted the action on (its allowing statements' Resource —
  `*` for a system policy such as AliyunECSFullAccess): `*` only where ActionTrail gives no
  resource and the agreement did grant `*`.
Actions with the same resources (and the same Condition, copied from the allowing statement
when every allowing statement had one) share a statement. Deny statements of the agreed
policies that name a proposed action are copied, so nothing the agreement refused becomes
allowed. The proposal is thus never wider than the agreement: it grants a subset of its
(action, resource) pairs.

Denied calls, calls by other accounts' principals, and used actions no agreed policy allows
(which RAM would not have let through) are never proposed. Nothing allowed -> no proposal.

The result is parsed like an uploaded file and checked by the guardrails exactly as intake
would check it now; its problems are returned, never hidden.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from shared.agreements.guardrails import _matches as matches  # RAM's wildcard match, linear time
from shared.agreements.guardrails import check_guardrails
from shared.agreements.parse import parse_agreement
from shared.agreements.schema import MAX_POLICY_DOCUMENT_CHARS
from shared.documents import canonical
from shared.errors import AgreementRejected, Problem
from shared.rightsize.granted import GrantedPolicy, as_list, names_action, statements
from shared.rightsize.usage import Usage

PROPOSED_POLICY = "rightsized"


@dataclass
class Proposal:
    agreement_file: dict  # the proposed agreement, as a file to upload
    policy: dict  # its one custom policy document
    not_granted: list[str] = field(default_factory=list)  # used, but allowed by no agreed policy: left out
    widened: bool = False  # too many resources for one policy: fell back to what was granted
    problems: list[Problem] = field(default_factory=list)  # validation and guardrails; empty = ready to upload

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def actions(self) -> list[str]:
        return sorted({a for s in self.policy["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])})

    def to_dict(self) -> dict:
        return {"agreement": self.agreement_file, "actions": self.actions, "notGranted": self.not_granted,
                "widened": self.widened, "problems": [p.to_dict() for p in self.problems]}


def _granting(policies: list[GrantedPolicy], action: str) -> list[dict]:
    return [statement for policy in policies for statement in policy.allowing(action)]


def _of_service(action: str, resources: set[str]) -> tuple[str, ...]:
    """The resources an action of one service can be authorized on: `acs:<service>:…` (wildcards as RAM
    matches them). A statement granting `vpc:DescribeVpcs` on `[acs:ecs:…, acs:vpc:…]` only ever let it
    through on the `acs:vpc:` ones; should none be of its service, all are kept (never guess narrower)."""
    service = action.partition(":")[0]
    own = {r for r in resources if matches(r.split(":")[1] if r.count(":") >= 2 else "*", service)}
    return tuple(sorted(own or resources))


def _granted_scope(granting: list[dict], action: str) -> tuple[str, tuple[str, ...]]:
    """("Resource" | "NotResource", values): what the agreement granted the action on."""
    with_resource = [s for s in granting if "Resource" in s]
    if any("*" in as_list(s["Resource"]) for s in with_resource):
        return "Resource", ("*",)
    if len(with_resource) == len(granting):
        return "Resource", _of_service(action, {r for s in with_resource for r in as_list(s["Resource"])})
    first = next(s for s in granting if "Resource" not in s)
    return "NotResource", tuple(as_list(first.get("NotResource")))


def _inside(arn: str, granting: list[dict]) -> bool:
    return any(matches(pattern, arn) for s in granting for pattern in as_list(s.get("Resource")))


def _condition(granting: list[dict]) -> dict | None:
    """None if any allowing statement is unconditional, else the first one's Condition."""
    if any("Condition" not in s for s in granting):
        return None
    return granting[0]["Condition"]


def build_policy(usage: Usage, policies: list[GrantedPolicy], *, scoped: bool = True) -> tuple[dict, list[str]]:
    """(the proposed policy document, used actions no agreed policy allows)."""
    groups: dict[tuple, list[str]] = {}
    conditions: dict[tuple, dict | None] = {}
    not_granted: list[str] = []
    proposed: list[str] = []
    for used in usage.allowed:
        granting = _granting(policies, used.action)
        if not granting:
            not_granted.append(used.action)
            continue
        proposed.append(used.action)
        if scoped and not used.unscoped and used.resources and all(_inside(a, granting) for a in used.resources):
            scope = ("Resource", tuple(sorted(used.resources)))
        else:
            scope = _granted_scope(granting, used.action)
        condition = _condition(granting)
        key = (scope, canonical(condition) if condition is not None else "")
        groups.setdefault(key, []).append(used.action)
        conditions[key] = condition
    allows = []
    for key in sorted(groups):
        (kind, values), _ = key
        statement = {"Effect": "Allow", "Action": sorted(groups[key]),
                     kind: "*" if values == ("*",) else list(values)}
        if conditions[key] is not None:
            statement["Condition"] = conditions[key]
        allows.append(statement)
    denies: dict[str, dict] = {}
    for policy in policies:
        for statement in statements(policy.document):
            if statement["Effect"] == "Deny" and any(names_action(statement, a) for a in proposed):
                kept = {k: statement[k] for k in ("Effect", "Action", "NotAction", "Resource", "NotResource",
                                                  "Condition") if k in statement}
                denies.setdefault(canonical(kept), kept)
    return {"Version": "1", "Statement": allows + list(denies.values())}, not_granted


def propose(agreement_text: str, source_key: str, usage: Usage, policies: list[GrantedPolicy], settings,
            now: datetime) -> Proposal | None:
    """The proposed agreement, checked; None when the partner was allowed nothing (never an empty grant)."""
    policy, not_granted = build_policy(usage, policies)
    widened = False
    if len(json.dumps(policy, separators=(",", ":"))) > MAX_POLICY_DOCUMENT_CHARS:
        policy, not_granted = build_policy(usage, policies, scoped=False)
        widened = True
    if not any(s["Effect"] == "Allow" for s in policy["Statement"]):
        return None
    document = json.loads(agreement_text)
    document["policies"] = [{"type": "Custom", "name": PROPOSED_POLICY, "document": policy}]
    proposal = Proposal(document, policy, not_granted, widened)
    try:
        agreement = parse_agreement(json.dumps(document, indent=2).encode("utf-8"), key=source_key,
                                    max_bytes=settings.guardrails.max_file_bytes)
    except AgreementRejected as rejected:
        proposal.problems = list(rejected.problems)
        return proposal
    proposal.problems = check_guardrails(agreement, settings, uploader=None, now=now, is_new_revision=True,
                                         check_uploader=False)
    return proposal


def proposal_bytes(proposal: Proposal) -> bytes:
    """The proposed agreement as it is written to the bucket and to --out: ready to upload."""
    return (json.dumps(proposal.agreement_file, indent=2) + "\n").encode("utf-8")


def proposed_grants(agreement_file: dict) -> dict[str, list[str]]:
    """action -> the resources a proposed agreement file allows it on (for people reading one)."""
    grants: dict[str, list[str]] = {}
    for policy in agreement_file.get("policies") or []:
        for statement in statements((policy or {}).get("document")):
            if statement["Effect"] == "Allow":
                for action in as_list(statement.get("Action")):
                    grants.setdefault(action, []).extend(as_list(statement.get("Resource")))
    return grants
