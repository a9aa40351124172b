"""Issue 14: what an agreement grants (counted), and the proposal built from what was used.

The proposal's two promises are checked with RAM's own evaluation (the fake's evaluator):
every call the partner was allowed to make is still allowed, and nothing is allowed that the
agreement did not allow — for generated agreements and calls (hypothesis) as well as for the
cases written out.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakecloud.iam.policy.evaluator import Decision, RequestContext, evaluate
from shared.agreements.model import Agreement, Party, PolicyGrant
from shared.rightsize.granted import count_document, granted_policies, total
from shared.rightsize.proposal import build_policy
from shared.rightsize.usage import UsageCollector

A, B, C = "1234567890123456", "1345678901234567", "1456789012345678"
REGION = "cn-hangzhou"
SYSTEM = json.loads((Path(__file__).resolve().parents[2] / "fakecloud/services/ram/system_policies.json").read_text())
T0 = datetime(2027, 3, 1, tzinfo=timezone.utc)


def instance(name: str) -> str:
    return f"acs:ecs:{REGION}:{A}:instance/{name}"


def agreement(*policies: PolicyGrant) -> Agreement:
    return Agreement("ag-1", Party(A, "company-a"), Party(B, "company-b"), ("root",), "ops", "", 3600,
                     tuple(policies), None, T0 + timedelta(days=30), "delete-role", source_key="agreements/ag-1.json")


def custom(name: str, *statements: dict) -> PolicyGrant:
    return PolicyGrant("Custom", name, {"Version": "1", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def event(action: str, *, target: str | None = None, read: bool = False, error: str | None = None,
          player: str = B, session: str = "alice", n: list = [0]) -> dict:  # noqa: B006 - a counter
    n[0] += 1
    service, name = action.split(":")
    found = {"eventId": f"e-{n[0]}", "eventTime": "2027-03-02T10:00:00Z", "eventName": name,
             "serviceName": service.capitalize(), "eventRW": "Read" if read else "Write", "acsRegion": REGION,
             "eventType": "ApiCall",
             "userIdentity": {"type": "assumed-role", "userName": f"ops:{session}", "accessKeyId": f"STS.{session}"},
             "requestParameters": {"stsTokenPlayerUid": player},
             "rolepact": {"agreementId": "ag-1", "kind": "partner"}}
    if target:
        found.update(resourceType="ACS::ECS::Instance", resourceName=target)
    if error:
        found["errorCode"] = error
    return found


def usage_of(ag: Agreement, events: list[dict]):
    return UsageCollector([ag], T0, T0 + timedelta(days=2)).feed_all(events)["ag-1"]


def allowed(policies: list[dict], action: str, resource: str) -> bool:
    return evaluate(policies, RequestContext(action, resource)) is Decision.ALLOW


# ============================================================================ what is granted
def test_system_policies_are_counted_by_their_document():
    full, uncounted = count_document(SYSTEM["AliyunECSFullAccess"]["PolicyDocument"])
    assert uncounted == () and {"ecs:StopInstance", "vpc:DescribeVpcs", "vpc:DescribeVSwitches"} <= full
    assert len(full) > 300 and all(a.startswith(("ecs:", "vpc:")) for a in full)
    read_only, _ = count_document(SYSTEM["AliyunECSReadOnlyAccess"]["PolicyDocument"])
    assert "ecs:DescribeInstances" in read_only and "ecs:StopInstance" not in read_only
    assert read_only < full
    oss, uncounted = count_document(SYSTEM["AliyunOSSFullAccess"]["PolicyDocument"])
    assert oss == frozenset() and uncounted == ("oss:*",)


def test_a_deny_everywhere_takes_actions_out_of_the_count_and_a_scoped_one_does_not():
    everywhere, _ = count_document({"Version": "1", "Statement": [
        allow("ecs:*"), {"Effect": "Deny", "Action": "ecs:Delete*", "Resource": "*"}]})
    scoped, _ = count_document({"Version": "1", "Statement": [
        allow("ecs:*"), {"Effect": "Deny", "Action": "ecs:Delete*", "Resource": instance("prod")}]})
    assert "ecs:DeleteInstance" not in everywhere and "ecs:DeleteInstance" in scoped
    assert len(scoped) - len(everywhere) == sum(1 for a in scoped if a.startswith("ecs:Delete"))


def test_the_agreement_total_is_the_union_and_unreadable_documents_are_said():
    ag = agreement(PolicyGrant("System", "AliyunECSFullAccess"), custom("restart", allow(
        ["ecs:RebootInstance", "ecs:StartInstance", "ecs:StopInstance"], f"acs:ecs:*:{A}:instance/*")),
        PolicyGrant("System", "AliyunGone"))
    policies = granted_policies(ag, {"AliyunECSFullAccess": SYSTEM["AliyunECSFullAccess"]["PolicyDocument"],
                                     "AliyunGone": None})
    full, restart, gone = policies
    assert restart.count == 3 and gone.count == 0 and gone.uncounted == ("(document not readable)",)
    known, uncounted = total(policies)
    assert known == full.known and uncounted == ("(document not readable)",)


# ============================================================================ the proposal
def test_writes_are_scoped_to_their_instance_reads_to_what_was_granted():
    ag = agreement(PolicyGrant("System", "AliyunECSFullAccess"))
    policies = granted_policies(ag, {"AliyunECSFullAccess": SYSTEM["AliyunECSFullAccess"]["PolicyDocument"]})
    usage = usage_of(ag, [event("ecs:DescribeInstances", target="i-1", read=True), event("ecs:StopInstance", target="i-1"),
                          event("ecs:StopInstance", target="i-2", session="bob"),
                          event("ecs:StartInstance", target="i-1", error="Forbidden.RAM"),
                          event("ecs:RebootInstance", target="i-3", error="IncorrectInstanceStatus")])
    policy, not_granted = build_policy(usage, policies)
    assert not_granted == []
    assert policy == {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:DescribeInstances"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecs:StopInstance"], "Resource": [instance("i-1"), instance("i-2")]},
        {"Effect": "Allow", "Action": ["ecs:RebootInstance"], "Resource": [instance("i-3")]},
    ]}
    assert [u.action for u in usage.denied] == ["ecs:StartInstance"]  # denied: never proposed


def test_unnamed_resources_fall_back_to_what_the_agreement_granted_never_to_more():
    narrow = f"acs:ecs:*:{A}:instance/*"
    ag = agreement(custom("restart", allow(["ecs:StopInstance"], narrow)))
    policies = granted_policies(ag, {})
    usage = usage_of(ag, [event("ecs:StopInstance")])  # ActionTrail named no resource
    policy, _ = build_policy(usage, policies)
    assert policy["Statement"] == [{"Effect": "Allow", "Action": ["ecs:StopInstance"], "Resource": [narrow]}]
    # a named resource the agreement's Resource does not cover (a forged or odd event) is not trusted either
    odd = usage_of(ag, [event("ecs:StopInstance", target="i-1") | {"acsRegion": "cn-beijing"}])
    policy, _ = build_policy(odd, granted_policies(agreement(custom("one", allow("ecs:StopInstance", instance("*")))),
                                                   {}))
    assert policy["Statement"][0]["Resource"] == [instance("*")]


def test_conditions_and_denies_of_the_agreement_come_along():
    condition = {"IpAddress": {"acs:SourceIp": ["203.0.113.0/24"]}}
    deny = {"Effect": "Deny", "Action": "ecs:Stop*", "Resource": instance("prod")}
    ag = agreement(custom("p", allow("ecs:Stop*", "*", Condition=condition), deny,
                          {"Effect": "Deny", "Action": "oss:*", "Resource": "*"}))
    policy, _ = build_policy(usage_of(ag, [event("ecs:StopInstance")]), granted_policies(ag, {}))
    assert policy["Statement"] == [
        {"Effect": "Allow", "Action": ["ecs:StopInstance"], "Resource": "*", "Condition": condition}, deny]


def test_used_actions_no_agreed_policy_allows_are_left_out():
    ag = agreement(custom("p", allow("ecs:DescribeInstances")))
    usage = usage_of(ag, [event("ecs:DescribeInstances", read=True), event("ecs:DeleteInstance", target="i-1")])
    policy, not_granted = build_policy(usage, granted_policies(ag, {}))
    assert not_granted == ["ecs:DeleteInstance"]
    assert [s["Action"] for s in policy["Statement"]] == [["ecs:DescribeInstances"]]


def test_other_accounts_and_other_agreements_never_count():
    ag = agreement(PolicyGrant("System", "AliyunECSFullAccess"))
    foreign = event("ecs:StopInstance", target="i-9", player=C, session="mallory")
    other = event("ecs:RebootInstance", target="i-1") | {"rolepact": {"agreementId": "ag-2", "kind": "partner"}}
    renamed = event("ecs:RebootInstance", target="i-1") | {"userIdentity": {"type": "assumed-role",
                                                                             "userName": "other-role:alice"}}
    stop = event("ecs:StopInstance", target="i-1")
    usage = usage_of(ag, [foreign, other, renamed, stop, dict(stop)])  # the same event stored twice
    assert [u.action for u in usage.allowed] == ["ecs:StopInstance"] and usage.actions["ecs:StopInstance"].allowed == 1
    assert list(usage.foreign) == ["ecs:StopInstance"] and usage.foreign["ecs:StopInstance"].principals == {
        f"{C}/mallory": 1}


# ============================================================================ the two promises, generated
ACTIONS = ["ecs:StopInstance", "ecs:StartInstance", "ecs:RebootInstance", "ecs:DescribeInstances"]
INSTANCES = ["i-1", "i-2", "i-3"]
RESOURCES = ["*", f"acs:ecs:*:{A}:instance/*", instance("i-1"), instance("i-2"), f"acs:ecs:{REGION}:*:instance/i-3"]
patterns = st.sampled_from(ACTIONS + ["ecs:*", "ecs:St*", "ecs:*Instance"])
statements_ = st.fixed_dictionaries({
    "Effect": st.sampled_from(["Allow", "Allow", "Allow", "Deny"]),
    "Action": st.lists(patterns, min_size=1, max_size=3, unique=True),
    "Resource": st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2, unique=True)})
calls = st.lists(st.tuples(st.sampled_from(ACTIONS), st.sampled_from(INSTANCES), st.booleans()), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=st.lists(st.lists(statements_, min_size=1, max_size=3), min_size=1, max_size=3), made=calls)
def test_the_proposal_allows_every_call_that_was_allowed_and_nothing_the_agreement_did_not(documents, made):
    ag = agreement(*(custom(f"p{i}", *statements) for i, statements in enumerate(documents)))
    original = [{"Version": "1", "Statement": s} for s in documents]
    events, worked = [], []
    for action, target, names_it in made:
        read = action == "ecs:DescribeInstances"
        resource = f"acs:ecs:{REGION}:{A}:instance/*" if read else instance(target)  # as ECS authorizes it
        ok = allowed(original, action, resource)
        events.append(event(action, target=target if names_it else None, read=read,
                            error=None if ok else "Forbidden.RAM"))
        if ok:
            worked.append((action, resource))
    policy, not_granted = build_policy(usage_of(ag, events), granted_policies(ag, {}))
    assert not_granted == []
    proposed = [policy] if any(s["Effect"] == "Allow" for s in policy["Statement"]) else []
    for action, resource in worked:
        assert allowed(proposed, action, resource), (action, resource, policy)
    for action in ACTIONS:
        for resource in [instance(i) for i in INSTANCES + ["other"]] + [f"acs:ecs:{REGION}:{A}:instance/*",
                                                                         f"acs:ecs:cn-beijing:{A}:instance/i-1"]:
            if allowed(proposed, action, resource):
                assert allowed(original, action, resource), (action, resource, policy)
    assert {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]} == {a for a, _ in worked}
