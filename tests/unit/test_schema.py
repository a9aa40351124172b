"""The published JSON Schema: well-formed, documented, closed, and in agreement with parse_agreement.

The consistency property runs jsonschema and parse_agreement on hypothesis-made mutations of valid
files: the schema must accept exactly what the parser accepts, except for the checks a JSON Schema
cannot express (PARSE_ONLY below, also listed in schema.py's docstring).
"""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from jsonschema import Draft202012Validator

from shared.agreements import schema as S
from shared.agreements.parse import parse_agreement
from shared.agreements.schema import AGREEMENT_SCHEMA, EXAMPLE_AGREEMENT, schema_json
from shared.errors import AgreementRejected, Problem
from test_agreement_parse import FIELD_CASES, KEY, VALID_DOCS, dump, edit, mutated_documents

VALIDATOR = Draft202012Validator(AGREEMENT_SCHEMA)

# Refusals a JSON Schema cannot express, by a fragment of parse_agreement's message. A rejection made
# only of these is left out of the equivalence check; each has an example in PARSE_ONLY_EXAMPLES.
PARSE_ONLY = {
    "duplicate key": "the schema sees the object after JSON dropped the duplicate",
    "is not a valid date/time": "the pattern admits 2027-02-30",
    "must be after startsAt": "compares two fields",
    "must differ from owner.accountId": "compares two fields",
    "duplicates policies[": "same type and name, different document: uniqueItems compares whole items",
    "characters as compact JSON": "length of a serialized subtree",
    "is not a valid IP address or CIDR range": "the pattern admits 300.1.1.1 and /33",
    "allows any address": "a /0 network written any way",
    "is the same range as": "two spellings of one network",
    "ranges together cover": "the size of a union of networks",
    "is nested too deeply": "file level",
    "is a number too large to represent": "file level",
    "unpaired surrogate": "file level",
}


def parse_only(problem: Problem) -> bool:
    return any(fragment in problem.message for fragment in PARSE_ONLY)


def _python_dollar_quirk(value: object) -> bool:
    """jsonschema applies `pattern` with Python's re.search, whose `$` also matches before a final
    newline (ECMA 262's does not), so under jsonschema the schema admits 'root\\n'; the parser does not."""
    if isinstance(value, str):
        return value.endswith("\n")
    if isinstance(value, dict):
        return any(_python_dollar_quirk(k) or _python_dollar_quirk(v) for k, v in value.items())
    return isinstance(value, list) and any(_python_dollar_quirk(v) for v in value)


def schema_accepts(doc: object) -> bool:
    return VALIDATOR.is_valid(doc)


def parse_problems(raw: bytes) -> list[Problem]:
    try:
        parse_agreement(raw, key=KEY)
    except AgreementRejected as rejected:
        return rejected.problems
    return []


# =========================================================================================== the schema itself
def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(AGREEMENT_SCHEMA)
    assert AGREEMENT_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_json_is_the_schema_pretty_printed():
    text = schema_json()
    assert json.loads(text) == AGREEMENT_SCHEMA
    assert text.startswith('{\n  "$schema"')


def test_the_example_is_the_seed_and_is_valid_for_both():
    assert AGREEMENT_SCHEMA["examples"] == [EXAMPLE_AGREEMENT]
    assert schema_accepts(EXAMPLE_AGREEMENT)
    assert parse_agreement(dump(EXAMPLE_AGREEMENT), key=KEY).agreement_id == "company-b-ecs-admin"


def _subschemas(node: object):
    """Every dict inside the schema, depth first, except `contains`/`if` filters, which describe no fields."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key not in ("contains", "if"):
                yield from _subschemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _subschemas(value)


def _resolve(node: dict) -> dict:
    ref = node.get("$ref")
    return AGREEMENT_SCHEMA["$defs"][ref.rsplit("/", 1)[1]] if ref else node


def test_every_object_is_closed_to_unknown_fields():
    with_properties = [node for node in _subschemas(AGREEMENT_SCHEMA)
                       if isinstance(node.get("properties"), dict) and node.get("type") == "object"]
    assert len(with_properties) >= 8
    assert all(node["additionalProperties"] is False for node in with_properties)


def test_every_field_has_a_description():
    objects = [node for node in _subschemas(AGREEMENT_SCHEMA) if node.get("type") == "object"]
    fields = {name: field for node in objects for name, field in node.get("properties", {}).items()}
    missing = [name for name, field in fields.items()
               if not (field.get("description") or _resolve(field).get("description"))]
    assert not missing
    assert len(fields) >= 25


def test_patterns_use_only_the_regex_subset_ecma_and_python_share():
    """No \\d, \\w or \\s (Unicode-aware in Python, ASCII in ECMA 262) and no `.` outside a class."""
    patterns = [value for name, value in vars(S).items() if name.endswith("_PATTERN")]
    assert len(patterns) >= 12
    for pattern in patterns:
        assert not re.search(r"\\[dwsDWS]", pattern), pattern
        assert "." not in re.sub(r"\[[^\]]*\]|\\.", "", pattern), pattern
        assert pattern.startswith("^") and pattern.endswith("$"), pattern


def test_limits_in_the_schema_are_the_parsers():
    properties = AGREEMENT_SCHEMA["properties"]
    session = properties["role"]["properties"]["maxSessionDurationSeconds"]
    assert (session["minimum"], session["maximum"], session["default"]) == (3600, 43200, 3600)
    assert properties["partner"]["properties"]["principals"]["maxItems"] == S.MAX_PRINCIPALS == 20
    assert [rule["maxContains"] for rule in properties["policies"]["allOf"]] == [9, 20]
    assert properties["onExpiry"]["enum"] == ["delete-role", "remove-trust"]


# =========================================================================================== agreement with the parser
@pytest.mark.parametrize("doc", VALID_DOCS, ids=("seed", "minimal", "rich"))
def test_schema_accepts_the_valid_files(doc):
    assert schema_accepts(json.loads(dump(doc)))


SCHEMA_EXPRESSIBLE = [case for case in FIELD_CASES
                      if not any(parse_only(p) for p in parse_problems(dump(edit(case[1]))))
                      and not _python_dollar_quirk(edit(case[1]))]


@pytest.mark.parametrize("changes", [case[1] for case in SCHEMA_EXPRESSIBLE],
                         ids=[case[0] for case in SCHEMA_EXPRESSIBLE])
def test_schema_refuses_what_the_parser_refuses(changes):
    assert not schema_accepts(json.loads(dump(edit(changes))))


PARSE_ONLY_EXAMPLES = [
    ("duplicate key", dump(EXAMPLE_AGREEMENT).replace(b'"alias": "company-a"', b'"alias": "x", "alias": "company-a"')),
    ("is not a valid date/time", dump(edit({"expiresAt": "2027-02-30T00:00:00Z"}))),
    ("must be after startsAt", dump(edit({"startsAt": "2028-01-01T00:00:00Z"}))),
    ("must differ from owner.accountId", dump(edit({"partner.accountId": "1234567890123456"}))),
    ("duplicates policies[", dump(edit({"policies[2]": {"type": "Custom", "name": "ecs-restart-web", "document": {
        "Version": "1", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}}}))),
    ("characters as compact JSON", dump(edit({"policies[1].document.Statement[0].Action": ["ecs:A"] * 1300}))),
    ("is not a valid IP address or CIDR range", dump(edit({"conditions.sourceIpRanges": ["10.0.0.0/33"]}))),
    ("allows any address", dump(edit({"conditions.sourceIpRanges": ["1.2.3.4/0"]}))),
    ("is the same range as", dump(edit({"conditions.sourceIpRanges": ["10.0.0.0/8", "10.1.2.3/8"]}))),
    ("ranges together cover", dump(edit({"conditions.sourceIpRanges": ["0.0.0.0/1", "128.0.0.0/1"]}))),
    ("is nested too deeply", dump(EXAMPLE_AGREEMENT).replace(b'"root"', b"[" * 40 + b"1" + b"]" * 40)),
    ("is a number too large to represent", dump(EXAMPLE_AGREEMENT).replace(b"3600", b"1e999")),
    ("unpaired surrogate", dump(EXAMPLE_AGREEMENT).replace(b'"ecs-admin"', b'"ecs-admin\\udc00"')),
]


@pytest.mark.parametrize("fragment, raw", PARSE_ONLY_EXAMPLES, ids=[case[0] for case in PARSE_ONLY_EXAMPLES])
def test_each_parse_only_check_is_real(fragment, raw):
    """The parser refuses these for the listed reason; JSON Schema cannot (it accepts them, or in the
    file-level cases refuses them only because of something else)."""
    problems = parse_problems(raw)
    assert any(fragment in p.message for p in problems), problems
    if fragment not in ("is nested too deeply", "is a number too large to represent", "unpaired surrogate"):
        assert schema_accepts(json.loads(raw))


def test_every_parse_only_check_has_an_example():
    assert set(PARSE_ONLY) == {case[0] for case in PARSE_ONLY_EXAMPLES}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_schema_accepts_exactly_what_the_parser_accepts(doc):
    raw = dump(doc)
    doc = json.loads(raw)
    if _python_dollar_quirk(doc):
        event("skipped: Python's $ quirk")
        return
    problems = parse_problems(raw)
    accepted = schema_accepts(doc)
    event(f"parser {'refuses' if problems else 'accepts'}")
    if not problems:
        assert accepted, [error.message for error in VALIDATOR.iter_errors(doc)]
    elif all(parse_only(p) for p in problems):
        event("parse-only refusal")
    else:
        assert not accepted, problems
