"""Guardrails: limits from rolepact's deployment configuration that no agreement file can lift.

A valid agreement says what Enterprise A wants; the guardrails say what A's administrators allow
any agreement to want. Whoever can write to the bucket must not be able to hand a partner the
keys to the account: full administrator, RAM writes (a partner could grant itself anything),
or assuming other roles.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from shared.agreements.model import Agreement
from shared.documents import trust_policy_problems
from shared.errors import Problem
from shared.settings import Guardrails, Settings

# RAM actions that change identities, credentials, policies or rolepact's ownership tags: any of
# them lets a partner widen its own access. Matched case-insensitively, as RAM matches actions.
RAM_WRITE_ACTIONS = (
    # users and their credentials
    "CreateUser", "UpdateUser", "DeleteUser", "CreateLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile",
    "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey", "CreateVirtualMFADevice", "DeleteVirtualMFADevice",
    "BindMFADevice", "UnbindMFADevice",
    # groups
    "CreateGroup", "UpdateGroup", "DeleteGroup", "AddUserToGroup", "RemoveUserFromGroup",
    # roles
    "CreateRole", "UpdateRole", "DeleteRole", "CreateServiceLinkedRole", "DeleteServiceLinkedRole",
    "PassRole",  # hands an existing role to a cloud service (e.g. an ECS instance the partner controls)
    # policies
    "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion", "SetDefaultPolicyVersion",
    "UpdatePolicyDescription", "AttachPolicyToUser", "DetachPolicyFromUser", "AttachPolicyToGroup",
    "DetachPolicyFromGroup", "AttachPolicyToRole", "DetachPolicyFromRole",
    # account security settings, identity providers and applications
    "SetAccountAlias", "DeleteAccountAlias", "SetPasswordPolicy", "SetSecurityPreference", "SetDefaultDomain",
    "SetUserSsoSettings", "CreateSAMLProvider", "UpdateSAMLProvider", "DeleteSAMLProvider", "CreateOIDCProvider",
    "UpdateOIDCProvider", "DeleteOIDCProvider", "AddClientIdToOIDCProvider", "RemoveClientIdFromOIDCProvider",
    "AddFingerprintToOIDCProvider", "RemoveFingerprintFromOIDCProvider", "CreateApplication",
    "UpdateApplication", "DeleteApplication", "CreateAppSecret", "DeleteAppSecret",
    # tags: rolepact marks the roles and policies it owns with them
    "TagResources", "UntagResources",
)
# Verbs of RAM writes, so that e.g. "ram:Put*" or a RAM action newer than the list above is caught too.
RAM_WRITE_VERBS = ("Create", "Attach", "Update", "Put", "Set", "Add", "Bind", "Delete", "Detach", "Remove")

_ONE_ROLE = re.compile(r"acs:ram:[^:]*:[0-9]{16}:role/[A-Za-z0-9.-]{1,64}", re.IGNORECASE)
_SPELLED_OUT_SERVICE = re.compile(r"acs:([^:*?]+):", re.IGNORECASE)
_ALLOW_HINT = "or list {name!r} in ROLEPACT_ALLOW_PRIVILEGED_POLICIES"


def check_guardrails(agreement: Agreement, settings: Settings, *, uploader: str | None, now: datetime,
                     is_new_revision: bool = True, check_uploader: bool = True) -> list[Problem]:
    """Every guardrail the agreement breaks (empty: it may be applied).

    `uploader` is the OSS event's userIdentity.principalId (None if unknown); `now` must be aware.
    `is_new_revision` is False when re-checking a file that was already applied, which may have
    expired since without being wrong. `check_uploader` is False when re-checking a revision read
    back from rolepact's own records (there is no upload event to vouch for it).
    """
    rails = settings.guardrails
    return [
        *_owner(agreement, settings),
        *_partner(agreement, rails),
        *_role_name_prefix(agreement, rails),
        *(_uploader(uploader, rails) if check_uploader else []),
        *_privileged_system_policies(agreement, rails),
        *_escalating_custom_policies(agreement, rails),
        *_ungrantable_custom_policies(agreement, rails),
        *_agreement_length(agreement, rails, now),
        *(_start_horizon(agreement, rails, now) if is_new_revision else []),
        *_session_length(agreement, rails),
        *(_expiry(agreement, now) if is_new_revision else []),
        *trust_policy_problems(agreement, max_chars=rails.max_trust_policy_chars,
                               extended=settings.extended_trust_conditions),
    ]


# ======================================================================================= parties
def _owner(agreement: Agreement, settings: Settings) -> list[Problem]:
    owner = agreement.owner.account_id
    if owner == settings.account_id:
        return []
    running_in = settings.account_id or "unknown: ROLEPACT_ACCOUNT_ID is not set"
    return [Problem("owner.accountId", f"{owner} is not the account rolepact runs in ({running_in}); rolepact "
                                       f"only grants access to its own account")]


def _partner(agreement: Agreement, rails: Guardrails) -> list[Problem]:
    partner = agreement.partner.account_id
    if rails.allowed_partners is None or partner in rails.allowed_partners:
        return []
    return [Problem("partner.accountId", f"partner {partner} is not in ROLEPACT_ALLOWED_PARTNERS; an "
                                         f"administrator must add it there first")]


def _uploader(uploader: str | None, rails: Guardrails) -> list[Problem]:
    if rails.approved_uploaders is None or (uploader is not None and uploader in rails.approved_uploaders):
        return []
    who = "the uploader is unknown" if uploader is None else f"uploader {uploader!r} is not approved"
    return [Problem("(uploader)", f"{who}; only principals in ROLEPACT_APPROVED_UPLOADERS may upload agreements")]


def _role_name_prefix(agreement: Agreement, rails: Guardrails) -> list[Problem]:
    """The service role may only write roles named with the prefix (deploy/service-role-policy.json):
    refuse other names up front rather than fail at CreateRole. Case-sensitive, as RAM matches ARNs."""
    prefix = rails.role_name_prefix
    if not prefix or agreement.role_name.startswith(prefix):
        return []
    return [Problem("role.name", f"role names must start with {prefix!r} (ROLEPACT_ROLE_NAME_PREFIX: the only roles "
                                 f"rolepact's service role may change); rename the role, e.g. "
                                 f"{prefix + agreement.role_name!r}")]


# ======================================================================================= policies
def _privileged_system_policies(agreement: Agreement, rails: Guardrails) -> list[Problem]:
    """Compared case-insensitively: a differently cased name must not slip through if RAM accepts it."""
    privileged = {name.lower() for name in rails.privileged_policies}
    allowed = {name.lower() for name in rails.allowed_privileged_policies}
    return [Problem(f"policies[{i}].name", f"{policy.name} is a privileged policy that rolepact does not grant; "
                                           f"remove it, {_ALLOW_HINT.format(name=policy.name)}")
            for i, policy in enumerate(agreement.policies)
            if policy.type == "System" and policy.name.lower() in privileged and policy.name.lower() not in allowed]


def _escalating_custom_policies(agreement: Agreement, rails: Guardrails) -> list[Problem]:
    allowed = {name.lower() for name in rails.allowed_privileged_policies}
    problems = []
    for i, policy in enumerate(agreement.policies):
        if policy.type != "Custom" or policy.name.lower() in allowed:
            continue
        for j, statement in enumerate(policy.document["Statement"]):
            if statement["Effect"] != "Allow":
                continue  # a Deny only takes access away
            for field, reason in _escalations(statement, agreement):
                problems.append(Problem(f"policies[{i}].document.Statement[{j}].{field}",
                                        f"{reason}; remove it, {_ALLOW_HINT.format(name=policy.name)}"))
    return problems


def _ungrantable_custom_policies(agreement: Agreement, rails: Guardrails) -> list[Problem]:
    """Every action a custom document allows must be within ROLEPACT_GRANTABLE_SERVICES."""
    problems = []
    for i, policy in enumerate(agreement.policies):
        if policy.type != "Custom":
            continue
        for j, statement in enumerate(policy.document["Statement"]):
            if statement["Effect"] == "Allow":
                problems += [Problem(f"policies[{i}].document.Statement[{j}].{field}", reason)
                             for field, reason in _outside_grantable(statement, rails.grantable)]
    return problems


def escalating_system_policy(index: int, name: str, document: dict | None, settings: Settings) -> list[Problem]:
    """A system policy judged by what RAM says it grants, not by its name: escalation (e.g.
    AliyunFCFullAccess allows ram:PassRole: a partner could run code with any role that trusts FC) and
    services outside ROLEPACT_GRANTABLE_SERVICES (e.g. ReadOnlyAccess reads dozens of services).
    `document` is the policy's default version as RAM returns it; None (unreadable) passes, attaching
    will tell."""
    if not isinstance(document, dict):
        return []
    exempt = name.lower() in {n.lower() for n in settings.guardrails.allowed_privileged_policies}
    statements = document.get("Statement")
    problems = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        normalized = {key: value for key, value in statement.items()
                      if key in ("Action", "NotAction", "Resource", "NotResource")
                      and (isinstance(value, str) or (isinstance(value, list)
                                                      and all(isinstance(v, str) for v in value)))}
        if "Action" not in normalized and "NotAction" not in normalized:
            continue
        if "Resource" not in normalized and "NotResource" not in normalized:
            normalized["Resource"] = "*"
        reasons = [] if exempt else [f"{reason}; remove it, {_ALLOW_HINT.format(name=name)}"
                                     for _, reason in _escalations(normalized)]
        reasons += [reason for _, reason in _outside_grantable(normalized, settings.guardrails.grantable)]
        problems += [Problem(f"policies[{index}].name", f"system policy {name}: {reason}") for reason in reasons]
    return problems


def _outside_grantable(statement: dict, grantable: tuple[str, ...]) -> list[tuple[str, str]]:
    """(field, why) for what an Allow statement grants beyond ROLEPACT_GRANTABLE_SERVICES: one problem per
    service, so a policy spanning many services says which ones, once each."""
    if "*" in grantable:
        return []
    hint = (f"ROLEPACT_GRANTABLE_SERVICES allows {', '.join(grantable)}; remove it, or an administrator adds "
            f"the service there")
    if "NotAction" in statement:
        return [("NotAction", f"an Allow with NotAction grants every service not listed; {hint}")]
    outside: dict[str, list[str]] = {}
    for pattern in _as_list(statement["Action"]):
        if not _grantable(pattern, grantable):
            service = pattern.rpartition(":")[0].lower() or "*"
            outside.setdefault(service, []).append(pattern)
    return [("Action", f"{', '.join(repr(p) for p in patterns[:5])}{' …' if len(patterns) > 5 else ''} "
                       f"{'reaches every service' if service == '*' or _has_wildcard(service) else f'grants {service}'}"
                       f", which agreements may not grant; {hint}")
            for service, patterns in outside.items()]


def _grantable(pattern: str, grantable: tuple[str, ...]) -> bool:
    """Whether every action `pattern` matches is within the allow-list (conservative: a wildcard in the
    service part is within nothing but `*`)."""
    service, _, name = pattern.rpartition(":")
    if not service or _has_wildcard(service):
        return False
    for entry in grantable:
        allowed_service, _, allowed_name = entry.rpartition(":")
        if not allowed_service:  # a whole service
            if service.lower() == entry.lower():
                return True
        elif service.lower() == allowed_service.lower() and _within(name, allowed_name):
            return True
    return False


def _within(pattern: str, allowed: str) -> bool:
    """Whether every action name `pattern` matches is matched by `allowed` (both RAM wildcards)."""
    if allowed == "*":
        return True
    if not _has_wildcard(allowed):
        return not _has_wildcard(pattern) and pattern.lower() == allowed.lower()
    stem = allowed[:-1]
    if allowed.endswith("*") and not _has_wildcard(stem):
        return pattern.lower().startswith(stem.lower()) and not _has_wildcard(pattern[:len(stem)])
    return not _has_wildcard(pattern) and _matches(allowed, pattern)


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _escalations(statement: dict, agreement: Agreement | None = None) -> list[tuple[str, str]]:
    """(field, why) for each way an Allow statement lets the partner widen its own access."""
    if "NotAction" in statement:
        return [("NotAction", "an Allow with NotAction grants every action not listed, including RAM writes")]
    found = []
    for pattern in _as_list(statement["Action"]):
        if pattern == "*":
            found.append(("Action", "Action '*' grants every action, including RAM writes"))
            continue
        ram_write = _ram_write_granted(pattern)
        if ram_write:
            found.append(("Action", f"{pattern!r} grants {ram_write}, a RAM write that lets the partner give "
                                    f"itself more access"))
        broad = _matches(pattern, "sts:AssumeRole") and _broad_role_resource(statement)
        own = _matches(pattern, "sts:AssumeRole") and not broad and _owner_role(statement, agreement)
        if own:
            found.append(("Resource", f"{pattern!r} grants sts:AssumeRole on {own!r}, a role of the owner account: "
                                      f"any identity of that account may assume a role that trusts it, so the "
                                      f"partner would act with that role's permissions, past every guardrail"))
        if broad:
            field, resource = broad
            found.append((field, f"{pattern!r} grants sts:AssumeRole on {resource}, which reaches roles other "
                                 f"than one named role; name the exact role ARN (acs:ram::<account>:role/<name>)"))
    return found


def _ram_write_granted(pattern: str) -> str | None:
    """The RAM write an action pattern grants, e.g. 'ram:Attach*' -> 'ram:AttachPolicyToUser'; None if none.

    Validated actions have exactly one ':' (or are '*'), as RAM's do, so the service and the action
    name can be matched separately.
    """
    service, _, name = pattern.rpartition(":")
    if not _matches(service or "*", "ram"):
        return None
    for action in RAM_WRITE_ACTIONS:
        if _matches(name, action):
            return f"ram:{action}"
    for verb in RAM_WRITE_VERBS:
        if name.lower().startswith(verb.lower()) or _matches(name, f"{verb}AnyNewAction"):
            return f"ram:{verb}* actions"
    return None


def _owner_role(statement: dict, agreement: Agreement | None) -> str | None:
    """The first role of the owner account (other than the agreement's own) among the statement's resources."""
    if agreement is None:
        return None
    for resource in _as_list(statement.get("Resource") or []):
        if _ONE_ROLE.fullmatch(resource) and resource.split(":")[3] == agreement.owner.account_id \
                and resource.rsplit("/", 1)[1].lower() != agreement.role_name.lower():
            return resource
    return None


def _broad_role_resource(statement: dict) -> tuple[str, str] | None:
    """(field, resource) if the statement's resources reach more than exactly named roles."""
    if "NotResource" in statement:
        return "NotResource", "every resource not listed"
    for resource in _as_list(statement["Resource"]):
        if _could_name_roles(resource) and not _ONE_ROLE.fullmatch(resource):
            return "Resource", repr(resource)
    return None


def _could_name_roles(resource: str) -> bool:
    """False only when the ARN spells out a service other than ram (e.g. acs:ecs:...), which holds no roles."""
    spelled = _SPELLED_OUT_SERVICE.match(resource)
    return spelled is None or spelled.group(1).lower() == "ram"


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(pattern: str, text: str) -> bool:
    """RAM wildcard match (`*` any run, `?` one character), case-insensitive.

    A two-pointer matcher rather than a regex: `*a*a*a*...` from an untrusted file must not
    backtrack exponentially. Time is at most len(pattern) * len(text).
    """
    pattern, text = pattern.lower(), text.lower()
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, resume, p = p, t, p + 1
        elif p < len(pattern) and pattern[p] in ("?", text[t]):
            p, t = p + 1, t + 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    return all(ch == "*" for ch in pattern[p:])


# ======================================================================================= time
def _agreement_length(agreement: Agreement, rails: Guardrails, now: datetime) -> list[Problem]:
    start = agreement.starts_at or now
    length = agreement.expires_at - start
    if length <= timedelta(days=rails.max_agreement_days):
        return []
    since = "startsAt" if agreement.starts_at else "now (no startsAt)"
    return [Problem("expiresAt", f"the agreement would last {_span(length)} from {since}; "
                                 f"ROLEPACT_MAX_AGREEMENT_DAYS allows at most {rails.max_agreement_days} days; "
                                 f"choose an earlier expiresAt and extend it later by editing the file")]


def _start_horizon(agreement: Agreement, rails: Guardrails, now: datetime) -> list[Problem]:
    """A grant planned far ahead is a sleeper nobody reviews when it wakes up: startsAt may be at most
    ROLEPACT_MAX_AGREEMENT_DAYS ahead, the same horizon as an agreement's length."""
    if agreement.starts_at is None or agreement.starts_at - now <= timedelta(days=rails.max_agreement_days):
        return []
    return [Problem("startsAt", f"startsAt {_utc(agreement.starts_at)} is more than {rails.max_agreement_days} days "
                                f"ahead (ROLEPACT_MAX_AGREEMENT_DAYS); upload the agreement closer to its start")]


def _session_length(agreement: Agreement, rails: Guardrails) -> list[Problem]:
    seconds = agreement.max_session_duration
    if seconds <= rails.max_session_seconds:
        return []
    return [Problem("role.maxSessionDurationSeconds",
                    f"{seconds} exceeds ROLEPACT_MAX_SESSION_SECONDS ({rails.max_session_seconds}); "
                    f"ask for {rails.max_session_seconds} seconds or less")]


def _expiry(agreement: Agreement, now: datetime) -> list[Problem]:
    if agreement.expires_at > now:
        return []
    return [Problem("expiresAt", f"expiresAt {_utc(agreement.expires_at)} is in the past; choose a future "
                                 f"date to grant access")]


def _span(length: timedelta) -> str:
    return f"{length.days} days" if length == timedelta(days=length.days) else str(length)


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
