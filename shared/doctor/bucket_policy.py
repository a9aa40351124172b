"""Reading rolepact's bucket policy the way OSS documents its evaluation, conservatively.

OSS grammar and evaluation (docs/fake-fidelity.md, "OSS bucket policy"): Principal lists
account/RAM-user UIDs, `*` (an empty list means the same) and role sessions as
`arn:sts::<uid>:assumed-role/<role>/<session>`; an explicit Deny in any policy wins. There is no
NotPrincipal, so a bucket policy cannot deny "everyone except X" — and a field report found
`acs:PrincipalARN` conditions accepted but not enforced — which is why the checks below ask only
for what a bucket policy can express:

- `agreements/` (when approved uploaders are configured): every role session — a partner's
  included — is denied writing agreement files; no approved uploader is denied; no statement
  lets anyone else write them.
- rolepact's control prefixes: no statement lets anyone but the service role's sessions write them,
  and nothing denies the service role what it needs.
- nothing is granted to `*` (anonymous access).

Statements with a Condition are read conservatively: they never count as the Deny a check needs
(the condition may not hold), but always count as a possible grant or a possible denial.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from shared.records import AGREEMENTS, CONTROL_REVOKE, OWN_PREFIXES

WRITES = ("oss:PutObject", "oss:DeleteObject")
CONTROL = tuple(p for p in OWN_PREFIXES if not CONTROL_REVOKE.startswith(p))  # control/ is the operators' kill switch
SERVICE_READS = ("oss:GetObject", "oss:ListObjects")


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    principals: tuple[str, ...]
    resources: tuple[str, ...]
    conditional: bool

    def covers(self, action: str, resource: str, principal: str) -> bool:
        return (any(_match(a, action, fold=True) for a in self.actions)
                and any(_match(r, resource) for r in self.resources)
                and any(_match(p, principal, fold=True) for p in self.principals))


def _match(pattern: str, value: str, *, fold: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None


def _strings(value) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(str(item) for item in items if isinstance(item, str))


def parse(text: str) -> list[Statement]:
    document = json.loads(text)
    statements = []
    for raw in document.get("Statement") or []:
        principals = _strings(raw.get("Principal", []))
        statements.append(Statement(str(raw.get("Effect")), _strings(raw.get("Action", [])), principals or ("*",),
                                    _strings(raw.get("Resource", [])), bool(raw.get("Condition"))))
    return statements


@dataclass(frozen=True)
class Probes:
    """Concrete requests the policy is asked about."""

    account: str
    bucket: str
    service_role: str
    approved: tuple[str, ...]

    def object(self, key: str) -> str:
        return f"acs:oss:*:{self.account}:{self.bucket}/{key}"

    @property
    def role_session(self) -> str:  # any role's session, a partner's agreement role included
        return f"arn:sts::{self.account}:assumed-role/probe-agreement-role/probe-session"

    @property
    def service_session(self) -> str:
        return f"arn:sts::{self.account}:assumed-role/{self.service_role}/probe-session"

    def is_service_principal(self, pattern: str) -> bool:
        """A principal pattern that names only the service role's sessions (account and role literal)."""
        return pattern.lower().startswith(f"arn:sts::{self.account}:assumed-role/{self.service_role}/".lower())


def problems(text: str | None, probes: Probes) -> list[str]:
    """What is wrong with the bucket policy for rolepact; empty: it passes."""
    if text is None:
        needed = " (approved uploaders are configured)" if probes.approved else ""
        return [f"the bucket has no bucket policy{needed}"] if probes.approved else []
    try:
        statements = parse(text)
    except (ValueError, AttributeError, TypeError):
        return ["the bucket policy is not valid JSON"]
    found: list[str] = []
    allows = [s for s in statements if s.effect == "Allow"]
    denies = [s for s in statements if s.effect == "Deny"]
    agreement = probes.object(f"{AGREEMENTS}probe.json")

    for statement in allows:
        if "*" in statement.principals:
            found.append(f"an Allow statement names Principal '*' (anyone, anonymous callers too): "
                         f"{', '.join(statement.actions)} on {', '.join(statement.resources)}")
    for prefix in CONTROL:
        resource = probes.object(f"{prefix}probe")
        for statement in allows:
            if any(statement.covers(action, resource, p) for action in WRITES for p in ("*",) + statement.principals):
                others = [p for p in statement.principals if not probes.is_service_principal(p)]
                if others:
                    found.append(f"an Allow statement lets {', '.join(others)} write {prefix} (only the service "
                                 f"role {probes.service_role} may)")
        for statement in denies:
            if any(statement.covers(action, resource, probes.service_session) for action in WRITES):
                found.append(f"a Deny statement may stop the service role writing {prefix}")
    for statement in denies:
        if any(statement.covers(action, agreement, probes.service_session) for action in SERVICE_READS):
            found.append("a Deny statement may stop the service role reading agreements/")

    if probes.approved:
        if not any(not s.conditional and all(s.covers(a, agreement, probes.role_session) for a in WRITES)
                   and not any(s.covers(a, agreement, u) for a in WRITES for u in probes.approved)
                   for s in denies):
            found.append("no unconditional Deny keeps role sessions (partners' included) from writing or deleting "
                         "agreements/ (Principal arn:sts::*:*/*/*, Action oss:PutObject and oss:DeleteObject)")
        for uploader in probes.approved:
            if any(s.covers(a, agreement, uploader) for s in denies for a in WRITES):
                found.append(f"a Deny statement may stop approved uploader {uploader} writing agreements/")
        allowed = set(probes.approved) | {probes.account}
        for statement in allows:
            if any(statement.covers(a, agreement, p) for a in WRITES for p in statement.principals):
                strangers = [p for p in statement.principals if p not in allowed]
                if strangers:
                    found.append(f"an Allow statement lets {', '.join(strangers)} write agreements/, who are not "
                                 "approved uploaders (ROLEPACT_APPROVED_UPLOADERS)")
    return list(dict.fromkeys(found))


def recommended(probes: Probes) -> dict:
    """The bucket policy `rolepact doctor --bucket-policy` prints for this deployment."""
    agreements = f"acs:oss:*:{probes.account}:{probes.bucket}/{AGREEMENTS}*"
    statements = [{"Effect": "Deny", "Action": list(WRITES), "Principal": ["arn:sts::*:*/*/*"],
                   "Resource": [agreements]}]
    if probes.approved:
        statements.append({"Effect": "Allow", "Action": [*WRITES, "oss:GetObject"], "Principal": list(probes.approved),
                           "Resource": [agreements]})
    return {"Version": "1", "Statement": statements}
