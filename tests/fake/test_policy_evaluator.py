"""Table-driven tests of the RAM policy evaluator and grammar (fakecloud.iam.policy).

Each evaluator row reads: id, policies, request (or principal + request), expected.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from fakecloud.iam.policy import (
    Decision,
    ParsedPolicy,
    PolicyGrammarError,
    PrincipalRef,
    RequestContext,
    evaluate,
    evaluate_trust,
    parse_policy,
    validate_policy_document,
    wildcard_match,
)

ALLOW, DENY, IMPLICIT = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY

ACCT = "1234567890123456"
OTHER = "9876543210987654"
INSTANCE = f"acs:ecs:cn-hangzhou:{ACCT}:instance/i-abc"


# --------------------------------------------------------------------------- builders


def stmt(effect: str = "Allow", action="*", resource="*", condition=None, **extra) -> dict:
    s = {"Effect": effect, **extra}
    if action is not None:
        s["Action"] = action
    if resource is not None:
        s["Resource"] = resource
    if condition is not None:
        s["Condition"] = condition
    return s


def pol(*statements: dict) -> dict:
    return {"Version": "1", "Statement": list(statements)}


def allow(action="*", resource="*", condition=None, **extra) -> dict:
    return pol(stmt("Allow", action, resource, condition, **extra))


def deny(action="*", resource="*", condition=None, **extra) -> dict:
    return pol(stmt("Deny", action, resource, condition, **extra))


def req(action: str = "ecs:StopInstance", resource: str = INSTANCE, **values) -> RequestContext:
    return RequestContext(action, resource, values)


def with_keys(values: dict, action: str = "ecs:StopInstance", resource: str = INSTANCE) -> RequestContext:
    """Request carrying condition keys (which contain ':' and so cannot be kwargs)."""
    return RequestContext(action, resource, values)


def row(case_id: str, policies, ctx: RequestContext, expected: Decision):
    return pytest.param(policies if isinstance(policies, list) else [policies], ctx, expected, id=case_id)


def cond_row(case_id: str, operator: str, key: str, policy_value, ctx_values: dict, expected: Decision):
    """An Allow-everything policy guarded by one condition: ALLOW iff the condition holds."""
    return row(case_id, allow(condition={operator: {key: policy_value}}), with_keys(ctx_values), expected)


# --------------------------------------------------------------------------- identity table

ACTION_AND_RESOURCE_CASES = [
    row("allow-exact-action", allow("ecs:StopInstance"), req(), ALLOW),
    row("implicit-deny-other-action", allow("ecs:StartInstance"), req(), IMPLICIT),
    row("implicit-deny-no-policies", [], req(), IMPLICIT),
    row("explicit-deny-beats-allow-across-policies",
        [allow("ecs:*"), deny("ecs:StopInstance")], req(), DENY),
    row("explicit-deny-beats-allow-same-policy",
        pol(stmt("Allow", "*"), stmt("Deny", "ecs:Stop*")), req(), DENY),
    row("deny-other-action-leaves-allow",
        [allow("ecs:*"), deny("ecs:DeleteInstance")], req(), ALLOW),
    row("deny-alone-is-explicit-deny", deny("ecs:StopInstance"), req(), DENY),
    row("second-policy-allows", [allow("vpc:*"), allow("ecs:StopInstance")], req(), ALLOW),
    row("action-list-any-matches", allow(["ecs:StartInstance", "ecs:StopInstance"]), req(), ALLOW),
    row("action-case-insensitive-policy-lower", allow("ecs:stopinstance"), req(), ALLOW),
    row("action-case-insensitive-request-lower", allow("ECS:StopInstance"), req("ecs:stopinstance"), ALLOW),
    row("action-wildcard-case-insensitive", allow("ECS:stop*"), req(), ALLOW),
    row("action-star-matches-all", allow("*"), req("ram:CreateUser"), ALLOW),
    row("action-service-star", allow("ecs:*"), req(), ALLOW),
    row("action-service-star-other-service", allow("ecs:*"), req("vpc:CreateVpc"), IMPLICIT),
    row("action-prefix-star", allow("ecs:Describe*"), req("ecs:DescribeInstances"), ALLOW),
    row("action-prefix-star-no-match", allow("ecs:Describe*"), req(), IMPLICIT),
    row("action-star-matches-empty", allow("ecs:StopInstance*"), req(), ALLOW),
    row("action-question-one-char", allow("ecs:Stop?nstance"), req(), ALLOW),
    row("action-question-needs-a-char", allow("ecs:StopInstance?"), req(), IMPLICIT),
    row("action-question-not-two-chars", allow("ecs:St?Instance"), req(), IMPLICIT),
    row("notaction-allow-other", allow(None, NotAction="ram:*"), req(), ALLOW),
    row("notaction-allow-excluded", allow(None, NotAction="ram:*"), req("ram:CreateUser"), IMPLICIT),
    row("notaction-case-insensitive", allow(None, NotAction="RAM:*"), req("ram:CreateUser"), IMPLICIT),
    row("notaction-deny-everything-but-describe",
        [allow("*"), deny(None, NotAction="ecs:Describe*")], req(), DENY),
    row("notaction-deny-spares-describe",
        [allow("*"), deny(None, NotAction="ecs:Describe*")], req("ecs:DescribeInstances"), ALLOW),
    row("resource-exact", allow("ecs:*", INSTANCE), req(), ALLOW),
    row("resource-other-instance", allow("ecs:*", INSTANCE + "x"), req(), IMPLICIT),
    row("resource-wildcards", allow("ecs:*", "acs:ecs:*:*:instance/*"), req(), ALLOW),
    row("resource-wildcard-other-type", allow("ecs:*", "acs:ecs:*:*:disk/*"), req(), IMPLICIT),
    row("resource-case-sensitive", allow("ecs:*", "acs:ecs:*:*:instance/I-ABC"), req(), IMPLICIT),
    row("resource-question-one-char", allow("ecs:*", "acs:ecs:*:*:instance/i-ab?"), req(), ALLOW),
    row("resource-question-exactly-one", allow("ecs:*", "acs:ecs:*:*:instance/i-a?"), req(), IMPLICIT),
    row("resource-list-any-matches",
        allow("ecs:*", ["acs:ecs:*:*:disk/*", "acs:ecs:*:*:instance/i-abc"]), req(), ALLOW),
    row("resource-ram-role-literal-star-region",
        allow("ram:PassRole", f"acs:ram:*:{ACCT}:role/ecs-admin"),
        req("ram:PassRole", f"acs:ram:*:{ACCT}:role/ecs-admin"), ALLOW),
    row("resource-ram-role-wildcard",
        allow("ram:*", f"acs:ram:*:{ACCT}:role/ecs-*"),
        req("ram:GetRole", f"acs:ram:*:{ACCT}:role/ecs-admin"), ALLOW),
    row("resource-ram-role-other-account",
        allow("ram:*", f"acs:ram:*:{ACCT}:role/*"),
        req("ram:GetRole", f"acs:ram:*:{OTHER}:role/ecs-admin"), IMPLICIT),
    row("notresource-allow-other", allow("ecs:*", None, NotResource="acs:ecs:*:*:instance/i-secret*"),
        req(), ALLOW),
    row("notresource-allow-excluded", allow("ecs:*", None, NotResource="acs:ecs:*:*:instance/i-secret*"),
        req(resource=f"acs:ecs:cn-hangzhou:{ACCT}:instance/i-secret1"), IMPLICIT),
    row("notresource-deny",
        [allow("*"), deny("ecs:*", None, NotResource=f"acs:ecs:cn-hangzhou:{ACCT}:*")],
        req(resource=f"acs:ecs:cn-beijing:{ACCT}:instance/i-abc"), DENY),
    row("raw-json-string-policy", json.dumps(allow("ecs:StopInstance")), req(), ALLOW),
    row("pre-parsed-policy", parse_policy(allow("ecs:StopInstance")), req(), ALLOW),
    row("session-policy-kind", parse_policy(deny("ecs:*"), kind="session"), req(), DENY),
]

CONDITION_CASES = [
    # StringEquals / StringNotEquals
    cond_row("string-equals-match", "StringEquals", "acs:SourceVpc", "vpc-1", {"acs:SourceVpc": "vpc-1"}, ALLOW),
    cond_row("string-equals-mismatch", "StringEquals", "acs:SourceVpc", "vpc-1", {"acs:SourceVpc": "vpc-2"},
             IMPLICIT),
    cond_row("string-equals-case-sensitive", "StringEquals", "acs:SourceVpc", "vpc-1", {"acs:SourceVpc": "VPC-1"},
             IMPLICIT),
    cond_row("string-equals-policy-values-ored", "StringEquals", "acs:SourceVpc", ["vpc-1", "vpc-2"],
             {"acs:SourceVpc": "vpc-2"}, ALLOW),
    cond_row("string-equals-missing-key", "StringEquals", "acs:SourceVpc", "vpc-1", {}, IMPLICIT),
    cond_row("condition-key-case-insensitive", "StringEquals", "acs:sourcevpc", "vpc-1",
             {"ACS:SourceVPC": "vpc-1"}, ALLOW),
    cond_row("string-equals-number-policy-value", "StringEquals", "ecs:Cores", 4, {"ecs:Cores": "4"}, ALLOW),
    cond_row("string-not-equals-different", "StringNotEquals", "acs:SourceVpc", "vpc-1",
             {"acs:SourceVpc": "vpc-2"}, ALLOW),
    cond_row("string-not-equals-same", "StringNotEquals", "acs:SourceVpc", "vpc-1", {"acs:SourceVpc": "vpc-1"},
             IMPLICIT),
    cond_row("string-not-equals-missing-key", "StringNotEquals", "acs:SourceVpc", "vpc-1", {}, IMPLICIT),
    cond_row("string-not-equals-any-policy-value", "StringNotEquals", "acs:SourceVpc", ["vpc-1", "vpc-2"],
             {"acs:SourceVpc": "vpc-2"}, IMPLICIT),
    # IgnoreCase
    cond_row("string-equals-ignore-case-match", "StringEqualsIgnoreCase", "ram:UserName", "Alice",
             {"ram:UserName": "aLICE"}, ALLOW),
    cond_row("string-equals-ignore-case-mismatch", "StringEqualsIgnoreCase", "ram:UserName", "Alice",
             {"ram:UserName": "bob"}, IMPLICIT),
    cond_row("string-not-equals-ignore-case-case-only", "StringNotEqualsIgnoreCase", "ram:UserName", "Alice",
             {"ram:UserName": "ALICE"}, IMPLICIT),
    cond_row("string-not-equals-ignore-case-different", "StringNotEqualsIgnoreCase", "ram:UserName", "Alice",
             {"ram:UserName": "bob"}, ALLOW),
    cond_row("string-not-equals-ignore-case-missing", "StringNotEqualsIgnoreCase", "ram:UserName", "Alice",
             {}, IMPLICIT),
    # Like
    cond_row("string-like-star", "StringLike", "oss:Prefix", "home/alice/*", {"oss:Prefix": "home/alice/docs"},
             ALLOW),
    cond_row("string-like-star-no-match", "StringLike", "oss:Prefix", "home/alice/*", {"oss:Prefix": "home/bob/"},
             IMPLICIT),
    cond_row("string-like-question", "StringLike", "oss:Prefix", "v?", {"oss:Prefix": "v2"}, ALLOW),
    cond_row("string-like-case-sensitive", "StringLike", "oss:Prefix", "Home/*", {"oss:Prefix": "home/x"},
             IMPLICIT),
    cond_row("string-like-empty-pattern-value", "StringLike", "oss:Prefix", ["", "home/*"], {"oss:Prefix": ""},
             ALLOW),
    cond_row("string-not-like-match", "StringNotLike", "oss:Prefix", "tmp/*", {"oss:Prefix": "tmp/x"}, IMPLICIT),
    cond_row("string-not-like-no-match", "StringNotLike", "oss:Prefix", "tmp/*", {"oss:Prefix": "home/x"}, ALLOW),
    cond_row("string-not-like-missing", "StringNotLike", "oss:Prefix", "tmp/*", {}, IMPLICIT),
    # Numeric
    cond_row("numeric-equals-string-vs-int", "NumericEquals", "ecs:Cores", "4", {"ecs:Cores": 4}, ALLOW),
    cond_row("numeric-equals-float", "NumericEquals", "ecs:Cores", 2.5, {"ecs:Cores": "2.5"}, ALLOW),
    cond_row("numeric-equals-mismatch", "NumericEquals", "ecs:Cores", 4, {"ecs:Cores": 8}, IMPLICIT),
    cond_row("numeric-not-equals-different", "NumericNotEquals", "ecs:Cores", 4, {"ecs:Cores": 8}, ALLOW),
    cond_row("numeric-not-equals-same", "NumericNotEquals", "ecs:Cores", 4, {"ecs:Cores": "4"}, IMPLICIT),
    cond_row("numeric-not-equals-missing", "NumericNotEquals", "ecs:Cores", 4, {}, IMPLICIT),
    cond_row("numeric-less-than-true", "NumericLessThan", "ecs:Cores", 8, {"ecs:Cores": 4}, ALLOW),
    cond_row("numeric-less-than-equal-is-false", "NumericLessThan", "ecs:Cores", 8, {"ecs:Cores": 8}, IMPLICIT),
    cond_row("numeric-less-than-equals-true", "NumericLessThanEquals", "ecs:Cores", 8, {"ecs:Cores": 8}, ALLOW),
    cond_row("numeric-less-than-equals-false", "NumericLessThanEquals", "ecs:Cores", 8, {"ecs:Cores": 9},
             IMPLICIT),
    cond_row("numeric-greater-than-true", "NumericGreaterThan", "ecs:Cores", 8, {"ecs:Cores": 16}, ALLOW),
    cond_row("numeric-greater-than-equal-is-false", "NumericGreaterThan", "ecs:Cores", 8, {"ecs:Cores": 8},
             IMPLICIT),
    cond_row("numeric-greater-than-equals-true", "NumericGreaterThanEquals", "ecs:Cores", 8, {"ecs:Cores": 8},
             ALLOW),
    cond_row("numeric-greater-than-equals-false", "NumericGreaterThanEquals", "ecs:Cores", 8, {"ecs:Cores": 7},
             IMPLICIT),
    cond_row("numeric-bad-context-value", "NumericLessThan", "ecs:Cores", 8, {"ecs:Cores": "many"}, IMPLICIT),
    cond_row("numeric-bool-context-value-is-bad", "NumericEquals", "ecs:Cores", 1, {"ecs:Cores": True}, IMPLICIT),
    # Date
    cond_row("date-equals-same-instant-different-offsets", "DateEquals", "acs:CurrentTime",
             "2019-08-12T17:00:00+08:00", {"acs:CurrentTime": "2019-08-12T09:00:00Z"}, ALLOW),
    cond_row("date-equals-mismatch", "DateEquals", "acs:CurrentTime", "2019-08-12T17:00:00+08:00",
             {"acs:CurrentTime": "2019-08-12T17:00:00Z"}, IMPLICIT),
    cond_row("date-not-equals-different", "DateNotEquals", "acs:CurrentTime", "2019-08-12T17:00:00+08:00",
             {"acs:CurrentTime": "2019-08-12T17:00:00Z"}, ALLOW),
    cond_row("date-not-equals-same-instant", "DateNotEquals", "acs:CurrentTime", "2019-08-12T17:00:00+08:00",
             {"acs:CurrentTime": "2019-08-12T09:00:00Z"}, IMPLICIT),
    cond_row("date-not-equals-missing", "DateNotEquals", "acs:CurrentTime", "2019-08-12T17:00:00Z", {}, IMPLICIT),
    cond_row("date-less-than-offset-aware", "DateLessThan", "acs:CurrentTime", "2019-08-12T17:00:00+08:00",
             {"acs:CurrentTime": "2019-08-12T08:59:59Z"}, ALLOW),
    cond_row("date-less-than-offset-aware-after", "DateLessThan", "acs:CurrentTime", "2019-08-12T17:00:00+08:00",
             {"acs:CurrentTime": "2019-08-12T10:00:00Z"}, IMPLICIT),
    cond_row("date-less-than-equals-at-instant", "DateLessThanEquals", "acs:CurrentTime", "2026-12-01T00:00:00Z",
             {"acs:CurrentTime": "2026-12-01T08:00:00+08:00"}, ALLOW),
    cond_row("date-less-than-equals-after", "DateLessThanEquals", "acs:CurrentTime", "2026-12-01T00:00:00Z",
             {"acs:CurrentTime": "2026-12-01T00:00:01Z"}, IMPLICIT),
    cond_row("date-greater-than-true", "DateGreaterThan", "acs:CurrentTime", "2026-12-01T00:00:00Z",
             {"acs:CurrentTime": "2026-12-01T00:00:01Z"}, ALLOW),
    cond_row("date-greater-than-equal-is-false", "DateGreaterThan", "acs:CurrentTime", "2026-12-01T00:00:00Z",
             {"acs:CurrentTime": "2026-12-01T00:00:00Z"}, IMPLICIT),
    cond_row("date-greater-than-equals-at-instant", "DateGreaterThanEquals", "acs:CurrentTime",
             "2026-12-01T00:00:00Z", {"acs:CurrentTime": "2026-12-01T00:00:00Z"}, ALLOW),
    cond_row("date-greater-than-equals-before", "DateGreaterThanEquals", "acs:CurrentTime",
             "2026-12-01T00:00:00Z", {"acs:CurrentTime": "2026-11-30T23:59:59Z"}, IMPLICIT),
    cond_row("date-context-aware-datetime", "DateGreaterThan", "acs:CurrentTime", "2026-12-01T00:00:00+08:00",
             {"acs:CurrentTime": datetime(2026, 11, 30, 16, 0, 1, tzinfo=timezone.utc)}, ALLOW),
    cond_row("date-context-datetime-other-zone", "DateEquals", "acs:CurrentTime", "2026-12-01T00:00:00Z",
             {"acs:CurrentTime": datetime(2026, 11, 30, 19, 0, tzinfo=timezone(timedelta(hours=-5)))}, ALLOW),
    cond_row("date-fractional-seconds", "DateLessThan", "acs:CurrentTime", "2026-12-01T00:00:00Z",
             {"acs:CurrentTime": "2026-11-30T23:59:59.999Z"}, ALLOW),
    cond_row("date-bad-context-value", "DateLessThan", "acs:CurrentTime", "2026-12-01T00:00:00Z",
             {"acs:CurrentTime": "yesterday"}, IMPLICIT),
    # Bool
    cond_row("bool-string-policy-bool-context", "Bool", "acs:MFAPresent", "true", {"acs:MFAPresent": True}, ALLOW),
    cond_row("bool-json-policy-string-context", "Bool", "acs:MFAPresent", True, {"acs:MFAPresent": "TRUE"}, ALLOW),
    cond_row("bool-policy-case-insensitive", "Bool", "acs:MFAPresent", "False", {"acs:MFAPresent": False}, ALLOW),
    cond_row("bool-mismatch", "Bool", "acs:MFAPresent", "true", {"acs:MFAPresent": False}, IMPLICIT),
    cond_row("bool-missing", "Bool", "acs:MFAPresent", "true", {}, IMPLICIT),
    cond_row("bool-bad-context-value", "Bool", "acs:MFAPresent", "true", {"acs:MFAPresent": "yes"}, IMPLICIT),
    # IP
    cond_row("ip-v4-cidr-inside", "IpAddress", "acs:SourceIp", "203.0.113.0/24", {"acs:SourceIp": "203.0.113.7"},
             ALLOW),
    cond_row("ip-v4-cidr-outside", "IpAddress", "acs:SourceIp", "203.0.113.0/24", {"acs:SourceIp": "198.51.100.7"},
             IMPLICIT),
    cond_row("ip-v4-single-address", "IpAddress", "acs:SourceIp", "203.0.113.7", {"acs:SourceIp": "203.0.113.7"},
             ALLOW),
    cond_row("ip-list-of-cidrs", "IpAddress", "acs:SourceIp", ["10.0.0.0/8", "203.0.113.0/24"],
             {"acs:SourceIp": "203.0.113.7"}, ALLOW),
    cond_row("ip-v6-cidr-inside", "IpAddress", "acs:SourceIp", "2001:db8::/32", {"acs:SourceIp": "2001:db8::1"},
             ALLOW),
    cond_row("ip-v6-cidr-outside", "IpAddress", "acs:SourceIp", "2001:db8::/32", {"acs:SourceIp": "2001:db9::1"},
             IMPLICIT),
    cond_row("ip-v4-request-v6-policy", "IpAddress", "acs:SourceIp", "2001:db8::/32",
             {"acs:SourceIp": "203.0.113.7"}, IMPLICIT),
    cond_row("ip-v4-mapped-v6-request", "IpAddress", "acs:SourceIp", "203.0.113.0/24",
             {"acs:SourceIp": "::ffff:203.0.113.7"}, ALLOW),
    cond_row("ip-bad-context-value", "IpAddress", "acs:SourceIp", "0.0.0.0/0", {"acs:SourceIp": "localhost"},
             IMPLICIT),
    cond_row("not-ip-outside", "NotIpAddress", "acs:SourceIp", "203.0.113.0/24", {"acs:SourceIp": "198.51.100.7"},
             ALLOW),
    cond_row("not-ip-inside", "NotIpAddress", "acs:SourceIp", "203.0.113.0/24", {"acs:SourceIp": "203.0.113.7"},
             IMPLICIT),
    cond_row("not-ip-missing", "NotIpAddress", "acs:SourceIp", "203.0.113.0/24", {}, IMPLICIT),
    cond_row("not-ip-bad-context-value", "NotIpAddress", "acs:SourceIp", "203.0.113.0/24",
             {"acs:SourceIp": "not-an-ip"}, IMPLICIT),
    # List context values
    cond_row("list-context-any-matches", "StringEquals", "acs:ResourceTag/env", "prod",
             {"acs:ResourceTag/env": ["dev", "prod"]}, ALLOW),
    cond_row("list-context-none-matches", "StringEquals", "acs:ResourceTag/env", "prod",
             {"acs:ResourceTag/env": ["dev", "test"]}, IMPLICIT),
    cond_row("list-context-negated-one-matches", "StringNotEquals", "acs:ResourceTag/env", "prod",
             {"acs:ResourceTag/env": ["dev", "prod"]}, IMPLICIT),
    cond_row("list-context-negated-none-matches", "StringNotEquals", "acs:ResourceTag/env", "prod",
             {"acs:ResourceTag/env": ["dev", "test"]}, ALLOW),
    cond_row("list-context-empty-is-missing", "StringNotEquals", "acs:ResourceTag/env", "prod",
             {"acs:ResourceTag/env": []}, IMPLICIT),
    cond_row("list-context-ips", "IpAddress", "acs:SourceIp", "10.0.0.0/8",
             {"acs:SourceIp": ["203.0.113.7", "10.1.2.3"]}, ALLOW),
    # Combining
    row("two-keys-one-operator-both-hold",
        allow(condition={"StringEquals": {"acs:SourceVpc": "vpc-1", "ram:UserName": "alice"}}),
        with_keys({"acs:SourceVpc": "vpc-1", "ram:UserName": "alice"}), ALLOW),
    row("two-keys-one-operator-one-fails",
        allow(condition={"StringEquals": {"acs:SourceVpc": "vpc-1", "ram:UserName": "alice"}}),
        with_keys({"acs:SourceVpc": "vpc-1", "ram:UserName": "bob"}), IMPLICIT),
    row("two-operators-and-ed",
        allow(condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}, "Bool": {"acs:SecureTransport": "true"}}),
        with_keys({"acs:SourceIp": "10.0.0.1", "acs:SecureTransport": False}), IMPLICIT),
]

WINDOW = {"DateGreaterThanEquals": {"acs:CurrentTime": "2026-12-01T00:00:00+08:00"},
          "DateLessThan": {"acs:CurrentTime": "2026-12-31T00:00:00+08:00"}}

REAL_WORLD_CASES = [
    row("time-window-inside", allow("ecs:*", condition=WINDOW),
        with_keys({"acs:CurrentTime": "2026-12-15T12:00:00Z"}), ALLOW),
    row("time-window-before-start", allow("ecs:*", condition=WINDOW),
        with_keys({"acs:CurrentTime": "2026-11-30T15:59:59Z"}), IMPLICIT),
    row("time-window-at-start-inclusive", allow("ecs:*", condition=WINDOW),
        with_keys({"acs:CurrentTime": "2026-11-30T16:00:00Z"}), ALLOW),
    row("time-window-at-end-exclusive", allow("ecs:*", condition=WINDOW),
        with_keys({"acs:CurrentTime": "2026-12-30T16:00:00Z"}), IMPLICIT),
    row("time-window-no-time-in-request", allow("ecs:*", condition=WINDOW), req(), IMPLICIT),
    row("mfa-required-deny-without-mfa",
        [allow("*"), deny("*", condition={"Bool": {"acs:MFAPresent": "false"}})],
        with_keys({"acs:MFAPresent": False}), DENY),
    row("mfa-required-allow-with-mfa",
        [allow("*"), deny("*", condition={"Bool": {"acs:MFAPresent": "false"}})],
        with_keys({"acs:MFAPresent": True}), ALLOW),
    row("mfa-allow-only-with-mfa-missing-key", allow("*", condition={"Bool": {"acs:MFAPresent": True}}),
        req(), IMPLICIT),
    row("secure-transport-deny-plain-http",
        [allow("*"), deny("*", condition={"Bool": {"acs:SecureTransport": "false"}})],
        with_keys({"acs:SecureTransport": False}), DENY),
    row("secure-transport-https-allowed",
        [allow("*"), deny("*", condition={"Bool": {"acs:SecureTransport": "false"}})],
        with_keys({"acs:SecureTransport": True}), ALLOW),
    row("deny-outside-office-ip",
        [allow("*"), deny("*", condition={"NotIpAddress": {"acs:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}})],
        with_keys({"acs:SourceIp": "198.51.100.1"}), DENY),
    row("deny-outside-office-ip-from-office-v6",
        [allow("*"), deny("*", condition={"NotIpAddress": {"acs:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}})],
        with_keys({"acs:SourceIp": "2001:db8:1::5"}), ALLOW),
    # "Deny everything but these without MFA": NotAction + Deny + a condition.
    row("notaction-deny-without-mfa-fires",
        [allow("*"), deny(None, NotAction=["ram:GetUser", "ram:ChangePassword"],
                          condition={"Bool": {"acs:MFAPresent": "false"}})],
        with_keys({"acs:MFAPresent": False}), DENY),
    row("notaction-deny-without-mfa-spares-listed-action",
        [allow("*"), deny(None, NotAction=["ram:GetUser", "ram:ChangePassword"],
                          condition={"Bool": {"acs:MFAPresent": "false"}})],
        with_keys({"acs:MFAPresent": False}, "RAM:getuser", f"acs:ram::{ACCT}:user/alice"), ALLOW),
    row("notaction-deny-with-mfa-does-not-fire",
        [allow("*"), deny(None, NotAction="ram:GetUser", condition={"Bool": {"acs:MFAPresent": "false"}})],
        with_keys({"acs:MFAPresent": True}), ALLOW),
    row("notaction-deny-missing-condition-key-does-not-fire",
        [allow("*"), deny(None, NotAction="ram:GetUser", condition={"Bool": {"acs:MFAPresent": "false"}})],
        req(), ALLOW),
    row("notaction-notresource-deny-fires-outside-both",
        [allow("*"), deny(None, None, NotAction="ecs:Describe*", NotResource="acs:ecs:*:*:instance/i-safe*")],
        req(), DENY),
    row("notaction-notresource-deny-spares-excluded-resource",
        [allow("*"), deny(None, None, NotAction="ecs:Describe*", NotResource="acs:ecs:*:*:instance/i-safe*")],
        req(resource=f"acs:ecs:cn-hangzhou:{ACCT}:instance/i-safe1"), ALLOW),
    row("notaction-notresource-deny-spares-excluded-action",
        [allow("*"), deny(None, None, NotAction="ecs:Describe*", NotResource="acs:ecs:*:*:instance/i-safe*")],
        req("ecs:DescribeInstances"), ALLOW),
    row("notaction-allow-does-not-grant-the-excluded-action-even-with-wildcard-case",
        allow(None, NotAction="ECS:STOP*"), req("ecs:stopinstance"), IMPLICIT),
    row("negated-deny-does-not-fire-on-missing-key",
        [allow("*"), deny("*", condition={"NotIpAddress": {"acs:SourceIp": "203.0.113.0/24"}})],
        req(), ALLOW),
]

IDENTITY_CASES = ACTION_AND_RESOURCE_CASES + CONDITION_CASES + REAL_WORLD_CASES


@pytest.mark.parametrize("policies, ctx, expected", IDENTITY_CASES)
def test_evaluate(policies, ctx, expected):
    assert evaluate(policies, ctx) is expected


# --------------------------------------------------------------------------- trust table


def trust(*principals_or_statements, condition=None, effect="Allow", action="sts:AssumeRole") -> dict:
    """Trust policy with one statement per Principal dict given."""
    statements = []
    for principal in principals_or_statements:
        s = {"Effect": effect, "Action": action, "Principal": principal}
        if condition is not None:
            s["Condition"] = condition
        statements.append(s)
    return pol(*statements)


ASSUME = RequestContext("sts:AssumeRole", f"acs:ram::{ACCT}:role/target")
ALICE = PrincipalRef("ram-user", ACCT, "alice")
ROLE_SESSION = PrincipalRef("assumed-role", ACCT, "ecs-admin")
ROOT = PrincipalRef("root", ACCT, None)
ECS_SERVICE = PrincipalRef("service", ACCT, "ecs.aliyuncs.com")
OTHER_ALICE = PrincipalRef("ram-user", OTHER, "alice")
ROOT_PRINCIPAL = {"RAM": f"acs:ram::{ACCT}:root"}
EXTERNAL_ID = {"StringEquals": {"sts:ExternalId": "b-7f3a9c"}}


def trow(case_id: str, policy, principal: PrincipalRef, expected: Decision, ctx: RequestContext = ASSUME):
    return pytest.param(policy, principal, ctx, expected, id=case_id)


TRUST_CASES = [
    trow("root-principal-matches-ram-user", trust(ROOT_PRINCIPAL), ALICE, ALLOW),
    trow("root-principal-matches-role-session", trust(ROOT_PRINCIPAL), ROLE_SESSION, ALLOW),
    trow("root-principal-not-other-account-user", trust(ROOT_PRINCIPAL), OTHER_ALICE, IMPLICIT),
    trow("root-principal-not-root-identity", trust(ROOT_PRINCIPAL), ROOT, IMPLICIT),
    trow("root-principal-not-service", trust(ROOT_PRINCIPAL), ECS_SERVICE, IMPLICIT),
    trow("root-principal-region-star", trust({"RAM": f"acs:ram:*:{ACCT}:root"}), ALICE, ALLOW),
    trow("bare-account-id-matches-user", trust({"RAM": ACCT}), ALICE, ALLOW),
    trow("bare-account-id-other-account", trust({"RAM": [OTHER]}), ALICE, IMPLICIT),
    trow("principal-list-any-matches", trust({"RAM": [f"acs:ram::{OTHER}:root", ACCT]}), ALICE, ALLOW),
    trow("user-principal-matches", trust({"RAM": f"acs:ram::{ACCT}:user/alice"}), ALICE, ALLOW),
    trow("user-principal-name-case-insensitive", trust({"RAM": f"acs:ram::{ACCT}:user/Alice"}), ALICE, ALLOW),
    trow("user-principal-other-user", trust({"RAM": f"acs:ram::{ACCT}:user/bob"}), ALICE, IMPLICIT),
    trow("user-principal-other-account", trust({"RAM": f"acs:ram::{ACCT}:user/alice"}), OTHER_ALICE, IMPLICIT),
    trow("user-principal-not-role-of-same-name", trust({"RAM": f"acs:ram::{ACCT}:user/ecs-admin"}),
         ROLE_SESSION, IMPLICIT),
    trow("user-principal-wildcard-name", trust({"RAM": f"acs:ram::{ACCT}:user/al*"}), ALICE, ALLOW),
    trow("role-principal-matches-session", trust({"RAM": f"acs:ram::{ACCT}:role/ecs-admin"}), ROLE_SESSION, ALLOW),
    trow("role-principal-case-insensitive", trust({"RAM": f"acs:ram::{ACCT}:role/ECS-Admin"}), ROLE_SESSION,
         ALLOW),
    trow("role-principal-not-user-of-same-name", trust({"RAM": f"acs:ram::{ACCT}:role/alice"}), ALICE, IMPLICIT),
    trow("role-principal-other-role", trust({"RAM": f"acs:ram::{ACCT}:role/other"}), ROLE_SESSION, IMPLICIT),
    trow("service-principal-matches", trust({"Service": "ecs.aliyuncs.com"}), ECS_SERVICE, ALLOW),
    trow("service-principal-any-account", trust({"Service": ["fc.aliyuncs.com", "ecs.aliyuncs.com"]}),
         PrincipalRef("service", OTHER, "ecs.aliyuncs.com"), ALLOW),
    trow("service-principal-other-service", trust({"Service": "fc.aliyuncs.com"}), ECS_SERVICE, IMPLICIT),
    trow("service-principal-not-ram-user", trust({"Service": "ecs.aliyuncs.com"}),
         PrincipalRef("ram-user", ACCT, "ecs.aliyuncs.com"), IMPLICIT),
    trow("service-principal-account-qualified", trust({"Service": f"{ACCT}@ecs.aliyuncs.com"}), ECS_SERVICE,
         ALLOW),
    trow("service-principal-account-qualified-other", trust({"Service": f"{OTHER}@ecs.aliyuncs.com"}),
         ECS_SERVICE, IMPLICIT),
    trow("ram-principal-does-not-match-service", trust({"RAM": "*"}), ECS_SERVICE, IMPLICIT),
    trow("wildcard-principal-any-account-user", trust({"RAM": "*"}), OTHER_ALICE, ALLOW),
    trow("wildcard-principal-any-role-session", trust({"RAM": "*"}), ROLE_SESSION, ALLOW),
    trow("wildcard-principal-still-not-root", trust({"RAM": "*"}), ROOT, IMPLICIT),
    trow("federated-principal-never-matches",
         trust({"Federated": f"acs:ram::{ACCT}:saml-provider/idp"}), ALICE, IMPLICIT),
    trow("mixed-principal-ram-and-service", trust({"RAM": ACCT, "Service": "ecs.aliyuncs.com"}), ECS_SERVICE,
         ALLOW),
    trow("trust-action-mismatch", trust(ROOT_PRINCIPAL), ALICE, IMPLICIT,
         RequestContext("sts:GetCallerIdentity", "*")),
    trow("trust-action-case-insensitive", trust(ROOT_PRINCIPAL, action="STS:assumerole"), ALICE, ALLOW),
    trow("trust-deny-statement-wins",
         pol({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": ROOT_PRINCIPAL},
             {"Effect": "Deny", "Action": "sts:*", "Principal": {"RAM": f"acs:ram::{ACCT}:user/alice"}}),
         ALICE, DENY),
    trow("trust-deny-statement-other-user-unaffected",
         pol({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": ROOT_PRINCIPAL},
             {"Effect": "Deny", "Action": "sts:*", "Principal": {"RAM": f"acs:ram::{ACCT}:user/mallory"}}),
         ALICE, ALLOW),
    trow("external-id-matches", trust({"RAM": OTHER}, condition=EXTERNAL_ID), OTHER_ALICE, ALLOW,
         with_keys({"sts:ExternalId": "b-7f3a9c"}, "sts:AssumeRole", "*")),
    trow("external-id-mismatch", trust({"RAM": OTHER}, condition=EXTERNAL_ID), OTHER_ALICE, IMPLICIT,
         with_keys({"sts:ExternalId": "wrong"}, "sts:AssumeRole", "*")),
    trow("external-id-missing", trust({"RAM": OTHER}, condition=EXTERNAL_ID), OTHER_ALICE, IMPLICIT),
    trow("trust-mfa-condition", trust(ROOT_PRINCIPAL, condition={"Bool": {"acs:MFAPresent": "true"}}), ALICE,
         ALLOW, with_keys({"acs:MFAPresent": True}, "sts:AssumeRole", "*")),
    trow("trust-mfa-condition-without-mfa", trust(ROOT_PRINCIPAL, condition={"Bool": {"acs:MFAPresent": "true"}}),
         ALICE, IMPLICIT, with_keys({"acs:MFAPresent": False}, "sts:AssumeRole", "*")),
    trow("trust-policy-as-json-text", json.dumps(trust(ROOT_PRINCIPAL)), ALICE, ALLOW),
    trow("trust-policy-pre-parsed", parse_policy(trust(ROOT_PRINCIPAL), kind="trust"), ROLE_SESSION, ALLOW),
]


@pytest.mark.parametrize("policy, principal, ctx, expected", TRUST_CASES)
def test_evaluate_trust(policy, principal, ctx, expected):
    assert evaluate_trust(policy, principal, ctx) is expected


def test_table_sizes():
    assert len(IDENTITY_CASES) + len(TRUST_CASES) >= 80
    ids = [p.id for p in IDENTITY_CASES + TRUST_CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"


# --------------------------------------------------------------------------- grammar

GOOD_STATEMENT = {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}
TRUST_STATEMENT = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ACCT}}


def with_statement(**changes) -> dict:
    s = dict(GOOD_STATEMENT)
    for key, value in changes.items():
        if value is None:
            s.pop(key, None)
        else:
            s[key] = value
    return pol(s)


def with_condition(condition) -> dict:
    return with_statement(Condition=condition)


GRAMMAR_ERRORS = [
    # (id, document, kind, expected message fragment)
    ("not-json", "{not json", "identity", "not valid JSON"),
    ("empty-text", "   ", "identity", "policy document is empty"),
    ("not-an-object", "[]", "identity", "must be a JSON object"),
    ("duplicate-key", '{"Version": "1", "Version": "1", "Statement": []}', "identity", "duplicate key 'Version'"),
    ("version-missing", {"Statement": [GOOD_STATEMENT]}, "identity", 'Version must be "1"'),
    ("version-wrong", {"Version": "2", "Statement": [GOOD_STATEMENT]}, "identity", 'Version must be "1"'),
    ("version-int", {"Version": 1, "Statement": [GOOD_STATEMENT]}, "identity", 'Version must be "1"'),
    ("unknown-top-level-key", {"Version": "1", "Statement": [GOOD_STATEMENT], "Id": "x"}, "identity",
     "unknown top-level key 'Id'"),
    ("statement-missing", {"Version": "1"}, "identity", "Statement is required"),
    ("statement-not-list", {"Version": "1", "Statement": GOOD_STATEMENT}, "identity",
     "Statement must be a list"),
    ("statement-empty", pol(), "identity", "Statement must not be an empty list"),
    ("statement-not-object", pol("Allow"), "identity", "Statement[0] must be an object"),
    ("unknown-statement-key", with_statement(Sid="s1"), "identity", "Statement[0]: unknown key 'Sid'"),
    ("lowercase-statement-key", pol({"effect": "Allow", "Action": "*", "Resource": "*"}), "identity",
     "unknown key 'effect'"),
    ("effect-missing", with_statement(Effect=None), "identity", "Statement[0].Effect is required"),
    ("effect-invalid-second-statement", pol(GOOD_STATEMENT, dict(GOOD_STATEMENT, Effect="allow")), "identity",
     "Statement[1].Effect must be Allow or Deny"),
    ("action-and-notaction", with_statement(NotAction="ram:*"), "identity", "exactly one of Action or NotAction"),
    ("action-missing", with_statement(Action=None), "identity", "Statement[0] must have exactly one of Action"),
    ("action-empty-list", with_statement(Action=[]), "identity", "Statement[0].Action must not be an empty list"),
    ("action-not-string", with_statement(Action=["ecs:*", 5]), "identity",
     "Statement[0].Action[1] must be a non-empty string"),
    ("action-empty-string", with_statement(Action=""), "identity", "Statement[0].Action must be a non-empty string"),
    ("action-without-service", with_statement(Action="StopInstance"), "identity", "invalid action 'StopInstance'"),
    ("resource-missing", with_statement(Resource=None), "identity",
     "Statement[0] must have exactly one of Resource or NotResource"),
    ("resource-and-notresource", with_statement(NotResource="*"), "session", "exactly one of Resource or NotResource"),
    ("resource-empty-list", with_statement(Resource=[]), "identity",
     "Statement[0].Resource must not be an empty list"),
    ("resource-not-acs", with_statement(Resource="arn:aws:s3:::bucket"), "identity", "invalid resource"),
    ("principal-in-identity", with_statement(Principal={"RAM": ACCT}), "identity",
     "Statement[0].Principal is only allowed in a trust policy"),
    ("principal-missing-in-trust", pol({"Effect": "Allow", "Action": "sts:AssumeRole"}), "trust",
     "Statement[0].Principal is required in a trust policy"),
    ("resource-in-trust", pol(dict(TRUST_STATEMENT, Resource="*")), "trust",
     "Statement[0].Resource is not allowed in a trust policy"),
    ("principal-unknown-type", pol(dict(TRUST_STATEMENT, Principal={"AWS": "*"})), "trust",
     "unknown principal type 'AWS'"),
    ("principal-not-object", pol(dict(TRUST_STATEMENT, Principal="*")), "trust",
     "Statement[0].Principal must be an object"),
    ("principal-empty-list", pol(dict(TRUST_STATEMENT, Principal={"RAM": []})), "trust",
     "Statement[0].Principal.RAM must not be an empty list"),
    ("principal-bad-ram-entry", pol(dict(TRUST_STATEMENT, Principal={"RAM": "alice"})), "trust",
     "Statement[0].Principal.RAM: invalid principal 'alice'"),
    ("condition-unknown-operator", with_condition({"StringEqualz": {"acs:SourceIp": "x"}}), "identity",
     "Statement[0].Condition: unknown operator 'StringEqualz'"),
    ("condition-ifexists-needs-base-operator", with_condition({"StringEqualzIfExists": {"a:b": "x"}}), "identity",
     "unknown operator 'StringEqualzIfExists'"),
    # RAM documents only YYYY-MM-DDThh:mm:ssZ and YYYY-MM-DDThh:mm:ss+hh:mm for date values.
    ("condition-date-only", with_condition({"DateLessThan": {"acs:CurrentTime": "2027-06-01"}}), "identity",
     "invalid date '2027-06-01' (expected YYYY-MM-DDThh:mm:ssZ"),
    ("condition-date-without-zone", with_condition({"DateLessThan": {"acs:CurrentTime": "2027-06-01T00:00:00"}}),
     "identity", "invalid date '2027-06-01T00:00:00'"),
    ("condition-date-space-separator", with_condition({"DateLessThan": {"acs:CurrentTime": "2027-06-01 00:00:00Z"}}),
     "identity", "invalid date '2027-06-01 00:00:00Z'"),
    ("condition-date-fraction", with_condition({"DateLessThan": {"acs:CurrentTime": "2027-06-01T00:00:00.5Z"}}),
     "identity", "invalid date"),
    ("condition-date-compact-offset", with_condition({"DateLessThan": {"acs:CurrentTime": "2027-06-01T00:00:00+0800"}}),
     "identity", "invalid date"),
    ("condition-date-ifexists-same-format", with_condition({"DateLessThanIfExists": {"acs:CurrentTime": "2027-06-01"}}),
     "identity", "invalid date '2027-06-01'"),
    ("condition-empty", with_condition({}), "identity", "Statement[0].Condition: must be a non-empty object"),
    ("condition-operator-not-object", with_condition({"StringEquals": "x"}), "identity",
     "StringEquals must be a non-empty object"),
    ("condition-empty-values", with_condition({"StringEquals": {"acs:SourceVpc": []}}), "identity",
     "value list must not be empty"),
    ("condition-null-value", with_condition({"StringEquals": {"acs:SourceVpc": None}}), "identity",
     "values must be scalars"),
    ("condition-bad-date", with_condition({"DateLessThan": {"acs:CurrentTime": "tomorrow"}}), "identity",
     "DateLessThan 'acs:CurrentTime': invalid date 'tomorrow'"),
    ("condition-bad-calendar-date", with_condition({"DateLessThan": {"acs:CurrentTime": "2026-02-30"}}),
     "identity", "invalid date '2026-02-30'"),
    ("condition-bad-number", with_condition({"NumericLessThan": {"ecs:Cores": "four"}}), "identity",
     "NumericLessThan 'ecs:Cores': invalid number 'four'"),
    ("condition-bool-number", with_condition({"NumericLessThan": {"ecs:Cores": True}}), "identity",
     "invalid number True"),
    ("condition-bad-cidr", with_condition({"IpAddress": {"acs:SourceIp": "10.0.0.0/33"}}), "identity",
     "invalid IP address or CIDR '10.0.0.0/33'"),
    ("condition-bad-ip", with_condition({"NotIpAddress": {"acs:SourceIp": "10.0.0.256"}}), "identity",
     "invalid IP address or CIDR"),
    ("condition-bad-bool", with_condition({"Bool": {"acs:MFAPresent": "yes"}}), "identity",
     "invalid boolean 'yes'"),
    ("too-long", json.dumps(pol(GOOD_STATEMENT)), "identity", "exceeding the limit of 10"),
]


@pytest.mark.parametrize("document, kind, fragment", [pytest.param(*e[1:], id=e[0]) for e in GRAMMAR_ERRORS])
def test_grammar_errors(document, kind, fragment):
    text = document if isinstance(document, str) else json.dumps(document)
    max_length = 10 if fragment.startswith("exceeding") else None
    with pytest.raises(PolicyGrammarError) as excinfo:
        validate_policy_document(text, kind=kind, max_length=max_length)
    assert fragment in str(excinfo.value)
    if max_length is None:  # parse_policy rejects the same documents
        with pytest.raises(PolicyGrammarError):
            parse_policy(document, kind=kind)


@pytest.mark.parametrize("document, kind", [
    pytest.param(pol(GOOD_STATEMENT), "identity", id="identity"),
    pytest.param(pol(GOOD_STATEMENT), "session", id="session"),
    pytest.param(pol(TRUST_STATEMENT), "trust", id="trust"),
    pytest.param(pol(dict(GOOD_STATEMENT, Action=["ecs:Describe*", "vpc:*"], Condition={
        "IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]},
        "DateLessThan": {"acs:CurrentTime": ["2026-12-01T00:00:00Z", "2019-08-12T17:00:00+08:00"]},
        "NotIpAddressIfExists": {"acs:SourceIp": "203.0.113.0/24"},
        "BoolIfExists": {"acs:MFAPresent": "false"},
        "NumericGreaterThan": {"ecs:Cores": ["1", 2, 2.5]},
        "Bool": {"acs:MFAPresent": [True, "FALSE"]},
    })), "identity", id="every-value-form"),
])
def test_valid_documents(document, kind):
    text = json.dumps(document)
    assert validate_policy_document(text, kind=kind, max_length=len(text)) == document
    assert isinstance(parse_policy(text, kind=kind), ParsedPolicy)


# --------------------------------------------------------------------------- API edges


@pytest.mark.parametrize("pattern, value, case_insensitive, expected", [
    ("*", "", False, True),
    ("a*c", "ac", False, True),
    ("a*c", "abbbc", False, True),
    ("a?c", "abc", False, True),
    ("a?c", "ac", False, False),
    ("a.c", "abc", False, False),  # regex metacharacters are literal
    ("A*", "abc", False, False),
    ("A*", "abc", True, True),
    ("abc", "ABC", True, True),
    ("line*", "line1\nline2", False, True),
])
def test_wildcard_match(pattern, value, case_insensitive, expected):
    assert wildcard_match(pattern, value, case_insensitive=case_insensitive) is expected


def test_evaluate_accepts_single_document_and_generator():
    assert evaluate(allow("ecs:*"), req()) is ALLOW
    assert evaluate(json.dumps(allow("ecs:*")), req()) is ALLOW
    assert evaluate((p for p in [allow("vpc:*"), deny("ecs:*")]), req()) is DENY


def test_evaluate_rejects_trust_policy_and_bad_documents():
    with pytest.raises(ValueError, match="evaluate_trust"):
        evaluate([parse_policy(pol(TRUST_STATEMENT), kind="trust")], req())
    with pytest.raises(PolicyGrammarError):
        evaluate([{"Version": "1", "Statement": []}], req())


def test_parse_policy_copies_dict_and_rejects_unknown_kind():
    document = allow("ecs:*")
    parsed = parse_policy(document)
    document["Statement"][0]["Effect"] = "Deny"  # caller mutates theirs afterwards
    assert evaluate([parsed], req()) is ALLOW
    with pytest.raises(ValueError, match="unknown policy kind"):
        parse_policy(document, kind="resource")


def test_principal_ref_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown principal kind"):
        PrincipalRef("user", ACCT, "alice")


def test_condition_value_lookup_is_case_insensitive():
    ctx = with_keys({"acs:SourceIp": "203.0.113.7"})
    assert ctx.condition_value("ACS:SOURCEIP") == "203.0.113.7"
    assert ctx.condition_value("acs:MFAPresent", "absent") == "absent"


def test_bad_context_values_never_raise():
    policy = parse_policy(allow(condition={
        "NumericLessThan": {"ecs:Cores": 4},
        "DateLessThan": {"acs:CurrentTime": "2026-01-01T00:00:00Z"},
        "IpAddress": {"acs:SourceIp": "10.0.0.0/8"},
        "Bool": {"acs:MFAPresent": "true"},
    }))
    for junk in (None, object(), {"a": 1}, float("nan"), b"10.0.0.1", ["10.0.0.1", None]):
        values = {"ecs:Cores": junk, "acs:CurrentTime": junk, "acs:SourceIp": junk, "acs:MFAPresent": junk}
        assert evaluate([policy], with_keys(values)) is IMPLICIT


# --------------------------------------------------------------------------- IfExists, missing keys


@pytest.mark.parametrize("operator, value, context, expected", [
    pytest.param("NotIpAddressIfExists", "203.0.113.0/24", {}, DENY, id="not-ip-ifexists-missing-key-fires"),
    pytest.param("NotIpAddressIfExists", "203.0.113.0/24", {"acs:SourceIp": "198.51.100.1"}, DENY,
                 id="not-ip-ifexists-outside-fires"),
    pytest.param("NotIpAddressIfExists", "203.0.113.0/24", {"acs:SourceIp": "203.0.113.9"}, ALLOW,
                 id="not-ip-ifexists-inside-spares"),
    pytest.param("BoolIfExists", "false", {}, DENY, id="bool-ifexists-missing-key-fires"),
    pytest.param("BoolIfExists", "false", {"acs:MFAPresent": True}, ALLOW, id="bool-ifexists-true-spares"),
    pytest.param("StringEqualsIfExists", "vpc-1", {}, DENY, id="string-ifexists-missing"),
    pytest.param("StringEqualsIfExists", "vpc-1", {"acs:SourceVpc": "vpc-2"}, ALLOW, id="string-ifexists-mismatch"),
    pytest.param("DateGreaterThanEqualsIfExists", "2026-12-01T00:00:00Z", {"acs:CurrentTime": "2027-01-01T00:00:00Z"},
                 DENY, id="date-ifexists-present"),
    pytest.param("NumericLessThanIfExists", 3, {}, DENY, id="numeric-ifexists-missing"),
    pytest.param("NotIpAddress", "203.0.113.0/24", {}, ALLOW, id="plain-not-ip-missing-key-does-not-fire"),
])
def test_if_exists_operators_in_a_deny(operator, value, context, expected):
    key = {"Not": "acs:SourceIp", "Boo": "acs:MFAPresent", "Str": "acs:SourceVpc", "Dat": "acs:CurrentTime",
           "Num": "ecs:Cores"}[operator[:3]]
    policies = [allow(), deny(condition={operator: {key: value}})]
    assert evaluate(policies, RequestContext("ecs:StopInstance", INSTANCE, context)) is expected


def test_negated_operator_on_a_missing_key_follows_the_fakes_option():
    policies = [allow(), deny(condition={"NotIpAddress": {"acs:SourceIp": "203.0.113.0/24"}})]
    assert evaluate(policies, RequestContext("ecs:StopInstance", INSTANCE, {})) is ALLOW
    assert evaluate(policies, RequestContext("ecs:StopInstance", INSTANCE, {}, negated_missing=True)) is DENY
    positive = [allow(condition={"IpAddress": {"acs:SourceIp": "203.0.113.0/24"}})]
    assert evaluate(positive, RequestContext("ecs:StopInstance", INSTANCE, {}, negated_missing=True)) is IMPLICIT
