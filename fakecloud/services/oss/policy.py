"""OSS bucket policies: the grammar PutBucketPolicy accepts and who a statement applies to.

Pure (no clock, no state): the wire layer passes the caller and the condition values.
Sources (docs/fake-fidelity.md, "OSS bucket policy"):
- Grammar [D help/en/oss/user-guide/authorization-syntax-and-elements, PutBucketPolicy]:
  `{"Version":"1","Statement":[{"Effect","Action":["oss:…"],"Principal":["<uid>"|"*"|…],
  "Resource":["acs:oss:*:<uid>:<bucket>[/<key pattern>]"],"Condition":{…}}]}`; Principal is
  required in a bucket policy; conditions use RAM's operators.
- Limits and errors [D OSS error pages 0030-00000001…05]: the whole policy ≤ 16 KB, one field
  ≤ 4095 bytes, UTF-8, Version exactly the string "1", otherwise "invalid policy".
- Principals [D help/zh/oss/bucket-policy-settings-faq]: an account or RAM-user UID, `*` (an
  empty list means the same), and role sessions only as
  `arn:sts::<owner uid>:assumed-role/<role>/<session>` (wildcards allowed, e.g.
  `arn:sts::*:*/*/*`) — a role id is not a principal. `acs:SourceIp` must come with
  `acs:SourceVpc` in new policies [D help/en/oss/user-guide/bucket-policy].
- The bucket owner [D help/en/oss/user-guide/oss-bucket-policy + the FAQ]: a statement without
  a Condition never applies to the owner's root account; with a Condition it does (so a bad
  condition can lock the owner out, as the FAQ warns).
Guesses (marked [?] in docs/fake-fidelity.md): whether an account UID also names that
account's RAM users and role sessions (`account_covers_identities`, default False: only the
root account), and that every Resource must name this bucket.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from fakecloud.iam.policy import Decision
from fakecloud.iam.policy.conditions import Condition, ConditionError, compile_conditions, wildcard_match

MAX_POLICY_BYTES = 16 * 1024
MAX_FIELD_BYTES = 4095
_STATEMENT_KEYS = {"Effect", "Action", "Principal", "Resource", "Condition"}


class BucketPolicyError(ValueError):
    """PutBucketPolicy refuses the document: `ec` is OSS's diagnostic code, str() says why."""

    def __init__(self, message: str, ec: str = "0030-00000005") -> None:
        super().__init__(message)
        self.ec = ec


@dataclass(frozen=True)
class Requester:
    """Who sends an OSS request, as a bucket policy names principals."""

    kind: str  # "root-account" | "ram-user" | "assumed-role" | "anonymous"
    account_id: str | None = None  # the caller's account (the role owner for sessions)
    user_id: str | None = None  # RAM user id
    session_arn: str | None = None  # arn:sts::<uid>:assumed-role/<role>/<session>


@dataclass(frozen=True)
class PolicyStatement:
    effect: str
    actions: tuple[str, ...]
    principals: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...]

    def names(self, requester: Requester, *, account_covers_identities: bool) -> bool:
        for principal in self.principals:
            if principal == "*":
                return True
            if requester.kind == "anonymous":
                continue
            if principal.lower().startswith("arn:sts::"):
                if requester.session_arn and wildcard_match(principal, requester.session_arn, case_insensitive=True):
                    return True
                continue
            if requester.kind == "ram-user" and principal == requester.user_id:
                return True
            if principal == requester.account_id and (requester.kind == "root-account" or account_covers_identities):
                return True
        return False

    def matches(self, action: str, resource: str, values: dict) -> bool:
        if not any(wildcard_match(a, action, case_insensitive=True) for a in self.actions):
            return False
        if not any(wildcard_match(r, resource) for r in self.resources):
            return False
        lowered = {str(k).lower(): v for k, v in values.items()}
        return all(c.is_satisfied(lowered.get(c.key_lower), c.key_lower in lowered) for c in self.conditions)


@dataclass(frozen=True)
class BucketPolicy:
    text: str  # exactly what PutBucketPolicy stored; GetBucketPolicy returns it
    statements: tuple[PolicyStatement, ...]

    def decide(self, requester: Requester, action: str, resource: str, values: dict, *, owner: str,
               account_covers_identities: bool = False) -> Decision:
        """Explicit Deny, Allow or (nothing applies) implicit Deny, for this one policy."""
        owner_root = requester.kind == "root-account" and requester.account_id == owner
        applicable = [s for s in self.statements
                      if (s.conditions or not owner_root)
                      and s.names(requester, account_covers_identities=account_covers_identities)
                      and s.matches(action, resource, values)]
        if any(s.effect == "Deny" for s in applicable):
            return Decision.EXPLICIT_DENY
        if applicable:
            return Decision.ALLOW
        return Decision.IMPLICIT_DENY


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise BucketPolicyError(f"{where} must be a non-empty string or list of non-empty strings")
    for item in items:
        if len(item.encode("utf-8")) > MAX_FIELD_BYTES:
            raise BucketPolicyError(f"{where} has a value longer than {MAX_FIELD_BYTES} bytes", "0030-00000003")
    return tuple(items)


def _check_resource(resource: str, bucket: str, where: str) -> None:
    parts = resource.split(":", 4)
    if len(parts) != 5 or parts[0] != "acs" or parts[1] != "oss":
        raise BucketPolicyError(f"{where}: {resource!r} is not acs:oss:<region>:<account>:<bucket>[/<object>]")
    bucket_part = parts[4].split("/", 1)[0]
    if not wildcard_match(bucket_part, bucket):
        raise BucketPolicyError(f"{where}: {resource!r} does not belong to bucket {bucket}")


def parse_bucket_policy(body: bytes, bucket: str) -> BucketPolicy:
    """Validate a PutBucketPolicy body for `bucket`; `BucketPolicyError` says what is wrong."""
    if len(body) > MAX_POLICY_BYTES:
        raise BucketPolicyError(f"the policy is {len(body)} bytes; it must be less than 16 KB", "0030-00000001")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BucketPolicyError("the policy must be UTF-8", "0030-00000004") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as problem:
        raise BucketPolicyError(f"the policy is not valid JSON: {problem}") from None
    if not isinstance(document, dict) or set(document) - {"Version", "Statement"}:
        raise BucketPolicyError("the policy must be an object with Version and Statement only")
    version = document.get("Version")
    if not isinstance(version, str):
        raise BucketPolicyError("Version must be the string \"1\"")
    if version != "1":
        raise BucketPolicyError("Version must be \"1\"", "0030-00000002")
    raw_statements = document.get("Statement")
    if not isinstance(raw_statements, list) or not raw_statements:
        raise BucketPolicyError("Statement must be a non-empty list")
    statements = []
    for index, raw in enumerate(raw_statements):
        where = f"Statement[{index}]"
        if not isinstance(raw, dict) or set(raw) - _STATEMENT_KEYS:
            raise BucketPolicyError(f"{where} must be an object of {', '.join(sorted(_STATEMENT_KEYS))}")
        for required in ("Effect", "Action", "Principal", "Resource"):
            if required not in raw:
                raise BucketPolicyError(f"{where}.{required} is required in a bucket policy")
        if raw["Effect"] not in ("Allow", "Deny"):
            raise BucketPolicyError(f"{where}.Effect must be Allow or Deny")
        actions = _strings(raw["Action"], f"{where}.Action")
        for action in actions:
            if action != "*" and not action.lower().startswith("oss:"):
                raise BucketPolicyError(f"{where}.Action: {action!r} is not an OSS action (oss:<Action>)")
        # An empty Principal list means everyone, like ["*"] [D authorization-syntax-and-elements].
        principals = ("*",) if raw["Principal"] == [] else _strings(raw["Principal"], f"{where}.Principal")
        resources = _strings(raw["Resource"], f"{where}.Resource")
        for resource in resources:
            _check_resource(resource, bucket, f"{where}.Resource")
        conditions: tuple[Condition, ...] = ()
        if "Condition" in raw:
            try:
                conditions = compile_conditions(raw["Condition"])
            except ConditionError as problem:
                raise BucketPolicyError(f"{where}.Condition: {problem}") from None
            keys = {c.key_lower for c in conditions}
            if "acs:sourceip" in keys and "acs:sourcevpc" not in keys:
                # New bucket policies must pair acs:SourceIp with acs:SourceVpc [D help/en/oss/user-guide/bucket-policy].
                raise BucketPolicyError(f"{where}.Condition: acs:SourceIp must be used together with acs:SourceVpc",
                                        "0030-00000008")
        statements.append(PolicyStatement(raw["Effect"], actions, principals, resources, conditions))
    return BucketPolicy(text, tuple(statements))
