"""Issue 11 item 7: RAM takes date condition values only as YYYY-MM-DDThh:mm:ssZ or ...+hh:mm.
rolepact writes only that form and refuses partner policies with others up front.
[D] RAM "Allow or deny access based on time of day" (ISO 8601 with Z or an offset)."""
from __future__ import annotations

import pytest

from .conformance_kit import error_code

SOURCE = "help/en/ram/access-alibaba-cloud-in-a-specified-period-of-time"


def dated(value: str) -> dict:
    return {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:DescribeInstances", "Resource": "*",
                                           "Condition": {"DateLessThan": {"acs:CurrentTime": value}}}]}


@pytest.mark.parametrize("value", ["2027-06-01T00:00:00Z", "2027-06-01T08:00:00+08:00"])
def test_documented_dates_are_accepted(owner, build, observe, value):
    build.policy(owner, "date-ok", dated(value))
    observe(f"CreatePolicy with DateLessThan {value}", "accepted", SOURCE)


@pytest.mark.parametrize("value", ["2027-06-01", "2027-06-01T00:00:00", "2027-06-01 00:00:00Z"])
def test_other_date_forms_are_refused(owner, build, observe, value):
    try:
        build.policy(owner, "date-bad", dated(value))
        answer = "accepted"
    except Exception as problem:  # noqa: BLE001 - the code is the observation
        answer = error_code(problem)
    observe(f"CreatePolicy with DateLessThan {value!r}", answer, SOURCE)
    assert answer == "MalformedPolicyDocument"
