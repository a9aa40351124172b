"""What `rolepact doctor` asks of the bucket policy besides the approved-uploaders lock.

The lock on `agreements/` (every unapproved RAM user and every role session denied writing it,
no Allow for anyone else) is shared/uploaders.py's `judge_lock`, which intake itself applies on
every event; doctor reports it. On top of it, for rolepact's own prefixes, doctor checks what a
bucket policy can express (no NotPrincipal in OSS, and `acs:PrincipalARN` conditions are accepted
but not enforced — docs/fake-fidelity.md, "What the product relies on"):

- no statement lets anyone but the service role's sessions write `status/`, `state/`,
  `schedule/`, `outbox/`, `audit/` or `reports/` (`control/` is the operators' kill switch);
- nothing denies the service role writing those or reading `agreements/`;
- nothing is granted to `*` (anonymous access).

Statements with a Condition are read conservatively: a possible grant or denial always counts.
"""
from __future__ import annotations

import fnmatch

from shared.records import AGREEMENTS, CONTROL_REVOKE, OWN_PREFIXES

WRITES = ("oss:PutObject", "oss:DeleteObject")
READS = ("oss:GetObject", "oss:ListObjects")
CONTROL = tuple(p for p in OWN_PREFIXES if not CONTROL_REVOKE.startswith(p))


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _match(pattern, value: str) -> bool:
    return isinstance(pattern, str) and fnmatch.fnmatchcase(value.lower(), pattern.lower().replace("[", "[[]"))


def _principals(statement: dict) -> list:
    found = _list(statement.get("Principal"))
    return found or ["*"]  # an empty list means everyone (OSS authorization syntax)


def _covers(statement: dict, action: str, resource: str, principal: str | None = None) -> bool:
    return (any(_match(a, action) for a in _list(statement.get("Action")))
            and any(_match(r, resource) for r in _list(statement.get("Resource")))
            and (principal is None or any(_match(p, principal) for p in _principals(statement))))


def control_problems(policy: dict | None, *, account: str, bucket: str, service_role: str) -> list[str]:
    """What in the bucket policy opens rolepact's prefixes or gets in the service role's way."""
    if not isinstance(policy, dict):
        return []
    statements = [s for s in _list(policy.get("Statement")) if isinstance(s, dict)]
    service_session = f"arn:sts::{account}:assumed-role/{service_role}/probe-session"
    service_prefix = f"arn:sts::{account}:assumed-role/{service_role}/".lower()
    found = []
    for statement in statements:
        effect = statement.get("Effect")
        if effect == "Allow" and "*" in _principals(statement):
            found.append(f"an Allow statement names Principal '*' (anyone, anonymous callers too) for "
                         f"{', '.join(map(str, _list(statement.get('Action'))))}")
        for prefix in CONTROL:
            resource = f"acs:oss:{'*'}:{account}:{bucket}/{prefix}probe"
            if effect == "Allow" and any(_covers(statement, a, resource) for a in WRITES):
                others = [p for p in _principals(statement) if not str(p).lower().startswith(service_prefix)]
                if others:
                    found.append(f"an Allow statement lets {', '.join(map(str, others))} write {prefix} (only the "
                                 f"service role {service_role} may)")
            if effect == "Deny" and any(_covers(statement, a, resource, service_session) for a in WRITES):
                found.append(f"a Deny statement may stop the service role writing {prefix}")
        agreement = f"acs:oss:*:{account}:{bucket}/{AGREEMENTS}probe.json"
        if effect == "Deny" and any(_covers(statement, a, agreement, service_session) for a in READS):
            found.append("a Deny statement may stop the service role reading agreements/")
    return list(dict.fromkeys(found))
