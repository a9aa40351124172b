"""Issue 11 item 3: what ROLEPACT_TRUST_EXTRA_CONDITIONS relies on -- that RAM accepts acs:CurrentTime,
acs:SourceIp and acs:MFAPresent in a trust policy and evaluates them at AssumeRole.

Undocumented: RAM documents only sts:ExternalId (and SAML/OIDC keys) for trust policies, so rolepact
leaves these out by default and enforces them with the guard permission policy. A real run that
passes says the opt-in is safe for that account.
"""
from __future__ import annotations

from .conformance_kit import assume_role, error_code, trust_policy

SOURCE = "undocumented for trust policies (help/en/ram/user-guide/edit-the-trust-policy-of-a-ram-role)"


def test_a_future_window_in_the_trust_policy_refuses_assume_role(owner, partner, build, observe, wait):
    alice = build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    principal = f"acs:ram::{partner.account_id}:root"
    later = build.role(owner, "later", trust_policy(principal, condition={
        "DateGreaterThanEquals": {"acs:CurrentTime": "2099-01-01T00:00:00Z"},
        "IpAddress": {"acs:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}}))
    now = build.role(owner, "now", trust_policy(principal, condition={
        "DateLessThan": {"acs:CurrentTime": "2099-01-01T00:00:00Z"}}))
    observe("CreateRole with acs:CurrentTime / acs:SourceIp in the trust policy", "accepted", SOURCE)
    wait(lambda: assume_role(alice, f"acs:ram::{owner.account_id}:role/{now}", "now"), what="AssumeRole inside")
    try:
        assume_role(alice, f"acs:ram::{owner.account_id}:role/{later}", "later")
        refused = "allowed"
    except Exception as problem:  # noqa: BLE001 - the code is the observation
        refused = error_code(problem)
    observe("AssumeRole before the trust policy's acs:CurrentTime window", refused, SOURCE)
    assert refused == "NoPermission"
