"""check_guardrails: each deployment limit, the escalation detector's coverage, and its wildcard matcher.

Rows read: id, changes to the seed agreement, changes to the guardrails, expected path, message fragment.
"""
from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.agreements.guardrails import RAM_WRITE_ACTIONS, RAM_WRITE_VERBS, _matches, check_guardrails
from shared.agreements.model import Agreement, PolicyGrant
from shared.agreements.parse import parse_agreement
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.settings import Guardrails, Settings

OWNER, PARTNER, OTHER = "1234567890123456", "1345678901234567", "1999999999999999"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
SEED = parse_agreement(json.dumps(EXAMPLE_AGREEMENT).encode(), key="agreements/seed.json")
STATEMENT0 = "policies[0].document.Statement[0]"


def custom(*statements: dict, name: str = "extra") -> PolicyGrant:
    return PolicyGrant("Custom", name, {"Version": "1", "Statement": list(statements)})


def allow(action: str | list[str] = "ecs:StartInstance", resource: str | list[str] = "*", **more) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def system(name: str) -> PolicyGrant:
    return PolicyGrant("System", name)


def check(agreement: Agreement = SEED, *, uploader: str | None = None, now: datetime = NOW,
          is_new_revision: bool = True, account_id: str = OWNER, **rails) -> list:
    settings = Settings(account_id=account_id, guardrails=Guardrails(**rails))
    return check_guardrails(agreement, settings, uploader=uploader, now=now, is_new_revision=is_new_revision)


def with_policies(*policies: PolicyGrant) -> Agreement:
    return replace(SEED, policies=policies)


def test_the_seed_passes_the_default_guardrails():
    assert check() == []


CASES = [
    # --- parties and uploads
    ("owner-elsewhere", {}, {"account_id": OTHER}, "owner.accountId",
     f"{OWNER} is not the account rolepact runs in ({OTHER})"),
    ("account-unset", {}, {"account_id": ""}, "owner.accountId", "ROLEPACT_ACCOUNT_ID is not set"),
    ("partner-not-allowed", {}, {"allowed_partners": frozenset({OTHER})}, "partner.accountId",
     f"partner {PARTNER} is not in ROLEPACT_ALLOWED_PARTNERS"),
    ("partner-list-empty", {}, {"allowed_partners": frozenset()}, "partner.accountId",
     "not in ROLEPACT_ALLOWED_PARTNERS"),
    ("uploader-unknown", {}, {"approved_uploaders": frozenset({"2001"})}, "(uploader)",
     "the uploader is unknown; only principals in ROLEPACT_APPROVED_UPLOADERS may upload agreements"),
    ("uploader-not-approved", {}, {"approved_uploaders": frozenset({"2001"}), "uploader": "2002"}, "(uploader)",
     "uploader '2002' is not approved"),
    # --- privileged system policies
    ("administrator", {"policies": (system("AdministratorAccess"),)}, {}, "policies[0].name",
     "AdministratorAccess is a privileged policy that rolepact does not grant; remove it, or list "
     "'AdministratorAccess' in ROLEPACT_ALLOW_PRIVILEGED_POLICIES"),
    ("ram-full", {"policies": (system("AliyunECSFullAccess"), system("AliyunRAMFullAccess"))}, {}, "policies[1].name",
     "AliyunRAMFullAccess is a privileged policy"),
    ("assume-role-access", {"policies": (system("AliyunSTSAssumeRoleAccess"),)}, {}, "policies[0].name",
     "privileged policy"),
    ("administrator-other-case", {"policies": (system("administratoraccess"),)}, {}, "policies[0].name",
     "privileged policy"),
    ("privileged-custom-list", {"policies": (system("AliyunECSFullAccess"),)},
     {"privileged_policies": ("AliyunECSFullAccess",)}, "policies[0].name", "privileged policy"),
    # --- custom policies that escalate
    ("action-star", {"policies": (custom(allow("*")),)}, {}, f"{STATEMENT0}.Action",
     "Action '*' grants every action, including RAM writes; remove it, or list 'extra' in "
     "ROLEPACT_ALLOW_PRIVILEGED_POLICIES"),
    ("not-action-allow", {"policies": (custom({"Effect": "Allow", "NotAction": "ecs:*", "Resource": "*"}),)}, {},
     f"{STATEMENT0}.NotAction", "an Allow with NotAction grants every action not listed"),
    ("ram-attach", {"policies": (custom(allow(["ecs:*", "ram:Attach*"])),)}, {}, f"{STATEMENT0}.Action",
     "'ram:Attach*' grants ram:AttachPolicyToUser, a RAM write that lets the partner give itself more access"),
    ("second-statement", {"policies": (custom(allow(), allow("ram:CreatePolicyVersion")),)}, {},
     "policies[0].document.Statement[1].Action", "grants ram:CreatePolicyVersion"),
    ("second-policy", {"policies": (system("AliyunECSFullAccess"), custom(allow("ram:*")))}, {},
     "policies[1].document.Statement[0].Action", "'ram:*' grants ram:CreateUser"),
    ("assume-any", {"policies": (custom(allow("sts:AssumeRole")),)}, {}, f"{STATEMENT0}.Resource",
     "'sts:AssumeRole' grants sts:AssumeRole on '*', which reaches roles other than one named role; name the "
     "exact role ARN"),
    ("assume-any-role", {"policies": (custom(allow("sts:AssumeRole", "acs:ram::*:role/*")),)}, {},
     f"{STATEMENT0}.Resource", "on 'acs:ram::*:role/*'"),
    ("assume-role-prefix", {"policies": (custom(allow("sts:Assume*", f"acs:ram::{OWNER}:role/ecs-*")),)}, {},
     f"{STATEMENT0}.Resource", "'sts:Assume*' grants sts:AssumeRole on"),
    ("assume-any-account", {"policies": (custom(allow("sts:AssumeRole", "acs:ram::*:role/admin")),)}, {},
     f"{STATEMENT0}.Resource", "reaches roles other than one named role"),
    ("assume-any-service", {"policies": (custom(allow("sts:*", "acs:*")),)}, {}, f"{STATEMENT0}.Resource",
     "on 'acs:*'"),
    ("assume-second-resource", {"policies": (custom(allow("*:*", [f"acs:ram::{OWNER}:role/a", "*"])),)}, {},
     f"{STATEMENT0}.Resource", "grants sts:AssumeRole on '*'"),
    ("assume-not-resource", {"policies": (custom({"Effect": "Allow", "Action": "sts:AssumeRole",
                                                  "NotResource": f"acs:ram::{OWNER}:role/admin"}),)}, {},
     f"{STATEMENT0}.NotResource", "on every resource not listed"),
    ("assume-case", {"policies": (custom(allow("STS:assumerole")),)}, {}, f"{STATEMENT0}.Resource",
     "grants sts:AssumeRole"),
    ("allowed-other-custom", {"policies": (custom(allow("*")),)},
     {"allowed_privileged_policies": frozenset({"something-else"})}, f"{STATEMENT0}.Action", "Action '*'"),
    # --- time and sessions
    ("too-long", {"expires_at": SEED.starts_at + timedelta(days=367)}, {}, "expiresAt",
     "the agreement would last 367 days from startsAt; ROLEPACT_MAX_AGREEMENT_DAYS allows at most 366 days"),
    ("too-long-by-a-second", {"expires_at": SEED.starts_at + timedelta(days=366, seconds=1)}, {}, "expiresAt",
     "would last 366 days, 0:00:01 from startsAt"),
    ("too-long-from-now", {"starts_at": None, "expires_at": NOW + timedelta(days=31)},
     {"max_agreement_days": 30}, "expiresAt", "would last 31 days from now (no startsAt)"),
    ("session", {"max_session_duration": 7200}, {"max_session_seconds": 3600}, "role.maxSessionDurationSeconds",
     "7200 exceeds ROLEPACT_MAX_SESSION_SECONDS (3600); ask for 3600 seconds or less"),
    ("expired", {"starts_at": None, "expires_at": datetime(2025, 1, 1, tzinfo=timezone.utc)}, {}, "expiresAt",
     "expiresAt 2025-01-01T00:00:00Z is in the past; choose a future date"),
    ("expires-now", {"starts_at": None, "expires_at": NOW}, {}, "expiresAt", "is in the past"),
]


@pytest.mark.parametrize("changes, rails, path, fragment", [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_guardrail_refusals(changes, rails, path, fragment):
    problems = check(replace(SEED, **changes), **rails)
    assert any(p.path == path and fragment in p.message for p in problems), problems


ALLOWED = [
    ("partner-allowed", {}, {"allowed_partners": frozenset({PARTNER, OTHER})}),
    ("uploader-approved", {}, {"approved_uploaders": frozenset({"2001"}), "uploader": "2001"}),
    ("uploader-any", {}, {"uploader": None}),
    ("administrator-allowed", {"policies": (system("AdministratorAccess"),)},
     {"allowed_privileged_policies": frozenset({"AdministratorAccess"})}),
    ("escalating-custom-allowed", {"policies": (custom(allow("*"), name="break-glass"),)},
     {"allowed_privileged_policies": frozenset({"break-glass"}), "grantable": ("*",)}),
    ("deny-anything", {"policies": (custom({"Effect": "Deny", "NotAction": "ecs:Describe*", "Resource": "*"},
                                           {"Effect": "Deny", "Action": ["ram:*", "sts:*"], "Resource": "*"}),)}, {}),
    ("ram-read", {"policies": (custom(allow(["ram:Get*", "ram:List*", "ecs:*"])),)}, {"grantable": ("ecs", "ram")}),
    ("assume-one-role", {"policies": (custom(allow("sts:AssumeRole", f"acs:ram::{OWNER}:role/ecs-admin")),)},
     {"grantable": ("*",)}),
    ("assume-one-role-any-region", {"policies": (custom(allow("sts:AssumeRole", f"acs:ram:*:{PARTNER}:role/x.y")),)},
     {"grantable": ("sts:AssumeRole",)}),
    ("sts-on-ecs", {"policies": (custom(allow(["ecs:*", "sts:*"], "acs:ecs:*:*:instance/*")),)},
     {"grantable": ("ecs", "sts")}),
    ("exactly-max-length", {"expires_at": SEED.starts_at + timedelta(days=366)}, {}),
    ("session-at-limit", {"max_session_duration": 14400}, {}),
    ("expired-but-already-applied", {"expires_at": datetime(2025, 1, 1, tzinfo=timezone.utc), "starts_at": None},
     {"is_new_revision": False}),
    ("started-in-the-past", {"starts_at": datetime(2026, 9, 1, tzinfo=timezone.utc)}, {}),
]


@pytest.mark.parametrize("changes, rails", [case[1:] for case in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_guardrail_passes(changes, rails):
    assert check(replace(SEED, **changes), **rails) == []


def test_every_broken_guardrail_is_reported():
    agreement = replace(SEED, policies=(system("AdministratorAccess"), custom(allow("ram:Attach*"))),
                        max_session_duration=43200, starts_at=None,
                        expires_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    problems = check(agreement, account_id=OTHER, allowed_partners=frozenset(), approved_uploaders=frozenset({"x"}))
    assert [p.path for p in problems] == ["owner.accountId", "partner.accountId", "(uploader)", "policies[0].name",
                                          "policies[1].document.Statement[0].Action",  # a RAM write ...
                                          "policies[1].document.Statement[0].Action",  # ... and not grantable
                                          "role.maxSessionDurationSeconds", "expiresAt"]


# =========================================================================================== escalation coverage
CAUGHT = ["ram:*", "ram:Attach*", "ram:*Policy*", "*:*", "ra?:*", "r*:*", "*:Create*", "ram:?reateRole", "ram:*Role",
          "RAM:ATTACHPOLICYTOROLE", "ram:Put*", "ram:PutAnything", "ram:Set*", "ram:Add*", "ram:Bind*", "ram:Delete*",
          "ram:Detach*", "ram:Remove*", "ram:Update*", "ram:Create*", "ram:CreatePolicyVersion", "ram:PassRole",
          "ram:TagResources", "ram:Untag*", "ram:C*", "?am:Set*", "ram:*To*"]
ANY_SERVICE = ("*",)  # the escalation detector alone, without the grantable-services allow-list
HARMLESS = ["ram:Get*", "ram:List*", "ram:GetRole", "ram:GenerateCredentialReport", "ram:ChangePassword", "ecs:*",
            "oss:Put*", "*:Describe*", "*:Get*", "ecs:CreateInstance", "sts:GetCallerIdentity", "ims:GetUser"]


@pytest.mark.parametrize("pattern", CAUGHT)
def test_escalating_action_patterns_are_refused(pattern):
    problems = check(with_policies(custom(allow(pattern, "acs:ecs:*:*:*"))), grantable=ANY_SERVICE)
    assert [p.path for p in problems] == [f"{STATEMENT0}.Action"], problems


@pytest.mark.parametrize("pattern", HARMLESS)
def test_harmless_action_patterns_pass(pattern):
    assert check(with_policies(custom(allow(pattern, "acs:ecs:*:*:*"))), grantable=ANY_SERVICE) == []


@pytest.mark.parametrize("action", RAM_WRITE_ACTIONS)
def test_every_listed_ram_write_is_refused_by_name(action):
    assert check(with_policies(custom(allow(f"ram:{action}"))))


@pytest.mark.parametrize("verb", RAM_WRITE_VERBS)
def test_every_write_verb_is_refused_as_a_prefix(verb):
    assert check(with_policies(custom(allow(f"ram:{verb}*"))))


def test_sts_assume_role_is_caught_through_wildcards():
    for pattern in ("sts:*", "sts:Assume*", "sts:*Role", "s?s:AssumeRole", "*:AssumeRole", "sts:AssumeRol?"):
        problems = check(with_policies(custom(allow(pattern))), grantable=ANY_SERVICE)
        assert [p.path for p in problems] == [f"{STATEMENT0}.Resource"], pattern


# =========================================================================================== the wildcard matcher
@given(st.text(alphabet="ab*?:", max_size=8), st.text(alphabet="abAB:", max_size=8))
def test_wildcard_matching_agrees_with_fnmatch(pattern, text):
    """RAM's * and ? are fnmatch's, case-insensitive (these alphabets have no [ ] classes)."""
    assert _matches(pattern, text) == fnmatch.fnmatchcase(text.lower(), pattern.lower())


def test_wildcard_matching_cannot_be_made_to_backtrack_for_long():
    started = time.perf_counter()
    assert not _matches("*a" * 300 + "b", "a" * 3000)
    assert time.perf_counter() - started < 5



def test_start_far_ahead_is_refused_for_a_new_revision_only():
    ahead = replace(SEED, starts_at=NOW + timedelta(days=367), expires_at=NOW + timedelta(days=400))
    problems = check(ahead)
    assert [p.path for p in problems] == ["startsAt"] and "ROLEPACT_MAX_AGREEMENT_DAYS" in problems[0].message
    assert not check(ahead, is_new_revision=False)


# =========================================================================================== grantable services
GRANTABLE_REFUSED = [
    # pattern, allow-list, what the message names
    ("oss:GetObject", ("ecs", "vpc"), "grants oss"),
    ("log:*", ("ecs", "vpc"), "grants log"),
    ("*", ("ecs", "vpc"), "reaches every service"),
    ("e?s:Describe*", ("ecs", "vpc"), "reaches every service"),  # a wildcard service is within nothing but '*'
    ("ecs:*", ("ecs:Describe*",), "grants ecs"),
    ("ecs:Desc*", ("ecs:Describe*",), "grants ecs"),  # broader than the listed pattern
    ("ecs:RunCommand", ("ecs:Describe*", "ecs:StartInstance"), "grants ecs"),
    ("ecs:StartInstances", ("ecs:StartInstance",), "grants ecs"),
]
GRANTABLE_PASSES = [
    ("ecs:*", ("ecs", "vpc")), ("ECS:StopInstance", ("ecs",)), ("ecs:StopInstance", ("ECS",)),
    ("ecs:Describe*", ("ecs:Describe*",)), ("ecs:DescribeInstances", ("ecs:Describe*",)),
    ("ecs:DescribeInstance*", ("ecs:Describe*",)), ("ecs:StartInstance", ("ecs:StartInstance",)),
    ("oss:*", ("*",)), ("log:GetLogStore", ("*",)),
]


@pytest.mark.parametrize("pattern, grantable, fragment", GRANTABLE_REFUSED)
def test_actions_outside_the_grantable_services_are_refused(pattern, grantable, fragment):
    problems = check(with_policies(custom(allow(pattern, "acs:ecs:*:*:*"))), grantable=grantable)
    assert any(p.path == f"{STATEMENT0}.Action" and fragment in p.message
               and "ROLEPACT_GRANTABLE_SERVICES" in p.message for p in problems), problems


@pytest.mark.parametrize("pattern, grantable", GRANTABLE_PASSES)
def test_actions_within_the_grantable_services_pass(pattern, grantable):
    assert check(with_policies(custom(allow(pattern, "acs:ecs:*:*:*"))), grantable=grantable) == []


def test_an_allow_with_not_action_is_outside_any_list_but_the_wildcard():
    statement = {"Effect": "Allow", "NotAction": "ram:*", "Resource": "*"}
    assert any("NotAction" in p.path and "ROLEPACT_GRANTABLE_SERVICES" in p.message
               for p in check(with_policies(custom(statement)), grantable=("ecs",)))


def test_one_problem_per_service_not_per_action():
    problems = check(with_policies(custom(allow(["oss:GetObject", "oss:PutObject", "ecs:*", "log:GetLogStore"]))))
    outside = [p.message for p in problems if "ROLEPACT_GRANTABLE_SERVICES" in p.message]
    assert len(outside) == 2 and any("grants oss" in m for m in outside) and any("grants log" in m for m in outside)


def test_system_policies_are_judged_by_their_document_against_the_grantable_services():
    from shared.agreements.guardrails import escalating_system_policy

    read_only = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["ecs:Describe*", "oss:Get*", "ram:Get*"],
                                                 "Resource": "*"}]}
    settings = Settings(account_id=OWNER)
    messages = [p.message for p in escalating_system_policy(0, "ReadOnlyAccess", read_only, settings)]
    assert any("grants oss" in m for m in messages) and any("grants ram" in m for m in messages)
    # the privileged-policy exemption lifts the escalation rules, never the allow-list
    exempt = replace(settings, guardrails=Guardrails(allowed_privileged_policies=frozenset({"ReadOnlyAccess"})))
    assert escalating_system_policy(0, "ReadOnlyAccess", read_only, exempt)
    everything = replace(settings, guardrails=Guardrails(grantable=("ecs", "oss", "ram")))
    assert escalating_system_policy(0, "ReadOnlyAccess", read_only, everything) == []


def test_role_names_outside_the_configured_prefix_are_refused():
    problems = check(replace(SEED, role_name="ecs-admin"), role_name_prefix="partner-")
    assert [p.path for p in problems] == ["role.name"] and "ROLEPACT_ROLE_NAME_PREFIX" in problems[0].message
    assert check(replace(SEED, role_name="partner-ecs-admin"), role_name_prefix="partner-") == []
    assert check(replace(SEED, role_name="Partner-ecs-admin"), role_name_prefix="partner-")  # as RAM's ARNs: exact case
