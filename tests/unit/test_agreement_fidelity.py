"""Issue 11: what the agreement parser refuses up front because RAM (or the partner's tools) would fail later.

- date condition values in a custom policy: only the documented YYYY-MM-DDThh:mm:ssZ / +hh:mm
  (CreatePolicy would refuse the rest mid-provisioning);
- the documented `...IfExists` operators are accepted;
- `requireMfa` with `externalId`: no way in for the partner (console only, and it cannot pass one).
The JSON Schema says the same (tests/unit/test_schema.py checks the parity).
"""
from __future__ import annotations

import copy
import json

import pytest

from shared.agreements.parse import parse_agreement
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.errors import AgreementRejected

PATH = 'policies[1].document.Statement[0].Condition'


def parsed(condition: dict | None = None, conditions: dict | None = None):
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    if condition is not None:
        doc["policies"][1]["document"]["Statement"][0]["Condition"] = condition
    if conditions is not None:
        doc["conditions"] = conditions
    return parse_agreement(json.dumps(doc).encode(), key="agreements/x.json")


def problems(**kwargs) -> list[tuple[str, str]]:
    with pytest.raises(AgreementRejected) as refused:
        parsed(**kwargs)
    return [(p.path, p.message) for p in refused.value.problems]


@pytest.mark.parametrize("value", ["2027-06-01", "2027-06-01T00:00:00", "2027-06-01 00:00:00Z",
                                   "2027-06-01T00:00:00.5Z", "2027-06-01T00:00:00+0800"])
def test_date_condition_values_must_be_in_the_documented_format(value):
    [(path, message)] = problems(condition={"DateLessThan": {"acs:CurrentTime": value}})
    assert path == f'{PATH}.DateLessThan["acs:CurrentTime"]'
    assert "YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DDThh:mm:ss+hh:mm" in message


def test_documented_dates_and_if_exists_operators_are_accepted():
    parsed(condition={"DateLessThan": {"acs:CurrentTime": ["2027-06-01T00:00:00Z", "2027-06-01T08:00:00+08:00"]},
                      "NotIpAddressIfExists": {"acs:SourceIp": "203.0.113.0/24"},
                      "DateGreaterThanIfExists": {"acs:CurrentTime": "2027-01-01T00:00:00Z"}})
    [(path, _)] = problems(condition={"DateGreaterThanIfExists": {"acs:CurrentTime": "2027-01-01"}})
    assert path == f'{PATH}.DateGreaterThanIfExists["acs:CurrentTime"]'


def test_require_mfa_with_an_external_id_is_refused_with_the_reason():
    [(path, message)] = problems(conditions={"externalId": "b-7f3a9c", "requireMfa": True})
    assert path == "conditions.requireMfa"
    assert "cannot be combined with conditions.externalId" in message and "Switch Role" in message
    assert parsed(conditions={"requireMfa": True}).conditions.require_mfa
    assert parsed(conditions={"externalId": "b-7f3a9c", "requireMfa": False}).conditions.external_id
