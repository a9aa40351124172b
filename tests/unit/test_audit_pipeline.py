"""The access-audit pipeline and normalization, without a cloud."""
from __future__ import annotations

import ipaddress

from shared.audit.model import AgreementView
from shared.audit.normalize import normalize_event, normalize_time, parse_payload
from shared.audit.pipeline import Pipeline
from shared.audit.views import pick_views

B = "1345678901234567"


def view(agreement_id="a1", role="ecs-admin", state="active", ended_reason=None, ends_at="2027-06-01T00:00:00Z"):
    return AgreementView(agreement_id=agreement_id, role_name=role, partner_account=B, partner_alias="company-b",
                         principals=("root",), starts_at="2027-01-01T00:00:00Z", ends_at=ends_at,
                         ended_reason=ended_reason, networks=(ipaddress.ip_network("203.0.113.0/24"),),
                         policy_prefix="rp-0123456789-", state=state)


def event(event_id, time, name="DescribeInstances", service="Ecs", session="alice", error=None, read=True):
    record = {"eventId": event_id, "eventTime": time, "eventName": name, "serviceName": service,
              "eventRW": "Read" if read else "Write", "sourceIpAddress": "203.0.113.7",
              "userIdentity": {"type": "assumed-role", "userName": f"ecs-admin:{session}"},
              "requestParameters": {"stsTokenPlayerUid": B}}
    if error:
        record["errorCode"] = error
    return record


def test_duplicates_are_found_in_input_that_goes_back_in_time():
    pipeline = Pipeline([view()])
    hours = [f"2027-03-01T{h:02d}:30:00Z" for h in range(9, 3, -1)]  # newest first, as LookupEvents pages come
    for n, time in enumerate(hours):
        pipeline.feed(event(f"e{n}", time))
        pipeline.feed(event(f"e{n}", time))  # the same event again (another page, another region)
    assert pipeline.counts["duplicates"] == len(hours)
    assert pipeline.activity["a1"].events == len(hours)


def test_ims_events_are_ram_actions():
    pipeline = Pipeline([view()], sensitive_actions=("ram:*",))
    [finding] = pipeline.feed(event("e1", "2027-03-01T10:00:00Z", name="CreateUser", service="Ims", read=False))
    assert (finding.rule, finding.action) == ("sensitive-action", "ram:CreateUser")


def test_normalized_events_keep_activitytrail_names_with_uniform_types():
    raw = event("e1", "2027-03-01T18:00:00.250+08:00", read=False)
    raw["requestParameters"] = {"stsTokenPlayerUid": int(B), "AcsHost": "ecs.aliyuncs.com", "Huge": "x" * 10_000}
    raw["errorCode"] = ""
    normalized, problem = normalize_event(raw)
    assert problem is None
    assert normalized["eventTime"] == "2027-03-01T10:00:00Z"
    assert normalized["requestParameters"] == {"stsTokenPlayerUid": B}
    assert "errorCode" not in normalized
    change = dict(event("e2", "2027-03-01T10:00:00Z", name="UpdateRole", service="Ram", read=False),
                  requestParameters={"RoleName": "ecs-admin", "NewAssumeRolePolicyDocument": "{}" * 2000,
                                     "AcsHost": "ram.aliyuncs.com"})
    normalized, _ = normalize_event(change)
    assert set(normalized["requestParameters"]) == {"RoleName", "NewAssumeRolePolicyDocument"}
    assert len(normalized["requestParameters"]["NewAssumeRolePolicyDocument"]) == 2000
    assert normalize_time("yesterday") is None and normalize_time(20270301) is None


def test_payloads_that_are_not_events_are_kept_as_malformed():
    assert parse_payload(b"").kind == "malformed"
    assert parse_payload(b"[]").kind == "malformed"
    assert parse_payload(b'{"triggerTime": "2027-03-01T00:00:00Z"}').kind == "timer"
    payload = parse_payload(b'[{"type": "ecs:ActionTrail:ApiCall", "data": {"eventId": "x"}}]')
    assert payload.events == [] and payload.malformed[0]["reason"] == "ActionTrail record has no valid eventTime"


def test_one_view_per_role_the_live_agreement_first():
    old = view("old", state="ended", ended_reason="expired", ends_at="2027-02-01T00:00:00Z")
    new = view("new")
    assert [v.agreement_id for v in pick_views([new, old])] == ["new"]
    assert [v.agreement_id for v in pick_views([old, new])] == ["new"]
    older = view("older", state="ended", ended_reason="expired", ends_at="2027-01-01T00:00:00Z")
    assert [v.agreement_id for v in pick_views([old, older])] == ["old"]
