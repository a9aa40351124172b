"""Evaluation of RAM policies: Allow, explicit Deny or implicit Deny for one request.

Pure by design -- no clock, environment or I/O.  Everything a condition may test
(acs:CurrentTime, acs:SourceIp, acs:MFAPresent, sts:ExternalId, ...) arrives in
`RequestContext.condition_values`, so the same request always gets the same answer
and tests can pin time and network facts.

Rules (RAM's, which match AWS's for a single account):

* A statement applies when its Action (or NotAction), Resource (or NotResource),
  Principal (trust policies only) and every Condition match the request.
* Any applicable Deny -> EXPLICIT_DENY, whatever else matches, across all policies
  given to one call.  Otherwise any applicable Allow -> ALLOW.  Otherwise
  IMPLICIT_DENY.
* Actions match case-insensitively; resources case-sensitively; condition KEYS
  case-insensitively.  See `conditions` for missing keys, negated operators and the
  `...IfExists` variants (short version: a key absent from the request makes every
  operator false, except `...IfExists` ones, which are true, and -- when
  `RequestContext.negated_missing` is set -- plain negated ones).

Policies are compiled once by `parse_policy` (wildcards to regexes, condition values
parsed); `evaluate` on pre-parsed policies does no parsing or regex compilation.
"""
from __future__ import annotations

import copy
import enum
import functools
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from fakecloud.iam.policy.conditions import Condition, wildcard_regex
from fakecloud.iam.policy.grammar import (
    KINDS,
    PolicyGrammarError,
    PrincipalSpec,
    StatementSpec,
    check_policy,
    load_document,
)

__all__ = [
    "Decision",
    "ParsedPolicy",
    "PrincipalRef",
    "RequestContext",
    "evaluate",
    "evaluate_trust",
    "parse_policy",
]

_MISSING = object()


class Decision(enum.Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True)
class RequestContext:
    """The request being authorised.

    `condition_values` keys may use any case ("acs:SourceIp" / "acs:sourceip"); values
    may be str, bool, int, float, datetime, or a list of those.  A missing key means
    the request does not carry that fact.  Treat the mapping as immutable once the
    context is built: a case-insensitive index of it is cached on first use.
    """

    action: str
    resource: str
    condition_values: Mapping[str, object] = field(default_factory=dict)
    negated_missing: bool = False  # a plain negated operator on a missing key: true? (conditions.py)

    @functools.cached_property
    def _lowered(self) -> dict[str, object]:
        return {str(k).lower(): v for k, v in self.condition_values.items()}

    def condition_value(self, key: str, default: object = None) -> object:
        """The request's value for a condition key, looked up case-insensitively."""
        value = self._lookup(key, key.lower())
        return default if value is _MISSING else value

    def _lookup(self, key: str, key_lower: str) -> object:
        # Exact spelling first: policies and callers almost always agree on case.
        value = self.condition_values.get(key, _MISSING)
        if value is _MISSING:
            value = self._lowered.get(key_lower, _MISSING)
        return value


PRINCIPAL_KINDS = ("ram-user", "assumed-role", "root", "service")


@dataclass(frozen=True)
class PrincipalRef:
    """Who asks to assume a role, as a trust policy sees it.

    `name` is the RAM user name, the role name of an assumed-role session, or the
    service name ("ecs.aliyuncs.com"); None for root.
    """

    kind: str
    account_id: str
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PRINCIPAL_KINDS:
            raise ValueError(f"unknown principal kind {self.kind!r}; expected one of {', '.join(PRINCIPAL_KINDS)}")


# --------------------------------------------------------------------------- compiled forms


class _Patterns:
    """A list of wildcard patterns compiled for fast membership tests.

    Literal patterns go into a set, wildcard ones into a single alternation regex, and
    a bare "*" short-circuits: most real statements hit one of the first two paths.
    """

    __slots__ = ("match_all", "exact", "regex", "case_insensitive")

    def __init__(self, patterns: Iterable[str], *, case_insensitive: bool) -> None:
        patterns = tuple(patterns)
        self.case_insensitive = case_insensitive
        self.match_all = any(p and not p.strip("*") for p in patterns)
        literal = [p for p in patterns if "*" not in p and "?" not in p]
        wild = tuple(p for p in patterns if "*" in p or "?" in p)
        self.exact = frozenset(p.lower() for p in literal) if case_insensitive else frozenset(literal)
        self.regex = wildcard_regex(wild, case_insensitive) if wild and not self.match_all else None

    def matches(self, value: str) -> bool:
        if self.match_all:
            return True
        if (value.lower() if self.case_insensitive else value) in self.exact:
            return True
        return self.regex is not None and self.regex.fullmatch(value) is not None


def _normalise_ram_principal(entry: str) -> str:
    """Canonical ARN for a RAM principal: bare account id -> ...:root; region dropped.

    Principal ARNs have an empty region ("acs:ram::123:root"); dropping whatever the
    policy wrote there makes "acs:ram:*:123:root" mean the same thing.
    """
    if not entry.lower().startswith("acs:"):
        return "*" if entry == "*" else f"acs:ram::{entry}:root"
    parts = entry.split(":", 4)
    return f"acs:ram::{parts[3]}:{parts[4]}"


class _PrincipalMatcher:
    """Matches a `PrincipalRef` against a trust statement's Principal element.

    RAM principals: "acs:ram::<uid>:root" (or bare "<uid>") means every RAM user and
    every role session of that account -- never the root identity itself, which RAM
    does not let assume roles.  ".../user/<name>" and ".../role/<name>" name one user
    or the sessions of one role; names compare case-insensitively, as RAM names do.
    Service principals match kind "service" by name, or "<uid>@<service>" for a
    service acting for one account.  Federated principals (SAML/OIDC providers) are
    kept but never match the principal kinds modelled here.
    """

    __slots__ = ("ram", "service", "federated")

    def __init__(self, spec: PrincipalSpec) -> None:
        self.ram = _Patterns(map(_normalise_ram_principal, spec.ram), case_insensitive=True) if spec.ram else None
        self.service = _Patterns(spec.service, case_insensitive=True) if spec.service else None
        self.federated = spec.federated

    def matches(self, principal: PrincipalRef) -> bool:
        if principal.kind in ("ram-user", "assumed-role"):
            if self.ram is None:
                return False
            if self.ram.matches(f"acs:ram::{principal.account_id}:root"):
                return True
            if not principal.name:
                return False
            segment = "user" if principal.kind == "ram-user" else "role"
            return self.ram.matches(f"acs:ram::{principal.account_id}:{segment}/{principal.name}")
        if principal.kind == "service":
            if self.service is None or not principal.name:
                return False
            return self.service.matches(principal.name) or self.service.matches(
                f"{principal.account_id}@{principal.name}")
        return False  # root: never a trusted principal


class _Statement:
    """A statement compiled for evaluation; `applies` is the hot path."""

    __slots__ = ("index", "effect", "actions", "not_action", "resources", "not_resource",
                 "principal", "conditions")

    def __init__(self, spec: StatementSpec) -> None:
        self.index = spec.index
        self.effect = spec.effect
        self.actions = _Patterns(spec.actions, case_insensitive=True)
        self.not_action = spec.not_action
        self.resources = None if spec.resources is None else _Patterns(spec.resources, case_insensitive=False)
        self.not_resource = spec.not_resource
        self.principal = None if spec.principal is None else _PrincipalMatcher(spec.principal)
        self.conditions: tuple[Condition, ...] = spec.conditions

    def applies(self, ctx: RequestContext, principal: PrincipalRef | None = None) -> bool:
        if self.actions.matches(ctx.action) == self.not_action:
            return False
        if self.resources is not None and self.resources.matches(ctx.resource) == self.not_resource:
            return False
        if self.principal is not None and (principal is None or not self.principal.matches(principal)):
            return False
        for cond in self.conditions:
            value = ctx._lookup(cond.key, cond.key_lower)
            if not cond.is_satisfied(value, value is not _MISSING, ctx.negated_missing):
                return False
        return True

    def __repr__(self) -> str:
        return f"<Statement[{self.index}] {self.effect}>"


class ParsedPolicy:
    """A validated, compiled policy.  Build with `parse_policy`; treat as immutable.

    `document` is the validated JSON dict (a private copy when a dict was given).
    """

    __slots__ = ("kind", "document", "statements", "denies", "allows")

    def __init__(self, document: dict, kind: str, specs: tuple[StatementSpec, ...]) -> None:
        self.kind = kind
        self.document = document
        self.statements = tuple(_Statement(spec) for spec in specs)
        # Split by effect so evaluation can look for a Deny first and stop at the first Allow.
        self.denies = tuple(s for s in self.statements if s.effect == "Deny")
        self.allows = tuple(s for s in self.statements if s.effect == "Allow")

    def __repr__(self) -> str:
        return f"<ParsedPolicy kind={self.kind} statements={len(self.statements)}>"


# --------------------------------------------------------------------------- API


@functools.lru_cache(maxsize=1024)
def _parse_text(text: str, kind: str) -> ParsedPolicy:
    """Parsing JSON text is cached: stored policies are re-evaluated on every call."""
    doc = load_document(text)
    return ParsedPolicy(doc, kind, check_policy(doc, kind))


def parse_policy(document: str | bytes | dict | ParsedPolicy, *, kind: str = "identity") -> ParsedPolicy:
    """Validate and compile a policy document of kind "identity", "trust" or "session".

    Raises `PolicyGrammarError` naming the problem if the document is invalid.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {', '.join(KINDS)}")
    if isinstance(document, ParsedPolicy):
        if document.kind != kind and {document.kind, kind} != {"identity", "session"}:
            raise ValueError(f"policy was parsed as {document.kind!r}, not {kind!r}")
        return document
    if isinstance(document, (bytes, bytearray)):
        document = bytes(document).decode("utf-8")
    if isinstance(document, str):
        return _parse_text(document, kind)
    if isinstance(document, dict):
        doc = copy.deepcopy(document)  # the caller may go on mutating theirs
        return ParsedPolicy(doc, kind, check_policy(doc, kind))
    raise PolicyGrammarError(f"policy document must be a JSON string or dict, got {type(document).__name__}")


def _identity_policies(policies: object) -> list[ParsedPolicy]:
    # A lone document is a common slip (and a str would iterate by character).
    if isinstance(policies, (str, bytes, bytearray, dict, ParsedPolicy)):
        policies = (policies,)
    parsed = []
    for policy in policies:  # type: ignore[union-attr]
        if not isinstance(policy, ParsedPolicy):
            policy = parse_policy(policy, kind="identity")
        elif policy.kind == "trust":
            raise ValueError("trust policies are evaluated with evaluate_trust(), not evaluate()")
        parsed.append(policy)
    return parsed


def evaluate(policies: Iterable[ParsedPolicy | dict | str], ctx: RequestContext) -> Decision:
    """Identity-style evaluation over all statements of all `policies`.

    Any applicable Deny -> EXPLICIT_DENY; else any applicable Allow -> ALLOW; else
    IMPLICIT_DENY.  Raw dicts/strings are parsed as identity policies (JSON text is
    cached); invalid ones raise `PolicyGrammarError`.
    """
    parsed = _identity_policies(policies)
    for policy in parsed:
        for stmt in policy.denies:
            if stmt.applies(ctx):
                return Decision.EXPLICIT_DENY
    for policy in parsed:
        for stmt in policy.allows:
            if stmt.applies(ctx):
                return Decision.ALLOW
    return Decision.IMPLICIT_DENY


def evaluate_trust(trust_policy: ParsedPolicy | dict | str, principal: PrincipalRef,
                   ctx: RequestContext) -> Decision:
    """Whether `principal` may perform `ctx.action` (normally sts:AssumeRole) on the role.

    A statement applies when its Principal matches `principal`, its Action matches
    and its Conditions hold; Deny wins as in `evaluate`.  `ctx.resource` is ignored.
    """
    policy = parse_policy(trust_policy, kind="trust")
    for stmt in policy.denies:
        if stmt.applies(ctx, principal):
            return Decision.EXPLICIT_DENY
    for stmt in policy.allows:
        if stmt.applies(ctx, principal):
            return Decision.ALLOW
    return Decision.IMPLICIT_DENY
