"""Seed facts about a role's life that rolepact's revocation relies on.

- Detaching the role's policies takes access away from live sessions: rolepact's "End" detaches
  first ([D] STS FAQ: a token's permissions are the role's permissions ∩ the session policy; the
  delay is undocumented — measured here).
- Deleting the role invalidates every issued token ([D] AlibabaCloudDocs/ram
  "RAM角色和STS Token常见问题": 删除角色后…STS Token都将立即失效).
- DeleteRole while policies are attached answers DeleteConflict.Role.Policy 409 ([D] RAM error
  messages).
"""
from __future__ import annotations

import json

from .conformance_kit import assume_role, error_code, trust_policy

STS_FAQ = "AlibabaCloudDocs/ram cn.zh-CN 常见问题/RAM角色和STS Token常见问题"
RAM_ERRORS = "AlibabaCloudDocs/ram intl.en-US/API Reference/Error messages.md"


def _session(owner, partner, build, wait, label: str):
    """A role of A with one custom policy (ram:GetRole on itself), assumed by a user of B."""
    alice = build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    role = build.role(owner, label, trust_policy(f"acs:ram::{partner.account_id}:root"))
    policy = build.policy(owner, "read-self", {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:GetRole", "Resource": f"acs:ram:*:{owner.account_id}:role/{role}"}]})
    _attach(owner, role, policy)
    arn = f"acs:ram::{owner.account_id}:role/{role}"
    session, _ = wait(lambda: assume_role(alice, arn, "alice"), what="AssumeRole of a new role")
    return role, policy, session


def _attach(owner, role: str, policy: str) -> None:
    from alibabacloud_ram20150501 import models

    owner.ram.attach_policy_to_role(models.AttachPolicyToRoleRequest(policy_type="Custom", policy_name=policy,
                                                                     role_name=role))


def _get_role(session, role: str):
    from alibabacloud_ram20150501 import models

    return session.ram.get_role(models.GetRoleRequest(role_name=role)).body.role


def _denied(call) -> str | None:
    """The error code of `call`, or None when it succeeds."""
    try:
        call()
    except Exception as problem:  # noqa: BLE001 - any SDK error is the answer
        return error_code(problem) or type(problem).__name__
    return None


def test_detaching_the_policy_cuts_a_live_session(owner, partner, build, observe, wait):
    from alibabacloud_ram20150501 import models

    role, policy, session = _session(owner, partner, build, wait, "detach")
    wait(lambda: _get_role(session, role), what="the session's first allowed call")
    owner.ram.detach_policy_from_role(models.DetachPolicyFromRoleRequest(policy_type="Custom", policy_name=policy,
                                                                         role_name=role))
    code, seconds = wait(lambda: _denied(lambda: _get_role(session, role)), what="the detach reaching the session")
    observe("a live session loses a detached policy after (s)", round(seconds, 1), STS_FAQ)
    observe("error of the live session's call after the detach", code, STS_FAQ)
    assert code == "NoPermission"
    assert session.sts.get_caller_identity().body.arn  # the token itself still works: only the permission went


def test_deleting_the_role_kills_issued_tokens(owner, partner, build, observe, wait):
    """What rolepact relies on: after DeleteRole (and a re-created role of the same name) an old
    token can do nothing the role allowed. Whether the token is rejected outright (the FAQ's
    失效) or only loses its permissions is observed: the fake keeps it authenticating with no
    permissions (GetCallerIdentity needs none) [?]."""
    from alibabacloud_ram20150501 import models

    role, policy, session = _session(owner, partner, build, wait, "delete")
    wait(lambda: _get_role(session, role), what="the session's first allowed call")
    owner.ram.detach_policy_from_role(models.DetachPolicyFromRoleRequest(policy_type="Custom", policy_name=policy,
                                                                         role_name=role))
    wait(lambda: _denied(lambda: owner.ram.delete_role(models.DeleteRoleRequest(role_name=role))) is None,
         what="DeleteRole after the detach")
    _recreate(owner, partner, build, role, policy)  # same name, same policy: a new role, not the old session's
    code, seconds = wait(lambda: _denied(lambda: _get_role(session, role)), what="the old token to lose its access")
    observe("an issued token can no longer use the role after DeleteRole + re-create, after (s)", round(seconds, 1),
            STS_FAQ)
    observe("error of the old token's call", code, STS_FAQ)
    observe("GetCallerIdentity with the deleted role's token", _denied(session.sts.get_caller_identity) or "works",
            STS_FAQ + " [?]")


def _recreate(owner, partner, build, role: str, policy: str) -> None:
    from alibabacloud_ram20150501 import models
    from .conformance_kit import delete_role

    build.cleanup.add(f"RAM role {role} (re-created)", lambda: delete_role(owner, role))
    owner.ram.create_role(models.CreateRoleRequest(role_name=role, assume_role_policy_document=json.dumps(
        trust_policy(f"acs:ram::{partner.account_id}:root"))))
    _attach(owner, role, policy)


def test_delete_role_with_an_attached_policy_is_a_conflict(owner, partner, build, observe):
    from alibabacloud_ram20150501 import models

    role = build.role(owner, "conflict", trust_policy(f"acs:ram::{partner.account_id}:root"),
                      system_policies=("AliyunECSReadOnlyAccess",))
    try:
        owner.ram.delete_role(models.DeleteRoleRequest(role_name=role))
        answer = "deleted"
    except Exception as problem:  # noqa: BLE001
        answer = (error_code(problem), getattr(problem, "status_code", None))
    observe("DeleteRole with a policy attached", answer, RAM_ERRORS)
    assert answer == ("DeleteConflict.Role.Policy", 409)
    listed = owner.ram.list_policies_for_role(models.ListPoliciesForRoleRequest(role_name=role)).body
    assert [p.policy_name for p in listed.policies.policy] == ["AliyunECSReadOnlyAccess"]  # nothing changed


def test_trust_documents_come_back_semantically_unchanged(owner, partner, build, observe):
    """rolepact compares trust policies as parsed JSON (fidelity review, undocumented fact 7)."""
    from alibabacloud_ram20150501 import models

    trust = trust_policy(f"acs:ram::{partner.account_id}:root",
                         condition={"StringEquals": {"sts:ExternalId": "rp-conformance"}})
    role = build.role(owner, "trust", trust)
    stored = owner.ram.get_role(models.GetRoleRequest(role_name=role)).body.role.assume_role_policy_document
    observe("GetRole's AssumeRolePolicyDocument is byte-identical to what was sent", stored == json.dumps(trust),
            "help/en/ram/developer-reference/api-ram-2015-05-01-getrole")
    assert json.loads(stored) == trust
