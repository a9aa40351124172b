"""Issue 11 item 4: the guard's network Deny. rolepact writes `Deny * NotIpAddressIfExists acs:SourceIp`:
RAM must accept the operator, and it must deny a call from outside the ranges. A call that carries
no acs:SourceIp (VPC endpoint; [D] KMS condition keys: acs:SourceIp holds public addresses only) is
denied too by the IfExists reading; that case can only be produced in the fake.
[D] RAM time-of-day page documents the IfExists variants."""
from __future__ import annotations

from .conformance_kit import assume_role, error_code, trust_policy

SOURCE = "help/en/ram/conditional-operator; RAM time-of-day page (IfExists); KMS condition keys (SourceIp)"
NOWHERE = ["192.0.2.0/24"]  # TEST-NET-1: no caller is ever there


def test_not_ip_address_if_exists_denies_outside_the_ranges(owner, partner, build, observe, wait, fake):
    from alibabacloud_ram20150501 import models

    guard = build.policy(owner, "ip-guard", {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:GetRole", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddressIfExists": {"acs:SourceIp": NOWHERE}}}]})
    observe("CreatePolicy with NotIpAddressIfExists", "accepted", SOURCE)
    alice = build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    role = build.role(owner, "ip", trust_policy(f"acs:ram::{partner.account_id}:root"), custom=(guard,))
    session, _ = wait(lambda: assume_role(alice, f"acs:ram::{owner.account_id}:role/{role}", "alice"),
                      what="AssumeRole")

    def denied() -> str:
        try:
            session.ram.get_role(models.GetRoleRequest(role_name=role))
        except Exception as problem:  # noqa: BLE001 - the code is the observation
            return error_code(problem)
        return "allowed"

    observe("a call from outside the guard's ranges", denied(), SOURCE)
    assert denied() == "NoPermission"
    if fake is not None:  # a call through a VPC endpoint: no public acs:SourceIp
        fake.set_caller_context(session.key.access_key_id, vpc_id="vpc-conformance")
        observe("a call without acs:SourceIp (fake's VPC model)", denied(), SOURCE)
        assert denied() == "NoPermission"
