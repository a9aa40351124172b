"""Issue 11 item 8: the trust-policy size limit. RAM documents the error
(InvalidParameter.AssumeRolePolicyDocument.Length) but no value. rolepact refuses agreements whose
trust policy exceeds ROLEPACT_MAX_TRUST_POLICY_CHARS (2048): RAM must accept that size; the report
records the largest size this account took, which is what the setting may be raised to."""
from __future__ import annotations

import json

from .conformance_kit import error_code, trust_policy
from shared.settings import Guardrails

SOURCE = "RAM CreateRole errors (InvalidParameter.AssumeRolePolicyDocument.Length); value undocumented"


def trust_of_length(account_id: str, chars: int) -> str:
    """A valid trust policy of exactly `chars` characters (compact JSON), padded in the ExternalId."""
    base = trust_policy(f"acs:ram::{account_id}:root", condition={"StringEquals": {"sts:ExternalId": "x"}})
    pad = chars - len(json.dumps(base, separators=(",", ":")))
    base["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = "x" * (1 + pad)
    text = json.dumps(base, separators=(",", ":"))
    assert len(text) == chars
    return text


def test_ram_takes_the_trust_policy_size_rolepact_allows(owner, partner, build, observe):
    limit = Guardrails().max_trust_policy_chars
    build.role(owner, "trust-size", trust_of_length(partner.account_id, limit))
    observe(f"CreateRole with a {limit}-character trust policy", "accepted", SOURCE)
    largest = limit
    for size in (4096, 6144, 8192):
        try:
            build.role(owner, f"trust-{size}", trust_of_length(partner.account_id, size))
        except Exception as problem:  # noqa: BLE001 - the code is the observation
            observe(f"CreateRole with a {size}-character trust policy", error_code(problem), SOURCE)
            break
        largest = size
    observe("largest trust policy accepted (characters)", largest, SOURCE)
