"""STS through the official SDK: who may assume which role, for how long, with what permissions."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from fakecloud import Credentials, ServiceError
from iam_support import (ACCOUNT_A, ACCOUNT_B, allow, api_error, assert_sdk_shape, assume, cloud, make_user,  # noqa: F401
                         policy, ram_a, ram_client, ram_models as M, root_a, root_b, sts_client, trust)

ROLE_ARN = f"acs:ram::{ACCOUNT_A}:role/ecs-admin"


def make_role(ram, name: str = "ecs-admin", trust_doc: str | None = None, *system: str, **extra) -> str:
    ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=trust_doc or trust(
        f"acs:ram::{ACCOUNT_B}:root"), **extra))
    for policy_name in system:
        ram.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="System", policy_name=policy_name,
                                                              role_name=name))
    return f"acs:ram::{ACCOUNT_A}:role/{name}"


@pytest.fixture
def role(ram_a) -> str:
    """A's `ecs-admin`, trusted by B's account, allowed to read RAM."""
    return make_role(ram_a, "ecs-admin", None, "AliyunRAMReadOnlyAccess")


@pytest.fixture
def alice(cloud, root_b) -> Credentials:
    """B's RAM user Alice, allowed to call sts:AssumeRole."""
    return make_user(cloud, root_b, "alice", "AliyunSTSAssumeRoleAccess")


def roles_seen_by(creds: Credentials) -> list[str]:
    return [r.role_name for r in ram_client(creds).list_roles(M.ListRolesRequest()).body.roles.role]


# --------------------------------------------------------------------------- success and identities


def test_assume_role_cross_account_and_identities(ram_a, role, alice):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    session, body = assume(alice, role, "alice-ops")
    assert_sdk_shape(body, optional={"source_identity"})
    role_id = ram_a.get_role(M.GetRoleRequest(role_name="ecs-admin")).body.role.role_id
    assert body.assumed_role_user.arn == f"acs:ram::{ACCOUNT_A}:role/ecs-admin/alice-ops"
    assert body.assumed_role_user.assumed_role_id == f"{role_id}:alice-ops"
    creds = body.credentials
    assert creds.access_key_id.startswith("STS.") and creds.security_token.startswith("CAIS")
    expiration = datetime.strptime(creds.expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert timedelta(seconds=3599) <= expiration - before <= timedelta(seconds=3601)

    identity = sts_client(session).get_caller_identity().body
    assert_sdk_shape(identity, optional={"user_id"})
    assert identity.identity_type == "AssumedRoleUser"
    assert identity.arn == f"acs:ram::{ACCOUNT_A}:assumed-role/ecs-admin/alice-ops"
    assert (identity.account_id, identity.role_id, identity.principal_id) == (ACCOUNT_A, role_id,
                                                                              f"{role_id}:alice-ops")
    assert roles_seen_by(session) == ["ecs-admin"]  # acting in A, with the role's permissions


def test_get_caller_identity_of_root_and_user(root_b, alice, cloud):
    root = sts_client(root_b).get_caller_identity().body
    assert_sdk_shape(root, optional={"role_id"})
    assert (root.identity_type, root.arn, root.account_id, root.principal_id, root.user_id) == (
        "Account", f"acs:ram::{ACCOUNT_B}:root", ACCOUNT_B, ACCOUNT_B, ACCOUNT_B)
    user = sts_client(alice).get_caller_identity().body
    assert_sdk_shape(user, optional={"role_id"})
    user_id = ram_client(root_b).get_user(M.GetUserRequest(user_name="alice")).body.user.user_id
    assert (user.identity_type, user.arn, user.account_id, user.user_id, user.principal_id) == (
        "RAMUser", f"acs:ram::{ACCOUNT_B}:user/alice", ACCOUNT_B, user_id, user_id)


@pytest.mark.parametrize("principal", [
    f"acs:ram::{ACCOUNT_B}:root", ACCOUNT_B, f"acs:ram::{ACCOUNT_B}:user/alice", f"acs:ram::{ACCOUNT_B}:user/ALICE",
    f"acs:ram:*:{ACCOUNT_B}:user/*",
])
def test_trusted_principal_forms(ram_a, alice, principal):
    arn = make_role(ram_a, "r", trust(principal))
    assume(alice, arn)


@pytest.mark.parametrize("principal", [
    f"acs:ram::{ACCOUNT_B}:user/bob", f"acs:ram::{ACCOUNT_A}:root", f"acs:ram::{ACCOUNT_B}:role/alice",
])
def test_trust_not_naming_the_caller_is_refused(ram_a, alice, principal):
    arn = make_role(ram_a, "r", trust(principal))
    with api_error("NoPermission", 403) as denied:
        assume(alice, arn)
    assert denied.value.access_denied_detail["PolicyType"] == "AssumeRolePolicy"
    assert "You should be authorized by RAM" in denied.value.message


def test_role_chaining(cloud, ram_a, alice):
    hop = make_role(ram_a, "hop", None, "AliyunSTSAssumeRoleAccess")
    target = make_role(ram_a, "target", trust(f"acs:ram::{ACCOUNT_A}:role/hop"), "AliyunRAMReadOnlyAccess")
    only_b = make_role(ram_a, "only-b", trust(f"acs:ram::{ACCOUNT_B}:root"))
    hop_session, _ = assume(alice, hop, "first")
    chained, body = assume(hop_session, target, "second")
    assert body.assumed_role_user.arn == f"acs:ram::{ACCOUNT_A}:role/target/second"
    assert sts_client(chained).get_caller_identity().body.arn == f"acs:ram::{ACCOUNT_A}:assumed-role/target/second"
    assert "hop" in roles_seen_by(chained)
    with api_error("NoPermission", 403):
        assume(hop_session, only_b)  # a session of A's role is not a principal of B
    with api_error("NoPermission", 403):
        assume(alice, target)  # target trusts only the hop role


def test_root_may_not_assume_roles(role, root_b):
    with api_error("NoPermission", 403) as denied:
        assume(root_b, role)
    assert "Roles may not be assumed by root accounts." in denied.value.message


def test_caller_needs_sts_assume_role_permission(cloud, role, root_b):
    nobody = make_user(cloud, root_b, "nobody")
    with api_error("NoPermission", 403) as denied:
        assume(nobody, role)
    detail = denied.value.access_denied_detail
    assert (detail["AuthAction"], detail["PolicyType"], detail["NoPermissionType"]) == (
        "sts:AssumeRole", "AccountLevelIdentityBasedPolicy", "ImplicitDeny")


def test_permission_on_a_different_role_arn_is_not_enough(cloud, ram_a, root_b):
    wanted = make_role(ram_a, "wanted")
    other = make_role(ram_a, "other")
    ram_b = ram_client(root_b)
    ram_b.create_policy(M.CreatePolicyRequest(policy_name="only-other", policy_document=policy(
        allow("sts:AssumeRole", other))))
    scoped = make_user(cloud, root_b, "scoped", custom=("only-other",))
    with api_error("NoPermission", 403):
        assume(scoped, wanted)
    assume(scoped, other)


def test_explicit_deny_on_sts_assume_role_wins(cloud, role, root_b):
    ram_client(root_b).create_policy(M.CreatePolicyRequest(policy_name="deny-a", policy_document=policy(
        allow("sts:AssumeRole", f"acs:ram::{ACCOUNT_A}:role/*", effect="Deny"))))
    user = make_user(cloud, root_b, "denied", "AliyunSTSAssumeRoleAccess", custom=("deny-a",))
    with api_error("NoPermission", 403) as denied:
        assume(user, role)
    assert denied.value.access_denied_detail["NoPermissionType"] == "ExplicitDeny"


def test_unknown_role_and_malformed_arn(alice, ram_a):
    with api_error("EntityNotExist.Role", 404):
        assume(alice, f"acs:ram::{ACCOUNT_A}:role/ghost")
    with api_error("EntityNotExist.Role", 404):
        assume(alice, "acs:ram::9999999999999999:role/ghost")
    for bad in ("ecs-admin", f"acs:ram::{ACCOUNT_A}:user/x", f"acs:ram:cn-hangzhou:{ACCOUNT_A}:role/x",
                f"acs:ram::{ACCOUNT_A}:role/bad_name"):
        with api_error("InvalidParameter.RoleArn", 400):
            assume(alice, bad)


# --------------------------------------------------------------------------- trust conditions


@pytest.mark.parametrize("external_id, outcome", [
    ("ext-123", "ok"), ("ext-999", "NoPermission"), (None, "NoPermission"),
    ("x", "InvalidParameter.ExternalId"), ("has space", "InvalidParameter.ExternalId"),
    ("ünicode", "InvalidParameter.ExternalId"),
])
def test_external_id_condition(ram_a, alice, external_id, outcome):
    arn = make_role(ram_a, "r", trust(f"acs:ram::{ACCOUNT_B}:root",
                                      condition={"StringEquals": {"sts:ExternalId": "ext-123"}}))
    if outcome == "ok":
        assume(alice, arn, external_id=external_id)
        return
    with api_error(outcome, 403 if outcome == "NoPermission" else 400):
        assume(alice, arn, external_id=external_id)


def test_source_ip_trust_condition(cloud, ram_a, alice):
    arn = make_role(ram_a, "r", trust(f"acs:ram::{ACCOUNT_B}:root",
                                      condition={"IpAddress": {"acs:SourceIp": "203.0.113.0/24"}}))
    with api_error("NoPermission", 403):
        assume(alice, arn)
    cloud.set_caller_context(alice.access_key_id, source_ip="203.0.113.7")
    assume(alice, arn)
    cloud.set_caller_context(alice.access_key_id, source_ip="198.51.100.1")
    with api_error("NoPermission", 403):
        assume(alice, arn)


def test_mfa_trust_condition_only_an_mfa_console_logon_passes(cloud, ram_a, alice):
    """acs:MFAPresent is true only after an MFA console logon, never for AccessKey calls (RAM docs):
    the API caller cannot pass it, whatever a test would like; the console's Switch Role can."""
    arn = make_role(ram_a, "r", trust(f"acs:ram::{ACCOUNT_B}:root", condition={"Bool": {"acs:MFAPresent": "true"}}))
    with api_error("NoPermission", 403):
        assume(alice, arn)
    with pytest.raises(ValueError, match="never carry MFA"):
        cloud.set_caller_context(alice.access_key_id, mfa=True)
    with api_error("NoPermission", 403):
        assume(alice, arn)
    with pytest.raises(ServiceError) as refused:
        cloud.console_switch_role(cloud.console_logon(ACCOUNT_B, "alice", mfa=False), arn)
    assert refused.value.code == "NoPermission"
    session = cloud.console_switch_role(cloud.console_logon(ACCOUNT_B, "alice", mfa=True), arn, "alice")
    assert sts_client(session).get_caller_identity().body.arn == f"acs:ram::{ACCOUNT_A}:assumed-role/r/alice"


def test_console_switch_role_cannot_pass_an_external_id(cloud, ram_a, alice):
    arn = make_role(ram_a, "r", trust(f"acs:ram::{ACCOUNT_B}:root", condition={"StringEquals": {"sts:ExternalId": "ab-1"}}))
    assume(alice, arn, external_id="ab-1")
    with pytest.raises(ServiceError) as refused:
        cloud.console_switch_role(cloud.console_logon(ACCOUNT_B, "alice", mfa=True), arn)
    assert refused.value.code == "NoPermission"


def test_vpc_calls_carry_no_source_ip_by_default(cloud, ram_a, alice):
    """A call through a VPC endpoint: acs:SourceIp holds public addresses only (KMS condition-key page),
    so by default the key is missing; `vpc_source_ip="private"` is the other reading."""
    arn = make_role(ram_a, "r", trust(f"acs:ram::{ACCOUNT_B}:root", condition={
        "NotIpAddressIfExists": {"acs:SourceIp": "203.0.113.0/24"}}))  # an Allow: true when missing
    cloud.set_caller_context(alice.access_key_id, vpc_id="vpc-abc")
    assume(alice, arn)
    cloud.vpc_source_ip = "private"
    cloud.set_caller_context(alice.access_key_id, source_ip="203.0.113.9", vpc_id="vpc-abc")
    with api_error("NoPermission", 403):
        assume(alice, arn)


def test_current_time_window_in_trust(ram_a, alice):
    arn = make_role(ram_a, "r", trust(f"acs:ram::{ACCOUNT_B}:root", condition={
        "DateGreaterThan": {"acs:CurrentTime": "2030-01-01T00:00:00Z"},
        "DateLessThan": {"acs:CurrentTime": "2030-02-01T00:00:00Z"}}))
    with api_error("NoPermission", 403):
        assume(alice, arn)
    with time_machine.travel(datetime(2030, 1, 15, tzinfo=timezone.utc)):
        assume(alice, arn)
    with time_machine.travel(datetime(2030, 2, 1, 0, 0, 1, tzinfo=timezone.utc)):
        with api_error("NoPermission", 403):
            assume(alice, arn)


def test_trust_policy_update_takes_effect_immediately(ram_a, role, alice):
    assume(alice, role)
    ram_a.update_role(M.UpdateRoleRequest(role_name="ecs-admin",
                                          new_assume_role_policy_document=trust(f"acs:ram::{ACCOUNT_A}:root")))
    with api_error("NoPermission", 403):
        assume(alice, role)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("seconds, ok", [(899, False), (900, True), (7200, True), (7201, False), (None, True)])
def test_duration_seconds_bounds(ram_a, alice, seconds, ok):
    arn = make_role(ram_a, "r", None, max_session_duration=7200)
    if not ok:
        with api_error("InvalidParameter.DurationSeconds", 400):
            assume(alice, arn, duration_seconds=seconds)
        return
    before = datetime.now(timezone.utc).replace(microsecond=0)
    _, body = assume(alice, arn, duration_seconds=seconds)
    expiration = datetime.strptime(body.credentials.expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs((expiration - before).total_seconds() - (seconds or 3600)) <= 1


@pytest.mark.parametrize("name, ok", [
    ("ab", True), ("a" * 64, True), ("a.b@c_d-E9", True),
    ("a", False), ("a" * 65, False), ("has space", False), ("slash/x", False), ("naïve", False), ("", False),
])
def test_role_session_name_rules(role, alice, name, ok):
    if ok:
        _, body = assume(alice, role, name)
        assert body.assumed_role_user.arn.endswith(f"/{name}")
    else:
        with api_error("InvalidParameter.RoleSessionName", 400):
            assume(alice, role, name)


# --------------------------------------------------------------------------- session policies


def test_session_policy_intersects_with_role_policies(role, alice):
    full, _ = assume(alice, role, "full")
    assert roles_seen_by(full) == ["ecs-admin"]
    ecs_only, _ = assume(alice, role, "ecs", policy=policy(allow("ecs:Describe*")))
    with api_error("NoPermission", 403) as denied:
        roles_seen_by(ecs_only)
    assert denied.value.access_denied_detail["AuthPrincipalType"] == "AssumedRoleUser"
    list_only, _ = assume(alice, role, "list", policy=policy(allow("ram:ListRoles")))
    assert roles_seen_by(list_only) == ["ecs-admin"]
    with api_error("NoPermission", 403):
        ram_client(list_only).get_role(M.GetRoleRequest(role_name="ecs-admin"))
    # A session policy cannot add what the role lacks.
    wider, _ = assume(alice, role, "wider", policy=policy(allow("ram:*")))
    with api_error("NoPermission", 403):
        ram_client(wider).create_role(M.CreateRoleRequest(role_name="x", assume_role_policy_document=trust(
            f"acs:ram::{ACCOUNT_B}:root")))


def test_session_policy_validation(role, alice):
    with api_error("InvalidParameter.PolicyGrammar", 400):
        assume(alice, role, policy="{not json")
    with api_error("InvalidParameter.PolicyGrammar", 400):
        assume(alice, role, policy=json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:*"}]}))
    base = policy(allow("ecs:Describe*", "acs:ecs:*:*:instance/"))
    exact = policy(allow("ecs:Describe*", "acs:ecs:*:*:instance/" + "i" * (2048 - len(base))))
    assert len(exact) == 2048
    assume(alice, role, policy=exact)
    over = policy(allow("ecs:Describe*", "acs:ecs:*:*:instance/" + "i" * (2049 - len(base))))
    with api_error("InvalidParameter.PolicySize", 400):
        assume(alice, role, policy=over)


# --------------------------------------------------------------------------- token lifetime


def test_token_expires_at_expiration(role, alice):
    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=False) as traveller:
        session, _ = assume(alice, role, duration_seconds=900)
        traveller.shift(timedelta(seconds=899))
        assert roles_seen_by(session) == ["ecs-admin"]
        traveller.shift(timedelta(seconds=1))
        with api_error("InvalidSecurityToken.Expired", 400):
            roles_seen_by(session)
        with api_error("InvalidSecurityToken.Expired", 400):
            sts_client(session).get_caller_identity()


def test_sts_key_without_or_with_wrong_token(role, alice):
    session, _ = assume(alice, role, "one")
    other, _ = assume(alice, role, "two")
    with api_error("MissingSecurityToken", 400):
        roles_seen_by(Credentials(session.access_key_id, session.access_key_secret, None))
    with api_error("InvalidSecurityToken.MismatchWithAccessKey", 400):
        roles_seen_by(Credentials(session.access_key_id, session.access_key_secret, other.security_token))
    with api_error("InvalidSecurityToken.MismatchWithAccessKey", 400):
        roles_seen_by(Credentials(alice.access_key_id, alice.access_key_secret, session.security_token))


def test_issued_token_follows_the_roles_current_policies(ram_a, role, alice):
    session, _ = assume(alice, role)
    assert roles_seen_by(session) == ["ecs-admin"]
    ram_a.detach_policy_from_role(M.DetachPolicyFromRoleRequest(policy_type="System",
                                                                policy_name="AliyunRAMReadOnlyAccess",
                                                                role_name="ecs-admin"))
    with api_error("NoPermission", 403):
        roles_seen_by(session)
    ram_a.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="System",
                                                            policy_name="AliyunRAMReadOnlyAccess",
                                                            role_name="ecs-admin"))
    assert roles_seen_by(session) == ["ecs-admin"]


def test_deleting_and_recreating_the_role_kills_old_tokens(ram_a, role, alice):
    old, _ = assume(alice, role)
    ram_a.detach_policy_from_role(M.DetachPolicyFromRoleRequest(policy_type="System",
                                                                policy_name="AliyunRAMReadOnlyAccess",
                                                                role_name="ecs-admin"))
    ram_a.delete_role(M.DeleteRoleRequest(role_name="ecs-admin"))
    make_role(ram_a, "ecs-admin", None, "AliyunRAMReadOnlyAccess")
    with api_error("NoPermission", 403):
        roles_seen_by(old)  # same name, new role: the old session is not a session of it
    new, _ = assume(alice, role)
    assert roles_seen_by(new) == ["ecs-admin"]


def test_assume_role_is_recorded_in_the_callers_trail(cloud, role, alice):
    session, body = assume(alice, role, "traced")
    roles_seen_by(session)
    (event,) = [e for e in cloud.trail.events(ACCOUNT_B) if e["eventName"] == "AssumeRole"]
    assert event["userIdentity"]["type"] == "ram-user" and event["userIdentity"]["userName"] == "alice"
    assert event["serviceName"] == "Sts" and event["eventSource"] == "sts.aliyuncs.com"
    assert event["responseElements"]["assumedRoleUser"]["arn"] == body.assumed_role_user.arn
    assert "AssumeRole" not in [e["eventName"] for e in cloud.trail.events(ACCOUNT_A)]
    (listed,) = [e for e in cloud.trail.events(ACCOUNT_A) if e["eventName"] == "ListRoles"]
    assert listed["userIdentity"]["type"] == "assumed-role"
    assert listed["requestParameters"]["stsTokenPlayerUid"] == ACCOUNT_B
    assert listed["requestParameters"]["stsTokenPrincipalName"] == "ecs-admin/traced"


def test_token_dies_exactly_at_the_advertised_expiration_second(role, alice):
    """`Expiration` has whole seconds; the token must stop working at that very instant, not up to
    a second later because the session was issued at .999 of a second."""
    issued_at = datetime(2026, 12, 1, 8, 0, 0, 999_000, tzinfo=timezone.utc)
    with time_machine.travel(issued_at, tick=False) as traveller:
        session, body = assume(alice, role, duration_seconds=900)
        advertised = datetime.strptime(body.credentials.expiration, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc)
        assert advertised == datetime(2026, 12, 1, 8, 15, 0, tzinfo=timezone.utc)
        traveller.move_to(advertised - timedelta(milliseconds=1))
        assert roles_seen_by(session) == ["ecs-admin"]
        traveller.move_to(advertised)
        with api_error("InvalidSecurityToken.Expired", 400):
            roles_seen_by(session)
        with api_error("InvalidSecurityToken.Expired", 400):
            assume(session, role, "chained")
