"""Issue 11 item 2: MFA is never present on an AccessKey call; the ExternalId is enforced by the trust policy.

rolepact relies on both: `requireMfa` is a guard Deny `BoolIfExists acs:MFAPresent false` (an SDK or
CLI session is denied, only an MFA console session passes), and `externalId` is a trust condition.
[D] RAM "restart ECS instances" example: acs:MFAPresent is true only when the RAM user logged on with
MFA; [D] use-externalid-to-prevent-the-confused-deputy-problem. (The console side cannot be driven
by a test: it needs a person with an MFA device.)
"""
from __future__ import annotations

from .conformance_kit import assume_role, error_code, trust_policy

SOURCE = "help/en/ram/use-cases/restart-ecs-instances (acs:MFAPresent); ExternalId use-case page"
MFA_GUARD = {"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "ram:GetRole", "Resource": "*"},
    {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"BoolIfExists": {"acs:MFAPresent": "false"}}}]}


def outcome(call) -> str:
    try:
        call()
    except Exception as problem:  # noqa: BLE001 - the code is the observation
        return error_code(problem) or type(problem).__name__
    return "allowed"


def test_an_accesskey_session_never_passes_an_mfa_guard(owner, partner, build, observe, wait):
    from alibabacloud_ram20150501 import models

    alice = build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    guard = build.policy(owner, "mfa-guard", MFA_GUARD)
    role = build.role(owner, "mfa", trust_policy(f"acs:ram::{partner.account_id}:root"), custom=(guard,))
    arn = f"acs:ram::{owner.account_id}:role/{role}"
    session, _ = wait(lambda: assume_role(alice, arn, "alice"), what="AssumeRole without MFA in the trust")
    seen = outcome(lambda: session.ram.get_role(models.GetRoleRequest(role_name=role)))
    observe("an AccessKey session under Deny BoolIfExists acs:MFAPresent false", seen, SOURCE)
    assert seen == "NoPermission"


def test_the_external_id_in_the_trust_policy_is_enforced(owner, partner, build, observe, wait):
    alice = build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    role = build.role(owner, "ext", trust_policy(f"acs:ram::{partner.account_id}:root",
                                                 condition={"StringEquals": {"sts:ExternalId": "rp-conf-1"}}))
    arn = f"acs:ram::{owner.account_id}:role/{role}"
    wait(lambda: assume_role(alice, arn, "ok", external_id="rp-conf-1"), what="AssumeRole with the ExternalId")
    without = outcome(lambda: assume_role(alice, arn, "none"))
    wrong = outcome(lambda: assume_role(alice, arn, "wrong", external_id="rp-conf-2"))
    observe("AssumeRole without / with a wrong ExternalId", [without, wrong], SOURCE)
    assert without == wrong == "NoPermission"
