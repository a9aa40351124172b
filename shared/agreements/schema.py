"""The published JSON Schema of an agreement file (`rolepact/v1`), and the limits it shares with `parse.py`.

The schema is for editors, CI linters and partners; `parse_agreement` is the authority. Both read
the patterns and limits below, so they cannot drift apart. The patterns are written in the subset
of regular expressions that ECMA 262 (JSON Schema) and Python agree on: explicit ASCII classes, no
`\\d`, `\\w`, `\\s` or `.`.

What a JSON Schema cannot express, and only `parse_agreement` checks:
- duplicate keys in a JSON object (a schema sees the object after the duplicate is gone);
- calendar validity of a date (2027-02-30) and `expiresAt` being after `startsAt`;
- two policies with the same type and name but different documents;
- the length of a Custom policy document as compact JSON (RAM's 6144 characters);
- that each of `sourceIpRanges` parses as an IP address or network, is not `/0`, and is not the
  same network as another entry written differently, and that together they cover at most a /8 of
  IPv4 (a /32 of IPv6);
- the length of the role's trust policy RAM would get (principals and conditions, 2048 characters);
- `partner.accountId` differing from `owner.accountId`;
- file-level limits: size, UTF-8, nesting depth, numbers too large to represent, lone surrogates.
"""
from __future__ import annotations

import json

from shared.agreements.model import API_VERSION, ON_EXPIRY_DELETE_ROLE, ON_EXPIRY_REMOVE_TRUST

# --------------------------------------------------------------------------- limits
MAX_PRINCIPALS = 20
MAX_CUSTOM_POLICIES = 9  # RAM attaches 10 custom policies per role; rolepact's guard policy is one
MAX_SYSTEM_POLICIES = 20
MAX_POLICY_DOCUMENT_CHARS = 6144
MAX_ROLE_DESCRIPTION_CHARS = 900
MIN_SESSION_SECONDS = 3600
MAX_SESSION_SECONDS = 43200
DEFAULT_SESSION_SECONDS = 3600
MAX_IP_RANGES = 20
MIN_EXTERNAL_ID_CHARS = 8  # RAM accepts 2; a guessable ExternalId protects nothing
# sourceIpRanges together may cover at most this many addresses: a /8 of IPv4, a /32 of IPv6.
# More is (nearly) "from anywhere" and is refused; omit sourceIpRanges to say that on purpose.
MAX_IPV4_ADDRESSES = 2 ** 24
MAX_IPV6_ADDRESSES = 2 ** 96
# One refusal reports at most this many problems (a hostile 64 KiB file could have thousands).
MAX_PROBLEMS = 50
MAX_PROBLEM_CHARS = 400

POLICY_TYPES = ("System", "Custom")
EFFECTS = ("Allow", "Deny")
ON_EXPIRY_CHOICES = (ON_EXPIRY_DELETE_ROLE, ON_EXPIRY_REMOVE_TRUST)
CONDITION_OPERATORS = (
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike",
    "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEquals",
    "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
    "DateGreaterThan", "DateGreaterThanEquals",
    "Bool", "IpAddress", "NotIpAddress",
)
# RAM documents the `...IfExists` variants (true when the request lacks the key).
CONDITION_OPERATORS = CONDITION_OPERATORS + tuple(f"{name}IfExists" for name in CONDITION_OPERATORS)

# --------------------------------------------------------------------------- patterns
AGREEMENT_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$"
ACCOUNT_ID_PATTERN = r"^[0-9]{16}$"
ALIAS_PATTERN = r"^[a-z0-9-]{1,64}$"
PRINCIPAL_PATTERN = r"^(?:root|user/[A-Za-z0-9._@-]{1,64}|role/[A-Za-z0-9.-]{1,64})$"
ROLE_NAME_PATTERN = r"^[A-Za-z0-9.-]{1,64}$"
# Reserved role names: every service role and service-linked role Alibaba Cloud creates is named Aliyun...
# (AliyunServiceRoleFor*, AliyunFCDefaultRole, aliyunosseventnotificationrole, AliyunMNSNotificationRole, ...),
# and rolepact's own roles are rolepact-*. RAM role names are case-insensitive, and so is this pattern.
RESERVED_ROLE_NAME_PATTERN = r"^(?:[Aa][Ll][Ii][Yy][Uu][Nn]|[Rr][Oo][Ll][Ee][Pp][Aa][Cc][Tt]-)[A-Za-z0-9.-]*$"
SYSTEM_POLICY_NAME_PATTERN = r"^[A-Za-z0-9-]{1,128}$"
CUSTOM_POLICY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
ACTION_PATTERN = r"^(?:\*|[A-Za-z0-9_.*?-]+:[A-Za-z0-9_.*?-]+)$"
RESOURCE_PATTERN = r"^(?:\*|acs:[^\n]*)$"
CONDITION_KEY_PATTERN = r"^[A-Za-z0-9_.-]+:[!-~]+$"
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]{8,1224}$"
IP_RANGE_PATTERN = r"^[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?$"
_DATE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_ZONE = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DATE_TIME_PATTERN = f"^{_DATE}T{_TIME}{_ZONE}$"
# What RAM documents for Date* condition values: YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DDThh:mm:ss+hh:mm
# (no date-only value, no missing zone, no fraction) -- refused up front, not by CreatePolicy mid-way.
POLICY_DATE_PATTERN = f"^{_DATE}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]{_ZONE}$"


# The seed agreement: Enterprise B's account may operate A's ECS for six months.
EXAMPLE_AGREEMENT = {
    "apiVersion": API_VERSION,
    "agreementId": "company-b-ecs-admin",
    "owner": {"accountId": "1234567890123456", "alias": "company-a"},
    "partner": {"accountId": "1345678901234567", "alias": "company-b", "principals": ["root"]},
    "role": {"name": "ecs-admin", "description": "ECS operations by company-b", "maxSessionDurationSeconds": 3600},
    "policies": [
        {"type": "System", "name": "AliyunECSFullAccess"},
        {"type": "Custom", "name": "ecs-restart-web", "document": {"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:RebootInstance", "ecs:StartInstance", "ecs:StopInstance"],
             "Resource": "acs:ecs:*:1234567890123456:instance/*"}]}},
    ],
    "startsAt": "2026-12-01T00:00:00Z",
    "expiresAt": "2027-06-01T00:00:00Z",
    "onExpiry": ON_EXPIRY_DELETE_ROLE,
    "conditions": {"externalId": "b-7f3a9c", "requireMfa": False, "sourceIpRanges": ["203.0.113.0/24"]},
}


def _string(pattern: str, description: str) -> dict:
    return {"type": "string", "pattern": pattern, "description": description}


def _one_or_many(ref: str, description: str) -> dict:
    """RAM accepts a single string or a non-empty list wherever it accepts a list."""
    return {"description": description,
            "anyOf": [{"$ref": ref}, {"type": "array", "minItems": 1, "items": {"$ref": ref}}]}


def _at_most(policy_type: str, limit: int) -> dict:
    return {"contains": {"type": "object", "properties": {"type": {"const": policy_type}}, "required": ["type"]},
            "minContains": 0, "maxContains": limit}


def _when_type(policy_type: str, then: dict) -> dict:
    return {"if": {"properties": {"type": {"const": policy_type}}, "required": ["type"]}, "then": then}


_DEFS = {
    "party": {
        "type": "object",
        "additionalProperties": False,
        "required": ["accountId"],
        "properties": {
            "accountId": _string(ACCOUNT_ID_PATTERN, "16-digit Alibaba Cloud account id."),
            "alias": _string(ALIAS_PATTERN, "Account alias (1-64 lowercase letters, digits, '-'), for "
                                            "messages and the partner's console sign-in steps."),
        },
    },
    "policy": {
        "type": "object",
        "description": "A permission policy to attach to the role.",
        "additionalProperties": False,
        "required": ["type", "name"],
        "properties": {
            "type": {"enum": list(POLICY_TYPES),
                     "description": "System: an Alibaba Cloud policy by name. Custom: a policy rolepact "
                                    "creates from `document`."},
            "name": {"type": "string",
                     "description": "System: the policy name, e.g. AliyunECSFullAccess (1-128 letters, "
                                    "digits, '-'). Custom: a short name (1-64 letters, digits, '-', starting "
                                    "with a letter or digit) that rolepact prefixes with the agreement id."},
            "document": {"$ref": "#/$defs/policyDocument"},
        },
        "allOf": [
            _when_type("System", {"properties": {"name": {"pattern": SYSTEM_POLICY_NAME_PATTERN},
                                                 "document": False}}),
            _when_type("Custom", {"properties": {"name": {"pattern": CUSTOM_POLICY_NAME_PATTERN}},
                                  "required": ["document"]}),
        ],
    },
    "policyDocument": {
        "type": "object",
        "description": "A RAM permission policy (Custom policies only). At most "
                       f"{MAX_POLICY_DOCUMENT_CHARS} characters as compact JSON.",
        "additionalProperties": False,
        "required": ["Version", "Statement"],
        "properties": {
            "Version": {"const": "1", "description": "The RAM policy language version; always \"1\"."},
            "Statement": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/statement"},
                          "description": "The policy's statements."},
        },
    },
    "statement": {
        "type": "object",
        "description": "One statement: exactly one of Action/NotAction and of Resource/NotResource. "
                       "No Principal: the partner's principals are in partner.principals.",
        "additionalProperties": False,
        "required": ["Effect"],
        "properties": {
            "Effect": {"enum": list(EFFECTS), "description": "Allow or Deny."},
            "Action": _one_or_many("#/$defs/action", "Actions the statement applies to."),
            "NotAction": _one_or_many("#/$defs/action", "Every action except these."),
            "Resource": _one_or_many("#/$defs/resource", "Resources the statement applies to."),
            "NotResource": _one_or_many("#/$defs/resource", "Every resource except these."),
            "Condition": {"$ref": "#/$defs/condition"},
        },
        "allOf": [
            {"oneOf": [{"required": ["Action"]}, {"required": ["NotAction"]}]},
            {"oneOf": [{"required": ["Resource"]}, {"required": ["NotResource"]}]},
        ],
    },
    "action": _string(ACTION_PATTERN, "'*' or 'service:Action', with * and ? wildcards, e.g. 'ecs:Describe*'."),
    "resource": _string(RESOURCE_PATTERN, "'*' or an ARN starting with 'acs:', with * and ? wildcards."),
    "condition": {
        "type": "object",
        "description": "{Operator: {ConditionKey: value or [values]}}; operators are AND-ed.",
        "minProperties": 1,
        "propertyNames": {"enum": list(CONDITION_OPERATORS)},
        "patternProperties": {"^Date": {
            "type": "object",
            "description": "Date operators compare with YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DDThh:mm:ss+hh:mm.",
            "minProperties": 1,
            "propertyNames": {"pattern": CONDITION_KEY_PATTERN},
            "additionalProperties": _one_or_many("#/$defs/policyDate", "A date or a list of dates (OR-ed)."),
        }},
        "additionalProperties": {
            "type": "object",
            "description": "Condition keys (e.g. acs:SourceIp) and the values they are compared with.",
            "minProperties": 1,
            "propertyNames": {"pattern": CONDITION_KEY_PATTERN},
            "additionalProperties": _one_or_many("#/$defs/conditionValue", "A value or a list of values (OR-ed)."),
        },
    },
    "conditionValue": {"type": ["string", "number", "boolean"], "description": "A condition value."},
    "policyDate": _string(POLICY_DATE_PATTERN, "A date condition value as RAM documents it, e.g. "
                                               "2027-06-01T00:00:00Z or 2027-06-01T08:00:00+08:00."),
    "dateTime": _string(DATE_TIME_PATTERN, "ISO 8601 date-time with 'Z' or an explicit offset, e.g. "
                                           "2027-06-01T00:00:00Z or 2027-06-01T08:00:00+08:00."),
}

AGREEMENT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:rolepact:schema:agreement:v1",
    "title": f"rolepact agreement ({API_VERSION})",
    "description": "Grants principals of a partner account a RAM role in the owner account for a limited "
                   "time. Drop it under agreements/ (name ending .json) in rolepact's bucket.",
    "$comment": "Also checked by rolepact but not expressible here: duplicate keys, real calendar dates, "
                "expiresAt after startsAt, unique (type, name) of policies, policy document length, "
                "valid and non-/0 IP ranges covering at most a /8, the trust policy's length, partner "
                "differing from owner, file size and nesting.",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "agreementId", "owner", "partner", "role", "policies", "expiresAt"],
    "properties": {
        "apiVersion": {"const": API_VERSION, "description": f"File format version; always \"{API_VERSION}\"."},
        "agreementId": _string(AGREEMENT_ID_PATTERN,
                               "Stable id of the agreement (3-64 lowercase letters, digits, '-', starting and "
                               "ending with a letter or digit). Edit the same file to amend or extend it."),
        "owner": {"$ref": "#/$defs/party", "description": "The account that grants access (where rolepact runs)."},
        "partner": {
            "type": "object",
            "description": "The account that receives access.",
            "additionalProperties": False,
            "required": ["accountId", "principals"],
            "properties": {
                "accountId": _string(ACCOUNT_ID_PATTERN, "16-digit Alibaba Cloud account id of the partner."),
                "alias": _string(ALIAS_PATTERN, "Partner alias (1-64 lowercase letters, digits, '-')."),
                "principals": {
                    "type": "array",
                    "description": "Who in the partner account may assume the role: 'root' (any RAM user or "
                                   "role the partner allows), 'user/<name>' or 'role/<name>'.",
                    "minItems": 1,
                    "maxItems": MAX_PRINCIPALS,
                    "uniqueItems": True,
                    "items": _string(PRINCIPAL_PATTERN, "'root', 'user/<RAM user name>' or 'role/<RAM role name>' "
                                                        "of the partner account."),
                },
            },
        },
        "role": {
            "type": "object",
            "description": "The RAM role rolepact creates in the owner account.",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {**_string(ROLE_NAME_PATTERN, "Role name (1-64 letters, digits, '.', '-'); names "
                                                      "starting with 'Aliyun' or 'rolepact-' (any case) are "
                                                      "reserved."),
                         "not": {"pattern": RESERVED_ROLE_NAME_PATTERN}},
                "description": {"type": "string", "maxLength": MAX_ROLE_DESCRIPTION_CHARS,
                                "description": "Role description (default empty); rolepact appends its marker."},
                "maxSessionDurationSeconds": {
                    "type": "integer", "minimum": MIN_SESSION_SECONDS, "maximum": MAX_SESSION_SECONDS,
                    "default": DEFAULT_SESSION_SECONDS,
                    "description": "Longest STS session the partner can request, in seconds."},
            },
        },
        "policies": {
            "type": "array",
            "description": f"What the role may do: at most {MAX_SYSTEM_POLICIES} System and "
                           f"{MAX_CUSTOM_POLICIES} Custom policies.",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"$ref": "#/$defs/policy"},
            "allOf": [_at_most("Custom", MAX_CUSTOM_POLICIES), _at_most("System", MAX_SYSTEM_POLICIES)],
        },
        "startsAt": {"$ref": "#/$defs/dateTime",
                     "description": "When access begins; omit to begin when rolepact first applies the file."},
        "expiresAt": {"$ref": "#/$defs/dateTime",
                      "description": "When access ends; enforced by RAM itself to the second."},
        "onExpiry": {"enum": list(ON_EXPIRY_CHOICES), "default": ON_EXPIRY_DELETE_ROLE,
                     "description": "At the end: delete-role (detach everything, delete the role and its custom "
                                    "policies) or remove-trust (keep the role, remove the partner and permissions)."},
        "conditions": {
            "type": "object",
            "description": "Conditions on the partner's access: externalId in the trust policy; the source "
                           "addresses and MFA in the guard policy. requireMfa cannot be combined with externalId "
                           "(MFA needs the console, whose Switch Role cannot pass an ExternalId).",
            "additionalProperties": False,
            "not": {"required": ["externalId", "requireMfa"], "properties": {"requireMfa": {"const": True}}},
            "properties": {
                "externalId": _string(EXTERNAL_ID_PATTERN, "ExternalId the partner must pass to AssumeRole "
                                                           "(8-1224 characters: letters, digits, _+=,.@:/-)."),
                "requireMfa": {"type": "boolean", "default": False,
                               "description": "Require a console session signed in with MFA (then the console's "
                                              "Switch Role is the only way in; not with externalId)."},
                "sourceIpRanges": {
                    "type": "array",
                    "description": "Public addresses the partner's calls must come from (calls through VPC "
                                   "endpoints are denied); omit to allow any.",
                    "minItems": 1,
                    "maxItems": MAX_IP_RANGES,
                    "uniqueItems": True,
                    "items": _string(IP_RANGE_PATTERN, "IPv4/IPv6 address or CIDR range, e.g. 203.0.113.0/24."),
                },
            },
        },
    },
    "$defs": _DEFS,
    "examples": [EXAMPLE_AGREEMENT],
}


def schema_json() -> str:
    """The schema as pretty JSON, as `rolepact schema` prints it."""
    return json.dumps(AGREEMENT_SCHEMA, indent=2, ensure_ascii=False)
