"""Seed fact: AssumeRole is allowed or denied by the role's trust policy (and the caller's own
sts:AssumeRole permission). [D] RAM "Policy evaluation process of assuming a RAM role"; STS
AssumeRole errors: NoPermission 403."""
from __future__ import annotations

from .conformance_kit import assume_role, error_code, trust_policy

SOURCE = "help/en/ram/user-guide/edit-the-trust-policy-of-a-ram-role; STS AssumeRole (NoPermission 403)"


def test_trust_policy_decides_who_may_assume_the_role(owner, partner, build, observe, wait):
    alice = build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    bob = build.user(partner, "bob", "AliyunSTSAssumeRoleAccess")
    alice_name = alice.label.split("/", 1)[1]
    role = build.role(owner, "ops", trust_policy(f"acs:ram::{partner.account_id}:user/{alice_name}"))
    arn = f"acs:ram::{owner.account_id}:role/{role}"

    # RAM is eventually consistent: a new role or user may take a moment to be visible to STS.
    session, seconds = wait(lambda: assume_role(alice, arn, "alice"), what="AssumeRole by a trusted user")
    observe("AssumeRole by the trusted user succeeds after (s)", round(seconds, 1), SOURCE)
    identity = session.sts.get_caller_identity().body
    assert identity.arn == f"acs:ram::{owner.account_id}:assumed-role/{role}/alice"
    observe("GetCallerIdentity Arn of the session", identity.arn.replace(owner.account_id, "<owner>"), SOURCE)

    denied = _refusal(lambda: assume_role(bob, arn, "bob"))
    observe("AssumeRole by an untrusted user of the trusted account", denied, SOURCE)
    assert denied == ("NoPermission", 403)

    outsider = build.user(owner, "carol", "AliyunSTSAssumeRoleAccess")
    observe("AssumeRole by a user of the owner account the trust policy does not name",
            _refusal(lambda: assume_role(outsider, arn, "carol")), SOURCE)


def test_the_caller_needs_its_own_sts_permission_too(owner, partner, build, observe, wait):
    """Trusted by the role but without sts:AssumeRole in its own account: refused."""
    dave = build.user(partner, "dave")
    role = build.role(owner, "ops", trust_policy(f"acs:ram::{partner.account_id}:root"))
    arn = f"acs:ram::{owner.account_id}:role/{role}"
    denied = _refusal(lambda: assume_role(dave, arn, "dave"))
    observe("AssumeRole without the caller's own sts:AssumeRole permission", denied, SOURCE)
    assert denied == ("NoPermission", 403)


def test_root_credentials_cannot_assume_a_role(owner, partner, build, observe, target):
    """[D] STS FAQ: roles may not be assumed by root accounts. Meaningful only with root keys
    (fake mode, or a real run whose partner credentials are the account's root AccessKey)."""
    role = build.role(owner, "ops", trust_policy(f"acs:ram::{partner.account_id}:root"))
    identity = partner.sts.get_caller_identity().body
    if identity.identity_type != "Account":
        observe("root AssumeRole", "not tried: the partner credentials are not a root AccessKey", SOURCE)
        return
    denied = _refusal(lambda: assume_role(partner, f"acs:ram::{owner.account_id}:role/{role}", "root"))
    observe("AssumeRole with a root AccessKey", denied, SOURCE)
    assert denied == ("NoPermission", 403)


def _refusal(call) -> tuple[str | None, int | None] | str:
    try:
        call()
    except Exception as problem:  # noqa: BLE001 - any SDK error is an observation
        return error_code(problem), getattr(problem, "status_code", getattr(problem, "status", None))
    return "allowed"
