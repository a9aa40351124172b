"""parse_agreement: the seed, every refusal with its exact path, and fuzzing that it only ever refuses politely.

Bad-input rows read: id, the change to the seed (or the raw file), the expected path, a fragment of
the message. The mutation strategy at the bottom is shared with test_schema.py.
"""
from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.agreements import schema as S
from shared.agreements.model import AccessConditions, Agreement, Party, PolicyGrant
from shared.agreements.parse import FILE, parse_agreement, read_agreement_id
from shared.errors import AgreementRejected, Problem

SEED = S.EXAMPLE_AGREEMENT
KEY = "agreements/company-b.json"
OWNER, PARTNER, OTHER = "1234567890123456", "1345678901234567", "1999999999999999"
DELETE = object()  # as a value in edit(): remove the field
UTC = timezone.utc


def dump(doc: object) -> bytes:
    return json.dumps(doc).encode()


def _steps(path: str) -> list[str | int]:
    """`policies[1].document` -> ["policies", 1, "document"]."""
    return [int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]


def edit(changes: dict[str, object], base: dict = SEED) -> dict:
    """A deep copy of `base` with each path set to its value (DELETE removes; index len(list) appends)."""
    doc = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = _steps(path)
        target = doc
        for step in parents:
            target = target[step]
        if value is DELETE:
            del target[last]
        elif isinstance(target, list) and last == len(target):
            target.append(value)
        else:
            target[last] = value
    return doc


def problems_of(raw: bytes, **kwargs) -> list[Problem]:
    with pytest.raises(AgreementRejected) as caught:
        parse_agreement(raw, key=KEY, **kwargs)
    assert caught.value.reason == "invalid"
    assert caught.value.problems, "a rejection must say why"
    return caught.value.problems


def custom(name: str, *statements: dict) -> dict:
    return {"type": "Custom", "name": name, "document": {"Version": "1", "Statement": list(statements)}}


def statement(**fields) -> dict:
    return {"Effect": "Allow", "Action": "ecs:StartInstance", "Resource": "*", **fields}


STATEMENT0 = "policies[1].document.Statement[0]"
MINIMAL = {
    "apiVersion": "rolepact/v1", "agreementId": "b-readonly",
    "owner": {"accountId": OWNER}, "partner": {"accountId": PARTNER, "principals": ["user/alice"]},
    "role": {"name": "readonly"}, "policies": [{"type": "System", "name": "AliyunECSReadOnlyAccess"}],
    "expiresAt": "2027-01-01T00:00:00Z",
}
RICH = edit({
    "partner.principals": ["user/alice@example", "role/ops.team", "root"],
    "policies": [
        {"type": "System", "name": "AliyunECSReadOnlyAccess"},
        custom("deny-deletes", {"Effect": "Deny", "NotAction": ["ecs:Describe*", "ecs:List*"],
                                "NotResource": "acs:ecs:*:*:instance/i-keep",
                                "Condition": {"Bool": {"acs:MFAPresent": False},
                                              "IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.0.2.1"]},
                                              "NumericLessThan": {"ecs:Count": 5}}}),
    ],
    "startsAt": "2026-12-01T08:00:00+08:00", "expiresAt": "2027-03-01T00:00:00.5-05:30",
    "onExpiry": "remove-trust",
    "conditions": {"requireMfa": True, "sourceIpRanges": ["2001:db8::/32", "198.51.100.7"]},
})
VALID_DOCS = (SEED, MINIMAL, RICH)


# =========================================================================================== accepted
def test_seed_parses_to_the_expected_model():
    raw = dump(SEED)
    assert parse_agreement(raw, key=KEY) == Agreement(
        agreement_id="company-b-ecs-admin",
        owner=Party(OWNER, "company-a"),
        partner=Party(PARTNER, "company-b"),
        principals=("root",),
        role_name="ecs-admin",
        role_description="ECS operations by company-b",
        max_session_duration=3600,
        policies=(PolicyGrant("System", "AliyunECSFullAccess"),
                  PolicyGrant("Custom", "ecs-restart-web", SEED["policies"][1]["document"])),
        starts_at=datetime(2026, 12, 1, tzinfo=UTC),
        expires_at=datetime(2027, 6, 1, tzinfo=UTC),
        on_expiry="delete-role",
        conditions=AccessConditions("b-7f3a9c", False, ("203.0.113.0/24",)),
        source_key=KEY,
        digest=hashlib.sha256(raw).hexdigest(),
    )


def test_optional_fields_take_their_defaults():
    agreement = parse_agreement(dump(MINIMAL), key=KEY)
    assert (agreement.starts_at, agreement.on_expiry, agreement.conditions) == (None, "delete-role", AccessConditions())
    assert (agreement.role_description, agreement.max_session_duration) == ("", 3600)
    assert agreement.owner.alias is None and agreement.partner.display == PARTNER


def test_rich_file_keeps_order_and_normalizes_times_and_ranges():
    agreement = parse_agreement(dump(RICH), key=KEY)
    assert agreement.principals == ("user/alice@example", "role/ops.team", "root")
    assert [p.name for p in agreement.policies] == ["AliyunECSReadOnlyAccess", "deny-deletes"]
    assert agreement.starts_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert agreement.expires_at == datetime(2027, 3, 1, 5, 30, 0, tzinfo=UTC)  # rounded down to the second
    assert agreement.starts_at.tzinfo is UTC and agreement.expires_at.tzinfo is UTC
    assert agreement.conditions == AccessConditions(None, True, ("2001:db8::/32", "198.51.100.7/32"))
    assert agreement.on_expiry == "remove-trust"


EDGE_VALUES = [
    ("session-float", {"role.maxSessionDurationSeconds": 3600.0}, "max_session_duration", 3600),  # JSON Schema's integer
    ("session-max", {"role.maxSessionDurationSeconds": 43200}, "max_session_duration", 43200),
    ("description-900", {"role.description": "x" * 900}, "role_description", "x" * 900),
    ("id-64", {"agreementId": "a" * 64}, "agreement_id", "a" * 64),
    ("no-start", {"startsAt": DELETE}, "starts_at", None),
    ("offset", {"expiresAt": "2027-06-01T08:00:00+08:00"}, "expires_at", datetime(2027, 6, 1, tzinfo=UTC)),
    ("role-name-64", {"partner.principals": ["role/" + "r" * 64]}, "principals", ("role/" + "r" * 64,)),
    ("empty-conditions", {"conditions": {}}, "conditions", AccessConditions()),
]


@pytest.mark.parametrize("changes, attribute, expected", [case[1:] for case in EDGE_VALUES],
                         ids=[case[0] for case in EDGE_VALUES])
def test_accepted_edge_values(changes, attribute, expected):
    assert getattr(parse_agreement(dump(edit(changes)), key=KEY), attribute) == expected


def test_byte_order_mark_is_tolerated_and_digest_covers_the_raw_bytes():
    raw = b"\xef\xbb\xbf" + dump(SEED)
    assert parse_agreement(raw, key=KEY).digest == hashlib.sha256(raw).hexdigest()


# =========================================================================================== refused
TOO_LONG_DOCUMENT = custom("big", statement(Action=[f"ecs:Action{i:04d}" for i in range(400)]))
TEN_CUSTOM = [custom(f"c{i}", statement()) for i in range(10)]

FILE_CASES = [
    ("oversize", b" " * 65537, FILE, "is 65537 bytes; at most 65536 bytes are allowed"),
    ("not-utf8", b'{"agreementId": "\xff"}', FILE, "is not UTF-8 text (byte 0xff at offset 17)"),
    ("empty", b"", FILE, "is empty"),
    ("blank", b" \n\t", FILE, "is empty"),
    ("syntax", b'{\n  "apiVersion": "rolepact/v1",\n  "agreementId" "x"\n}', FILE,
     "is not valid JSON: Expecting ':' delimiter at line 3, column 17"),
    ("trailing-comma", b'{"apiVersion": "rolepact/v1",}', FILE, "is not valid JSON: Expecting property name"),
    ("top-level-list", b"[]", FILE, "must be a JSON object, not a list"),
    ("top-level-string", b'"rolepact/v1"', FILE, "must be a JSON object, not a string"),
    ("nan", b'{"x": NaN}', FILE, "NaN is not a JSON number"),
    ("infinity", b'{"x": -Infinity}', FILE, "-Infinity is not a JSON number"),
    ("huge-integer", b'{"x": ' + b"9" * 5000 + b"}", FILE, "has a number with too many digits"),
    ("deep-lists", b"[" * 30000 + b"]" * 30000, FILE, "is nested too deeply"),
    ("deep-objects", b'{"a":' * 40 + b"1" + b"}" * 40, FILE, "is nested too deeply (more than 32 levels)"),
    ("duplicate-key", dump(SEED).replace(b'"name": "ecs-admin"', b'"name": "a", "name": "ecs-admin"'),
     "role.name", "duplicate key 'name': JSON would silently keep only the last one"),
    ("overflowing-number", dump(SEED).replace(b'"maxSessionDurationSeconds": 3600', b'"x": 1e999'),
     "role.x", "unknown field 'x'"),
    ("overflowing-number-itself", dump(SEED).replace(b'"maxSessionDurationSeconds": 3600',
                                                     b'"maxSessionDurationSeconds": 1e999'),
     "role.maxSessionDurationSeconds", "is a number too large to represent"),
    ("lone-surrogate", dump(SEED).replace(b'"ECS operations by company-b"', b'"\\ud800"'),
     "role.description", "unpaired surrogate"),
]

FIELD_CASES = [
    # --- top level
    ("unknown-top", {"polices": []}, "polices", "unknown field 'polices' (did you mean 'policies'?)"),
    ("unknown-top-no-hint", {"zzz": 1}, "zzz", "unknown field 'zzz'; expected one of: apiVersion"),
    ("unknown-odd-key", {"x y": 1}, '["x y"]', "unknown field 'x y'"),
    ("api-missing", {"apiVersion": DELETE}, "apiVersion", "is required"),
    ("api-wrong", {"apiVersion": "rolepact/v2"}, "apiVersion", "must be 'rolepact/v1' (got 'rolepact/v2')"),
    ("api-number", {"apiVersion": 1}, "apiVersion", "must be 'rolepact/v1' (got 1)"),
    ("id-upper", {"agreementId": "Company-B"}, "agreementId", "must be 3-64 lowercase letters, digits or '-'"),
    ("id-short", {"agreementId": "ab"}, "agreementId", "must be 3-64"),
    ("id-long", {"agreementId": "a" * 65}, "agreementId", "must be 3-64"),
    ("id-hyphen-end", {"agreementId": "abc-"}, "agreementId", "starting and ending with a letter or digit"),
    ("id-newline", {"agreementId": "abc\n"}, "agreementId", "must be 3-64"),
    ("id-traversal", {"agreementId": "../status/x"}, "agreementId", "must be 3-64"),
    ("id-null", {"agreementId": None}, "agreementId", "must be a string, not null"),
    # --- parties
    ("owner-15-digits", {"owner.accountId": "123456789012345"}, "owner.accountId",
     "must be a 16-digit Alibaba Cloud account id"),
    ("owner-number", {"owner.accountId": 1234567890123456}, "owner.accountId", "must be a string, not a number"),
    ("owner-unicode-digits", {"owner.accountId": "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦"}, "owner.accountId", "16-digit"),
    ("owner-missing", {"owner": DELETE}, "owner", "is required"),
    ("owner-list", {"owner": [OWNER]}, "owner", "must be an object, not a list"),
    ("owner-alias-upper", {"owner.alias": "Company-A"}, "owner.alias", "must be 1-64 lowercase letters"),
    ("owner-alias-null", {"owner.alias": None}, "owner.alias", "must be a string, not null"),
    ("owner-unknown", {"owner.aliass": "a"}, "owner.aliass", "unknown field 'aliass' (did you mean 'alias'?)"),
    ("owner-principals", {"owner.principals": ["root"]}, "owner.principals", "unknown field 'principals'"),
    ("partner-is-owner", {"partner.accountId": OWNER}, "partner.accountId", "must differ from owner.accountId"),
    ("partner-account-missing", {"partner.accountId": DELETE}, "partner.accountId", "is required"),
    # --- principals
    ("principals-missing", {"partner.principals": DELETE}, "partner.principals", "is required"),
    ("principals-string", {"partner.principals": "root"}, "partner.principals", "must be a list such as [\"root\"]"),
    ("principals-empty", {"partner.principals": []}, "partner.principals", "must name at least one principal"),
    ("principals-21", {"partner.principals": [f"user/u{i}" for i in range(21)]}, "partner.principals",
     "lists 21 principals; at most 20 are allowed"),
    ("principal-star", {"partner.principals": ["*"]}, "partner.principals[0]",
     "'*' is not allowed; name the partner principals"),
    ("principal-wildcard-user", {"partner.principals": ["root", "user/*"]}, "partner.principals[1]",
     "wildcards are not allowed"),
    ("principal-foreign-arn", {"partner.principals": ["root", "user/alice", f"acs:ram::{OTHER}:root"]},
     "partner.principals[2]", f"is an ARN of account {OTHER}, not a principal of the partner account"),
    ("principal-own-arn", {"partner.principals": [f"acs:ram::{PARTNER}:user/alice"]}, "partner.principals[0]",
     "write 'user/alice' instead of the full ARN"),
    ("principal-account-id", {"partner.principals": [PARTNER]}, "partner.principals[0]",
     "is an account id; write 'root'"),
    ("principal-bad-user", {"partner.principals": ["user/" + "a" * 65]}, "partner.principals[0]",
     "a RAM user name is 1-64 letters"),
    ("principal-bad-role", {"partner.principals": ["role/a@b"]}, "partner.principals[0]",
     "a RAM role name is 1-64 letters, digits, '.' or '-'"),
    ("principal-group", {"partner.principals": ["group/admins"]}, "partner.principals[0]",
     "must be 'root', 'user/<name>' or 'role/<name>' of the partner account (got 'group/admins')"),
    ("principal-root-newline", {"partner.principals": ["root\n"]}, "partner.principals[0]", "must be 'root'"),
    ("principal-twice", {"partner.principals": ["root", "user/a", "root"]}, "partner.principals[2]",
     "is listed twice (also at partner.principals[0])"),
    ("principal-number", {"partner.principals": [1]}, "partner.principals[0]", "must be a string, not a number"),
    # --- role
    ("role-missing", {"role": DELETE}, "role", "is required"),
    ("role-string", {"role": "ecs-admin"}, "role", "must be an object, not a string"),
    ("role-name-missing", {"role.name": DELETE}, "role.name", "is required"),
    ("role-name-space", {"role.name": "ecs admin"}, "role.name", "must be 1-64 letters, digits, '.' or '-'"),
    ("role-name-65", {"role.name": "r" * 65}, "role.name", "must be 1-64"),
    ("role-description-901", {"role.description": "x" * 901}, "role.description",
     "is 901 characters; at most 900 are allowed"),
    ("role-description-number", {"role.description": 5}, "role.description", "must be a string, not a number"),
    ("session-bool", {"role.maxSessionDurationSeconds": True}, "role.maxSessionDurationSeconds",
     "must be a whole number of seconds, not true"),
    ("session-string", {"role.maxSessionDurationSeconds": "3600"}, "role.maxSessionDurationSeconds",
     "must be a whole number of seconds, not a string"),
    ("session-fraction", {"role.maxSessionDurationSeconds": 3600.5}, "role.maxSessionDurationSeconds",
     "must be a whole number of seconds (got 3600.5)"),
    ("session-low", {"role.maxSessionDurationSeconds": 3599}, "role.maxSessionDurationSeconds",
     "must be between 3600 and 43200 seconds (got 3599)"),
    ("session-high", {"role.maxSessionDurationSeconds": 43201}, "role.maxSessionDurationSeconds",
     "must be between 3600 and 43200"),
    ("role-unknown", {"role.maxSessionDuration": 3600}, "role.maxSessionDuration",
     "unknown field 'maxSessionDuration' (did you mean 'maxSessionDurationSeconds'?)"),
    # --- policies
    ("policies-missing", {"policies": DELETE}, "policies", "is required"),
    ("policies-empty", {"policies": []}, "policies", "must list at least one policy"),
    ("policies-object", {"policies": {"type": "System"}}, "policies", "must be a list of policies, not an object"),
    ("policy-string", {"policies[0]": "AliyunECSFullAccess"}, "policies[0]", "must be an object, not a string"),
    ("policy-type-case", {"policies[0].type": "system"}, "policies[0].type",
     "must be one of: System, Custom (got 'system') (did you mean 'System'?)"),
    ("policy-type-missing", {"policies[0].type": DELETE}, "policies[0].type", "is required"),
    ("policy-name-missing", {"policies[0].name": DELETE}, "policies[0].name", "is required"),
    ("system-name-space", {"policies[0].name": "Aliyun ECS"}, "policies[0].name", "must be a system policy name"),
    ("system-name-129", {"policies[0].name": "A" * 129}, "policies[0].name", "1-128 letters"),
    ("system-document", {"policies[0].document": {"Version": "1"}}, "policies[0].document",
     "is only allowed for Custom policies"),
    ("custom-no-document", {"policies[1].document": DELETE}, "policies[1].document",
     "is required for a Custom policy"),
    ("custom-name-hyphen", {"policies[1].name": "-restart"}, "policies[1].name", "starting with a letter or digit"),
    ("custom-name-65", {"policies[1].name": "c" * 65}, "policies[1].name", "must be 1-64 letters"),
    ("policy-unknown", {"policies[1].Document": {}}, "policies[1].Document",
     "unknown field 'Document' (did you mean 'document'?)"),
    ("policy-duplicate", {"policies[2]": {"type": "System", "name": "AliyunECSFullAccess"}}, "policies[2]",
     "duplicates policies[0] (System policy 'AliyunECSFullAccess')"),
    ("custom-duplicate", {"policies[2]": custom("ecs-restart-web", statement())}, "policies[2]",
     "duplicates policies[1]"),
    ("ten-custom", {"policies": TEN_CUSTOM}, "policies", "has 10 Custom policies; at most 9 are allowed"),
    ("21-system", {"policies": [{"type": "System", "name": f"P{i}"} for i in range(21)]}, "policies",
     "has 21 System policies; at most 20 are allowed"),
    # --- custom policy documents
    ("document-string", {"policies[1].document": "{}"}, "policies[1].document", "must be an object, not a string"),
    ("version-aws", {"policies[1].document.Version": "2012-10-17"}, "policies[1].document.Version",
     "must be \"1\", the RAM policy language version"),
    ("version-number", {"policies[1].document.Version": 1}, "policies[1].document.Version", "must be \"1\""),
    ("version-missing", {"policies[1].document.Version": DELETE}, "policies[1].document.Version", "is required"),
    ("statement-empty", {"policies[1].document.Statement": []}, "policies[1].document.Statement",
     "must be a non-empty list of statements, not an empty list"),
    ("statement-object", {"policies[1].document.Statement": statement()}, "policies[1].document.Statement",
     "must be a non-empty list of statements, not an object"),
    ("document-unknown", {"policies[1].document.Id": "x"}, "policies[1].document.Id", "unknown field 'Id'"),
    ("statement-string", {f"{STATEMENT0}": "Allow"}, STATEMENT0, "must be an object, not a string"),
    ("effect-case", {f"{STATEMENT0}.Effect": "allow"}, f"{STATEMENT0}.Effect",
     "must be one of: Allow, Deny (got 'allow') (did you mean 'Allow'?)"),
    ("effect-missing", {f"{STATEMENT0}.Effect": DELETE}, f"{STATEMENT0}.Effect", "is required"),
    ("action-and-not-action", {f"{STATEMENT0}.NotAction": "ecs:Describe*"}, STATEMENT0,
     "must have exactly one of Action or NotAction, not both"),
    ("action-missing", {f"{STATEMENT0}.Action": DELETE}, f"{STATEMENT0}.Action", "is required (or NotAction)"),
    ("action-no-colon", {f"{STATEMENT0}.Action": "ecs"}, f"{STATEMENT0}.Action",
     "must be '*' or 'service:Action' (wildcards * and ? allowed), e.g. 'ecs:StartInstance' (got 'ecs')"),
    ("action-two-colons", {f"{STATEMENT0}.Action": ["ecs:a:b"]}, f"{STATEMENT0}.Action[0]", "'service:Action'"),
    ("action-item-number", {f"{STATEMENT0}.Action": ["ecs:StartInstance", 5]}, f"{STATEMENT0}.Action[1]",
     "must be a string, not a number"),
    ("action-empty-list", {f"{STATEMENT0}.Action": []}, f"{STATEMENT0}.Action", "must not be an empty list"),
    ("action-object", {f"{STATEMENT0}.Action": {}}, f"{STATEMENT0}.Action",
     "must be a string or a list of strings, not an object"),
    ("resource-aws", {f"{STATEMENT0}.Resource": "arn:aws:ec2:::*"}, f"{STATEMENT0}.Resource",
     "must be '*' or an ARN starting with 'acs:'"),
    ("resource-missing", {f"{STATEMENT0}.Resource": DELETE}, f"{STATEMENT0}.Resource", "is required (or NotResource)"),
    ("resource-and-not", {f"{STATEMENT0}.NotResource": "*"}, STATEMENT0, "exactly one of Resource or NotResource"),
    ("principal-in-statement", {f"{STATEMENT0}.Principal": {"RAM": ["*"]}}, f"{STATEMENT0}.Principal",
     "is not allowed in a permission policy; the partner's principals go in partner.principals"),
    ("sid", {f"{STATEMENT0}.Sid": "x"}, f"{STATEMENT0}.Sid", "unknown field 'Sid'"),
    ("statement-typo", {f"{STATEMENT0}.Actions": "ecs:*"}, f"{STATEMENT0}.Actions",
     "unknown field 'Actions' (did you mean 'Action'?)"),
    ("condition-empty", {f"{STATEMENT0}.Condition": {}}, f"{STATEMENT0}.Condition",
     "must be a non-empty object like"),
    ("condition-operator", {f"{STATEMENT0}.Condition": {"StringEqual": {"acs:SourceVpc": "vpc-1"}}},
     f"{STATEMENT0}.Condition.StringEqual", "unknown condition operator 'StringEqual' (did you mean 'StringEquals'?)"),
    ("condition-block-list", {f"{STATEMENT0}.Condition": {"Bool": ["x"]}}, f"{STATEMENT0}.Condition.Bool",
     "must be a non-empty object of {condition key: value or [values]}"),
    ("condition-value-object", {f"{STATEMENT0}.Condition": {"Bool": {"acs:MFAPresent": {"x": 1}}}},
     f'{STATEMENT0}.Condition.Bool["acs:MFAPresent"]', "must be a string, number or true/false, not an object"),
    ("condition-value-null-item", {f"{STATEMENT0}.Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", None]}}},
     f'{STATEMENT0}.Condition.IpAddress["acs:SourceIp"][1]', "not null"),
    ("condition-value-empty", {f"{STATEMENT0}.Condition": {"IpAddress": {"acs:SourceIp": []}}},
     f'{STATEMENT0}.Condition.IpAddress["acs:SourceIp"]', "must not be an empty list"),
    ("condition-key", {f"{STATEMENT0}.Condition": {"Bool": {"mfa": True}}}, f"{STATEMENT0}.Condition.Bool.mfa",
     "must be a condition key like 'acs:SourceIp'"),
    ("document-too-long", {"policies[1]": TOO_LONG_DOCUMENT}, "policies[1].document",
     "characters as compact JSON; RAM allows at most 6144"),
    # --- dates
    ("starts-naive", {"startsAt": "2026-12-01T00:00:00"}, "startsAt",
     "must include a time zone, e.g. 2027-06-01T00:00:00Z (got '2026-12-01T00:00:00')"),
    ("expires-words", {"expiresAt": "June 1st"}, "expiresAt", "must be an ISO 8601 date-time such as"),
    ("expires-date-only", {"expiresAt": "2027-06-01"}, "expiresAt", "must be an ISO 8601 date-time"),
    ("expires-lowercase-z", {"expiresAt": "2027-06-01t00:00:00z"}, "expiresAt", "ISO 8601"),
    ("expires-no-calendar-day", {"expiresAt": "2027-02-30T00:00:00Z"}, "expiresAt",
     "is not a valid date/time: day is out of range for month"),
    ("expires-year-zero", {"expiresAt": "0000-01-01T00:00:00Z"}, "expiresAt", "is not a valid date/time"),
    ("expires-overflow", {"expiresAt": "9999-12-31T23:59:59-01:00"}, "expiresAt", "is not a valid date/time"),
    ("expires-number", {"expiresAt": 1811808000}, "expiresAt",
     "ISO 8601 date-time such as 2027-06-01T00:00:00Z, not a number"),
    ("expires-missing", {"expiresAt": DELETE}, "expiresAt", "is required"),
    ("starts-null", {"startsAt": None}, "startsAt", "not null"),
    ("inverted", {"startsAt": "2027-07-01T00:00:00Z"}, "expiresAt",
     "must be after startsAt (2027-07-01T00:00:00Z); access would never begin"),
    ("equal-times", {"startsAt": "2027-06-01T08:00:00+08:00"}, "expiresAt", "must be after startsAt"),
    # --- expiry and conditions
    ("on-expiry", {"onExpiry": "delete"}, "onExpiry", "must be one of: delete-role, remove-trust (got 'delete')"),
    ("on-expiry-null", {"onExpiry": None}, "onExpiry", "must be one of: delete-role, remove-trust (got null)"),
    ("conditions-list", {"conditions": []}, "conditions", "must be an object, not a list"),
    ("conditions-unknown", {"conditions.externalID": "x"}, "conditions.externalID",
     "unknown field 'externalID' (did you mean 'externalId'?)"),
    ("external-id-short", {"conditions.externalId": "x"}, "conditions.externalId",
     "must be 8-1224 characters: letters, digits or _+=,.@:/-"),
    ("external-id-space", {"conditions.externalId": "b 7f"}, "conditions.externalId", "must be 8-1224"),
    ("external-id-long", {"conditions.externalId": "x" * 1225}, "conditions.externalId", "must be 8-1224"),
    ("mfa-string", {"conditions.requireMfa": "yes"}, "conditions.requireMfa", "must be true or false, not a string"),
    ("ranges-string", {"conditions.sourceIpRanges": "10.0.0.0/8"}, "conditions.sourceIpRanges",
     "must be a non-empty list of IP addresses or CIDR ranges"),
    ("ranges-empty", {"conditions.sourceIpRanges": []}, "conditions.sourceIpRanges",
     "omit sourceIpRanges to allow any address"),
    ("ranges-21", {"conditions.sourceIpRanges": [f"10.0.0.{i}" for i in range(21)]}, "conditions.sourceIpRanges",
     "lists 21 ranges; at most 20 are allowed"),
    ("range-any-v4", {"conditions.sourceIpRanges": ["0.0.0.0/0"]}, "conditions.sourceIpRanges[0]",
     "'0.0.0.0/0' allows any address; omit sourceIpRanges instead"),
    ("range-any-v6", {"conditions.sourceIpRanges": ["10.0.0.0/8", "::/0"]}, "conditions.sourceIpRanges[1]",
     "allows any address"),
    ("range-any-host-bits", {"conditions.sourceIpRanges": ["203.0.113.9/0"]}, "conditions.sourceIpRanges[0]",
     "allows any address"),
    ("range-prefix-33", {"conditions.sourceIpRanges": ["10.0.0.0/33"]}, "conditions.sourceIpRanges[0]",
     "is not a valid IP address or CIDR range"),
    ("range-octet-300", {"conditions.sourceIpRanges": ["300.1.1.1"]}, "conditions.sourceIpRanges[0]",
     "is not a valid IP address or CIDR range"),
    ("range-words", {"conditions.sourceIpRanges": ["office"]}, "conditions.sourceIpRanges[0]",
     "must be an IP address or CIDR range such as 203.0.113.0/24"),
    ("range-netmask", {"conditions.sourceIpRanges": ["10.0.0.0/255.0.0.0"]}, "conditions.sourceIpRanges[0]",
     "must be an IP address or CIDR range"),
    ("range-twice", {"conditions.sourceIpRanges": ["10.0.0.0/8", "10.0.0.0/8"]}, "conditions.sourceIpRanges[1]",
     "is listed twice (also at conditions.sourceIpRanges[0])"),
    ("range-same-network", {"conditions.sourceIpRanges": ["10.0.0.0/24", "10.0.0.7/24"]},
     "conditions.sourceIpRanges[1]", "is the same range as conditions.sourceIpRanges[0] (10.0.0.0/24)"),
    # issue 12: weak settings and reserved names
    ("two-halves-of-ipv4", {"conditions.sourceIpRanges": ["0.0.0.0/1", "128.0.0.0/1"]}, "conditions.sourceIpRanges",
     "the IPv4 ranges together cover 4294967296 addresses"),
    ("nearly-all-ipv4", {"conditions.sourceIpRanges": ["10.0.0.0/8", "11.0.0.0/8"]}, "conditions.sourceIpRanges",
     "cover 33554432 addresses; at most 16777216"),
    ("most-of-ipv6", {"conditions.sourceIpRanges": ["::/1", "8000::/1"]}, "conditions.sourceIpRanges",
     "the IPv6 ranges together cover"),
    ("external-id-2", {"conditions.externalId": "ab"}, "conditions.externalId", "must be 8-1224 characters"),
    ("external-id-7", {"conditions.externalId": "abcdefg"}, "conditions.externalId", "must be 8-1224 characters"),
    ("oss-trigger-role", {"role.name": "aliyunosseventnotificationrole"}, "role.name", "is reserved"),
    ("fc-default-role", {"role.name": "AliyunFCDefaultRole"}, "role.name", "is reserved"),
    ("fc-default-role-lower", {"role.name": "aliyunfcdefaultrole"}, "role.name", "is reserved"),
    ("service-linked-role", {"role.name": "AliyunServiceRoleForECS"}, "role.name", "is reserved"),
    ("rolepact-role", {"role.name": "ROLEPACT-fc-role"}, "role.name", "is reserved"),
]


@pytest.mark.parametrize("raw, path, fragment", [case[1:] for case in FILE_CASES],
                         ids=[case[0] for case in FILE_CASES])
def test_refused_files(raw, path, fragment):
    problems = problems_of(raw)
    assert any(p.path == path and fragment in p.message for p in problems), problems


@pytest.mark.parametrize("changes, path, fragment", [case[1:] for case in FIELD_CASES],
                         ids=[case[0] for case in FIELD_CASES])
def test_refused_fields(changes, path, fragment):
    problems = problems_of(dump(edit(changes)))
    assert any(p.path == path and fragment in p.message for p in problems), problems


def test_size_limit_is_the_callers():
    assert problems_of(dump(SEED), max_bytes=100)[0].message.endswith("at most 100 bytes are allowed")
    assert parse_agreement(dump(SEED), key=KEY, max_bytes=len(dump(SEED))).agreement_id == "company-b-ecs-admin"


def test_every_problem_is_reported_not_just_the_first():
    doc = edit({"apiVersion": "v1", "polices": [], "owner.accountId": "1", "partner.principals": ["*", "root", "root"],
                "role.maxSessionDurationSeconds": 60, "policies[1].document.Statement[0].Effect": "Permit",
                "expiresAt": "2027-06-01", "onExpiry": "keep", "conditions.sourceIpRanges": ["::/0"]})
    paths = [p.path for p in problems_of(dump(doc))]
    assert paths == ["polices", "apiVersion", "owner.accountId", "partner.principals[0]", "partner.principals[2]",
                     "role.maxSessionDurationSeconds", f"{STATEMENT0}.Effect", "expiresAt", "onExpiry",
                     "conditions.sourceIpRanges[0]"]


def test_a_hostile_file_yields_a_bounded_list_of_bounded_problems():
    """Thousands of unknown fields, each with a huge name: at most MAX_PROBLEMS problems, each short."""
    doc = dict(SEED)
    for i in range(3000):
        doc[f"{i:04d}" + "x" * 2000] = 1
    problems = problems_of(json.dumps(doc).encode("utf-8"), max_bytes=10 << 20)
    assert len(problems) == S.MAX_PROBLEMS + 1
    assert problems[-1].path == FILE and "2950 more problems" in problems[-1].message
    assert all(len(p.path) <= 200 and len(p.message) <= S.MAX_PROBLEM_CHARS for p in problems)


def test_fractional_start_is_rounded_up_and_expiry_down():
    agreement = parse_agreement(dump(edit({"startsAt": "2026-12-01T00:00:00.001Z",
                                           "expiresAt": "2027-06-01T00:00:00.999Z"})), key=KEY)
    assert agreement.starts_at == datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    assert agreement.expires_at == datetime(2027, 6, 1, tzinfo=UTC)


def test_problems_render_as_path_and_message():
    rejected = pytest.raises(AgreementRejected, parse_agreement, dump(edit({"onExpiry": "x"})), key=KEY).value
    assert str(rejected) == "onExpiry: must be one of: delete-role, remove-trust (got 'x')"
    assert rejected.problems[0].to_dict() == {"path": "onExpiry", "message": rejected.problems[0].message}


# =========================================================================================== read_agreement_id
@pytest.mark.parametrize("raw, expected", [
    (dump(SEED), "company-b-ecs-admin"),
    (dump(edit({"policies": "oops", "owner": 5})), "company-b-ecs-admin"),  # invalid but well-formed
    (b'{"agreementId": "company-b-ecs-admin", "owner": {', "company-b-ecs-admin"),  # broken JSON
    (b'\xff\xfe{"agreementId": "abc-def"', "abc-def"),  # not even UTF-8
    (dump(edit({"agreementId": "../../status/other"})), None),  # never a path
    (dump(edit({"agreementId": "Upper"})), None),
    (dump(edit({"agreementId": 7})), None),
    (dump(edit({"agreementId": DELETE})), None),
    (b"[1, 2]", None),
    (b"", None),
])
def test_read_agreement_id(raw, expected):
    assert read_agreement_id(raw) == expected


# =========================================================================================== fuzzing
def assert_valid_model(agreement: Agreement) -> None:
    """Everything downstream may assume of an Agreement parse_agreement returned."""
    assert re.fullmatch(S.AGREEMENT_ID_PATTERN, agreement.agreement_id)
    for party in (agreement.owner, agreement.partner):
        assert re.fullmatch(S.ACCOUNT_ID_PATTERN, party.account_id)
        assert party.alias is None or re.fullmatch(S.ALIAS_PATTERN, party.alias)
    assert agreement.owner.account_id != agreement.partner.account_id
    principals = agreement.principals
    assert type(principals) is tuple and 1 <= len(principals) <= 20 and len(set(principals)) == len(principals)
    assert all(re.fullmatch(S.PRINCIPAL_PATTERN, p) for p in principals)
    assert re.fullmatch(S.ROLE_NAME_PATTERN, agreement.role_name)
    assert isinstance(agreement.role_description, str) and len(agreement.role_description) <= 900
    assert type(agreement.max_session_duration) is int and 3600 <= agreement.max_session_duration <= 43200
    _assert_valid_policies(agreement.policies)
    for moment in (agreement.starts_at, agreement.expires_at):
        assert moment is None or moment.tzinfo is UTC
    assert agreement.starts_at is None or agreement.starts_at < agreement.expires_at
    assert agreement.on_expiry in ("delete-role", "remove-trust")
    _assert_valid_conditions(agreement.conditions)


def _assert_valid_policies(policies: tuple[PolicyGrant, ...]) -> None:
    assert type(policies) is tuple and policies
    assert len({(p.type, p.name) for p in policies}) == len(policies)
    assert sum(p.type == "Custom" for p in policies) <= 9 and sum(p.type == "System" for p in policies) <= 20
    for policy in policies:
        if policy.type == "System":
            assert policy.document is None and re.fullmatch(S.SYSTEM_POLICY_NAME_PATTERN, policy.name)
        else:
            assert policy.type == "Custom" and re.fullmatch(S.CUSTOM_POLICY_NAME_PATTERN, policy.name)
            assert policy.document["Version"] == "1" and policy.document["Statement"]
            assert all(s["Effect"] in ("Allow", "Deny") for s in policy.document["Statement"])
            assert len(json.dumps(policy.document, separators=(",", ":"))) <= 6144


def _assert_valid_conditions(conditions: AccessConditions) -> None:
    assert conditions.external_id is None or re.fullmatch(S.EXTERNAL_ID_PATTERN, conditions.external_id)
    assert type(conditions.require_mfa) is bool
    ranges = conditions.source_ip_ranges
    assert type(ranges) is tuple and len(ranges) <= 20 and len(set(ranges)) == len(ranges)
    for text in ranges:
        network = ipaddress.ip_network(text)
        assert str(network) == text and network.prefixlen > 0


def parse_or_problems(raw: bytes) -> Agreement | list[Problem]:
    """Either outcome is fine; anything else (another exception, an invalid model, a silent
    rejection) fails the calling property."""
    try:
        agreement = parse_agreement(raw, key=KEY)
    except AgreementRejected as rejected:
        assert rejected.problems and rejected.reason == "invalid"
        assert all(isinstance(p.path, str) and p.path and isinstance(p.message, str) and p.message
                   for p in rejected.problems)
        return rejected.problems
    assert_valid_model(agreement)
    return agreement


json_scalars = (st.none() | st.booleans() | st.integers(-(2 ** 64), 2 ** 64)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)

# Values valid somewhere in the format, or just outside it, so that mutations often stay near the edges.
INTERESTING = [
    None, True, False, 0, 1, -1, 3600, 3600.5, "", "a", "abc", "root", "root\n", "*", OWNER, "System", "Allow",
    "1", "delete-role", "rolepact/v1", "ecs:Describe*", "acs:ecs:*:*:instance/*", "2027-01-01T00:00:00Z",
    "10.0.0.0/8", [], {}, ["root"], [1], statement(), {"type": "System", "name": "AliyunECSFullAccess"},
]
DATES = ["2026-12-01T00:00:00Z", "2027-06-01T00:00:00Z", "2027-05-31T23:59:59.999999Z", "2027-06-01T00:00:00+08:00",
         "2030-01-01T00:00:00-12:00", "2027-06-01T00:00:00", "2027-06-01", "2027-02-29T00:00:00Z",
         "2028-02-29T00:00:00Z", "2027-13-01T00:00:00Z", "2027-06-01T24:00:00Z", "2027-06-01T00:00:60Z",
         "2027-06-01T00:00:00+24:00", "2027-06-01T00:00:00.1234567Z", "2026-12-01T00:00:00z", 20270601]
ACTIONS = ["*", "ecs:*", "ecs:Describe*", "ecs:Start?nstance", "ecs", "ecs:a:b", "", 1]
RESOURCES = ["*", "acs:ecs:*:*:*", "acs:oss:*:*:bucket/*", "arn:aws:s3:::b", "acs:", "**", 1]
IP_RANGES = ["192.0.2.0/24", "2001:db8::1", "10.1.2.3/8", "0.0.0.0/0", "10.0.0.0/33", "office", "10.0.0.0/8\n", 5]
# By field name: whole replacement values. Near-miss values are deliberate.
NEAR_VALUES = {
    "apiVersion": ["rolepact/v1", "rolepact/v2"],
    "agreementId": ["abc", "a" * 64, "a" * 65, "ab", "a-b", "-ab", "Abc", "a_b"],
    "accountId": [OWNER, PARTNER, OTHER, "123456789012345", 1345678901234567],
    "alias": ["a", "company-c", "a" * 64, "a" * 65, "", "B"],
    "principals": [["root"], ["user/bob", "role/r.1"], [], ["*"], ["root", "root"],
                   [f"user/u{i}" for i in range(20)], [f"user/u{i}" for i in range(21)], "root"],
    "name": ["ecs-admin", "r" * 64, "r" * 65, "a.b", "a b", "AliyunOSSReadOnlyAccess", "A" * 128, "A" * 129, "-x"],
    "description": ["", "x" * 900, "x" * 901, 5],
    "maxSessionDurationSeconds": [3599, 3600, 3600.0, 7200, 43200, 43200.0, 43201, 3600.5, True, "3600"],
    "policies": [[{"type": "System", "name": "AliyunOSSReadOnlyAccess"}], [],
                 [custom(f"c{i}", statement()) for i in range(9)], [custom(f"c{i}", statement()) for i in range(10)],
                 [{"type": "System", "name": f"P{i}"} for i in range(20)],
                 [{"type": "System", "name": f"P{i}"} for i in range(21)]],
    "type": ["System", "Custom", "system"],
    "document": [{"Version": "1", "Statement": [statement()]}, {"Version": "1", "Statement": []}, {"Version": "1"}],
    "Version": ["1", 1, "2"],
    "Statement": [[statement()], [], [statement(Effect="Deny"), statement(Action="*")], statement()],
    "Effect": ["Allow", "Deny", "allow"],
    "Action": ACTIONS + [["ecs:A", "oss:B"], []],
    "NotAction": ACTIONS + [["ecs:A", "oss:B"], []],
    "Resource": RESOURCES + [["acs:ecs:*:*:*", "*"], []],
    "NotResource": RESOURCES + [["acs:ecs:*:*:*", "*"], []],
    "Condition": [{"Bool": {"acs:MFAPresent": True}}, {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}, {},
                  {"StringEqual": {"a:b": "x"}}, {"Bool": {}}, {"Bool": {"ab": True}},
                  {"NumericLessThan": {"a:b": [1, 2.5]}}, {"Bool": {"a:b": [None]}}],
    "startsAt": DATES, "expiresAt": DATES,
    "onExpiry": ["delete-role", "remove-trust", "keep"],
    "conditions": [{}, {"requireMfa": True}, {"externalId": "ab"}, []],
    "externalId": ["ab", "a", "x" * 1224, "x" * 1225, "a b", "id:with/=+,.@-"],
    "requireMfa": [True, False, "true", 1],
    "sourceIpRanges": [["10.0.0.0/8"], [], ["0.0.0.0/0"], [f"10.0.{i}.0/24" for i in range(20)],
                       [f"10.0.{i}.0/24" for i in range(21)], ["10.0.0.0/8", "10.0.0.0/8"], "10.0.0.0/8"],
}
# By the field a list belongs to: replacement items.
NEAR_ITEMS = {
    "principals": ["root", "user/bob", "role/ops", "*", "user/" + "u" * 64, "user/" + "u" * 65,
                   f"acs:ram::{PARTNER}:root", 1],
    "policies": [{"type": "System", "name": "AliyunOSSReadOnlyAccess"},
                 {"type": "System", "name": "AliyunECSFullAccess"},
                 custom("extra", statement()), {"type": "System", "name": "X", "document": {}}, "AliyunOSS"],
    "Statement": [statement(), statement(Effect="Deny"), statement(Principal="*"), {"Effect": "Allow"}],
    "Action": ACTIONS, "NotAction": ACTIONS, "Resource": RESOURCES, "NotResource": RESOURCES,
    "sourceIpRanges": IP_RANGES,
}
FIELD_NAMES = ["apiVersion", "policies", "polices", "alias", "principals", "description", "document", "Sid",
               "Principal", "Condition", "NotAction", "NotResource", "startsAt", "onExpiry", "conditions",
               "externalId", "requireMfa", "sourceIpRanges", "IpAddress"]
replacements = st.one_of(json_values, st.sampled_from(INTERESTING).map(copy.deepcopy))


def _slots(value: object, field: str = "") -> list[tuple[dict | list, str | int, str]]:
    """Every (container, key, field name) in a JSON value, depth first; list items carry their list's field."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    slots = []
    for key, child in list(items):
        name = key if isinstance(key, str) else field
        slots.append((value, key, name))
        slots.extend(_slots(child, name))
    return slots


def _near(draw, key: str | int, field: str) -> object:
    table = NEAR_ITEMS if isinstance(key, int) else NEAR_VALUES
    return copy.deepcopy(draw(st.sampled_from(table.get(field) or INTERESTING)))


@st.composite
def mutated_documents(draw) -> dict:
    """A valid file with up to three edits: a near-miss value for the field, delete, random value, add, repeat."""
    doc = copy.deepcopy(draw(st.sampled_from(VALID_DOCS)))
    for _ in range(draw(st.integers(0, 3))):
        container, key, field = draw(st.sampled_from(_slots(doc)))
        action = draw(st.sampled_from(("near", "near", "near", "delete", "replace", "add", "repeat")))
        if action == "near":
            container[key] = _near(draw, key, field)
        elif action == "delete":
            del container[key]
        elif action == "replace":
            container[key] = draw(replacements)
        elif isinstance(container, dict):
            container[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=8))] = draw(replacements)
        else:
            container.append(copy.deepcopy(container[key]) if action == "repeat" else _near(draw, key, field))
    return doc


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_are_only_ever_refused(raw):
    assert isinstance(parse_or_problems(raw), list)


@FUZZ
@given(json_values)
def test_random_json_is_only_ever_refused(value):
    assert isinstance(parse_or_problems(dump(value)), list)


@FUZZ
@given(mutated_documents())
def test_mutated_files_parse_to_valid_models_or_are_refused(doc):
    parse_or_problems(dump(doc))


@FUZZ
@given(mutated_documents(), st.data())
def test_damaged_bytes_parse_to_valid_models_or_are_refused(doc, data):
    raw = bytearray(dump(doc))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position:position + 1] = data.draw(st.binary(max_size=3))
    parse_or_problems(bytes(raw))


@pytest.mark.parametrize("doc", VALID_DOCS, ids=("seed", "minimal", "rich"))
def test_the_fuzzers_starting_points_are_valid(doc):
    assert_valid_model(parse_agreement(dump(doc), key=KEY))
