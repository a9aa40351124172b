"""Seed fact: where ActionTrail records a cross-account role's use, and after what delay.

The access audit reads the *owner's* trail: it expects the calls made with a partner's session
there (userIdentity type assumed-role, accountId = owner, stsTokenPlayerUid = the partner account)
[D help/en/actiontrail/user-guide/query-actiontrail-events-by-assuming-a-ram-role], and the
AssumeRole call itself in the *caller's* trail [D …/assume-a-ram-role-as-a-ram-user]; whether the
owner's trail also records AssumeRole is undocumented (observed). RAM's events are global and
stored in cn-hangzhou (China site) [M GetGlobalEventsStorageRegion]. Delivery delays are not
documented: measured (the audit re-reads ROLEPACT_AUDIT_OVERLAP_MINUTES back).
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from .conformance_kit import assume_role, trust_policy

TRAIL_DOC = "help/en/actiontrail/user-guide/query-actiontrail-events-by-assuming-a-ram-role"
GLOBAL_REGION = "cn-hangzhou"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _events(identity, region: str, event_name: str, since: datetime) -> list[dict]:
    from alibabacloud_actiontrail20200706 import models

    request = models.LookupEventsRequest(
        start_time=_iso(since), end_time=_iso(datetime.now(timezone.utc) + timedelta(minutes=5)),
        lookup_attribute=[models.LookupEventsRequestLookupAttribute(key="EventName", value=event_name)],
        max_results="50")
    return identity.trail(region).lookup_events(request).body.events or []


def test_where_assume_role_and_the_sessions_calls_are_recorded(owner, partner, build, observe, wait, target):
    from alibabacloud_ram20150501 import models

    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    alice = build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    role = build.role(owner, "trail", trust_policy(f"acs:ram::{partner.account_id}:root"))
    policy = build.policy(owner, "read", {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:GetRole", "Resource": f"acs:ram:*:{owner.account_id}:role/{role}"}]})
    owner.ram.attach_policy_to_role(models.AttachPolicyToRoleRequest(policy_type="Custom", policy_name=policy,
                                                                     role_name=role))
    session_name = f"{role[-20:]}-s".lstrip("-")
    session, _ = wait(lambda: assume_role(alice, f"acs:ram::{owner.account_id}:role/{role}", session_name),
                      what="AssumeRole")
    wait(lambda: session.ram.get_role(models.GetRoleRequest(role_name=role)), what="the session's GetRole")
    acted = time.monotonic()

    def mine(events: list[dict]) -> list[dict]:
        return [e for e in events if session_name in str(e.get("userIdentity", {}).get("userName", ""))
                or session_name in str(e.get("requestParameters", {}).get("RoleSessionName", ""))]

    assumed, _ = wait(lambda: mine(_events(partner, target.region, "AssumeRole", started)),
                            what="AssumeRole in the partner's trail")
    observe("AssumeRole appears in the caller's (partner's) trail after (s)", round(time.monotonic() - acted, 1),
            "help/en/actiontrail/user-guide/assume-a-ram-role-as-a-ram-user")
    record = assumed[0]
    observe("AssumeRole event: userIdentity.type / accountId",
            [record["userIdentity"].get("type"), _who(record["userIdentity"].get("accountId"), owner, partner)],
            "help/en/actiontrail/user-guide/assume-a-ram-role-as-a-ram-user")

    used, _ = wait(lambda: mine(_events(owner, GLOBAL_REGION, "GetRole", started)),
                   what="the session's GetRole in the owner's trail")
    observe("the session's RAM call appears in the owner's trail (global region) after (s)",
            round(time.monotonic() - acted, 1), TRAIL_DOC)
    identity = used[0]["userIdentity"]
    parameters = used[0].get("requestParameters", {})
    observe("session call: userIdentity.type / accountId / stsTokenPlayerUid",
            [identity.get("type"), _who(identity.get("accountId"), owner, partner),
             _who(str(parameters.get("stsTokenPlayerUid", "")), owner, partner)], TRAIL_DOC)
    assert identity.get("type") == "assumed-role" and identity.get("accountId") == owner.account_id
    assert str(parameters.get("stsTokenPlayerUid")) == partner.account_id

    in_owner = mine(_events(owner, target.region, "AssumeRole", started))
    observe("AssumeRole also appears in the role owner's trail", bool(in_owner), "undocumented [?]")


def _who(account_id, owner, partner) -> str:
    return {owner.account_id: "owner", partner.account_id: "partner"}.get(str(account_id), str(account_id))
