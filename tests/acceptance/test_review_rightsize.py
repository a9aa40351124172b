"""Review of issue 14 (right-size at renewal) with cases its authors did not test, as a user would meet
them: OSS work through the real oss2 SDK, policies whose actions cannot all be counted, and the analysis
failing for real (the fake's fault injection on the bucket's audit objects, and on RAM) while the notice
and the digest still go out.
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import oss2
import pytest

from audit_support import (  # noqa: F401 - fixtures
    A, REGION, SEED_ID, T0, assume, clock, digests, fake, keys, next_digest_time, notices, partner_user, provision,
    record, seed_doc, seed_instance, session_caller, stage, stop, tick, trail_event, use_settings,
)
from rightsize_support import allows, pull, rightsize, rightsize_json

DATA = "shared-data"


def bucket(creds, name: str = DATA) -> oss2.Bucket:
    auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token) \
        if creds.security_token else oss2.Auth(creds.access_key_id, creds.access_key_secret)
    return oss2.Bucket(auth, f"https://oss-{REGION}.aliyuncs.com", name)


def grant_oss(stage, monkeypatch) -> None:
    """ROLEPACT_GRANTABLE_SERVICES with oss, for the functions (a redeploy) and the owner's CLI."""
    grantable = (*stage.settings.guardrails.grantable, "oss")
    use_settings(stage, guardrails=dataclasses.replace(stage.settings.guardrails, grantable=grantable))
    monkeypatch.setenv("ROLEPACT_GRANTABLE_SERVICES", ",".join(grantable))


def oss_agreement(policies: list[dict]) -> dict:
    doc = seed_doc(expires=T0 + timedelta(days=30), agreementId="b-data")
    doc["role"] = {"name": "data-exchange", "maxSessionDurationSeconds": 3600}
    doc["policies"] = policies
    return doc


def test_a_proposal_from_copies_still_lets_the_partner_copy(stage, clock, monkeypatch, capsys):
    """CopyObject is recorded on its target but reads its source: the proposal must not pin
    oss:GetObject to the target, or the renewed agreement refuses the very copy it was made from."""
    grant_oss(stage, monkeypatch)
    bucket(stage.owner).create_bucket()
    bucket(stage.owner).put_object("in/source.csv", b"a,b\n")
    doc = oss_agreement([{"type": "Custom", "name": "exchange", "document": {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["oss:GetObject", "oss:PutObject"], "Resource": f"acs:oss:*:{A}:{DATA}/*"}]}}])
    provision(stage, doc)
    alice = assume(stage, partner_user(stage, "alice"), "alice", role="data-exchange")
    bucket(alice).copy_object(DATA, "in/source.csv", "out/copy.csv")
    stage.deliver()
    pull(stage, clock)

    code, report = rightsize_json(stage, monkeypatch, capsys, "b-data")
    assert code == 0, report
    granted = allows(report["proposal"]["agreement"]["policies"][0]["document"])
    assert granted["oss:PutObject"] == [f"acs:oss:*:{A}:{DATA}/out/copy.csv"]  # the target: scoped
    assert granted["oss:GetObject"] == [f"acs:oss:*:{A}:{DATA}/*"]  # the source is not in the event

    renewed = dict(report["proposal"]["agreement"], expiresAt="2027-04-15T00:00:00Z")
    stage.upload("agreements/b-data.json", renewed)  # through intake, as the owner renews
    assert stage.status("b-data")["lastUpload"]["result"] == "applied"
    alice = assume(stage, partner_user(stage, "alice2"), "alice", role="data-exchange")
    bucket(alice).copy_object(DATA, "in/source.csv", "out/copy.csv")  # the same work still works
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket(alice).put_object("out/other.csv", b"x")  # and nothing else is written


def test_a_policy_rolepact_cannot_count_is_never_reported_as_fully_used(stage, clock, monkeypatch, capsys):
    """AliyunOSSFullAccess grants oss:*, and OSS has no catalogue of actions: "used 2 of 0" or
    "used 2 of at least 2" would tell the owner the grant was used in full."""
    grant_oss(stage, monkeypatch)
    bucket(stage.owner).create_bucket()
    bucket(stage.owner).put_object("in/a.txt", b"hello")
    provision(stage, oss_agreement([{"type": "System", "name": "AliyunOSSFullAccess"}]))
    alice = assume(stage, partner_user(stage, "alice"), "alice", role="data-exchange")
    bucket(alice).get_object("in/a.txt").read()
    bucket(alice).put_object("out/b.txt", b"x")
    stage.deliver()
    pull(stage, clock)

    code, text, _ = rightsize(stage, monkeypatch, capsys, "b-data")
    assert code == 0, text
    summary = text.splitlines()[2]
    assert summary == "used 2 of an uncounted number of actions of AliyunOSSFullAccess (oss:* cannot be counted)"
    [line] = [ln for ln in text.splitlines() if ln.startswith("  AliyunOSSFullAccess (System)")]
    assert line == "  AliyunOSSFullAccess (System): used 2 of ? (+ uncounted: oss:*) — unused share unknown"


def test_the_notice_goes_out_when_the_stored_events_cannot_be_read(stage, clock):
    """A real fault, not a patched function: the bucket answers InternalError for every read of the
    audit's stored events (only those) when the first pre-expiry notice is due."""
    web = seed_instance(stage)
    expires = T0 + timedelta(days=10)
    provision(stage, seed_doc(expires=expires))
    stop(assume(stage, partner_user(stage, "alice"), "alice"), web)
    stage.deliver()
    pull(stage, clock)
    fault = stage.cloud.faults.fail("GetObject", service="oss", resource_prefix=f"{stage.bucket}/audit/events/",
                                    code="InternalError", times=10_000)
    tick(stage, clock, expires - timedelta(days=7) + timedelta(minutes=1))
    assert fault.fired > 0
    [notice] = [n for n in notices(stage) if n["title"].endswith("expires in 7d")]
    assert (f"**Right-size at renewal:** right-size not available this time (InternalError); "
            f"run `rolepact rightsize {SEED_ID}`") in notice["text"]
    assert "loses access to **ecs-admin**" in notice["text"]  # the notice itself is whole
    assert keys(stage, "proposals/") == []  # nothing half-written

    stage.cloud.faults.clear()  # RAM fails next: the digest still goes out, with the same hint
    fault = stage.cloud.faults.fail("GetPolicy", service="ram", code="ServiceUnavailable", times=10_000)
    tick(stage, clock, next_digest_time(expires - timedelta(days=7)))
    assert fault.fired > 0
    digest = digests(stage)[-1]["text"]
    assert (f"- `{SEED_ID}`: right-size not available this time (ServiceUnavailable); "
            f"run `rolepact rightsize {SEED_ID}`") in digest
    assert keys(stage, "proposals/") == []

    stage.cloud.faults.clear()  # the next day it works again, and the proposal is written
    tick(stage, clock, next_digest_time(expires - timedelta(days=6)))
    assert f"- `{SEED_ID}`: used 1 of " in digests(stage)[-1]["text"]
    assert keys(stage, "proposals/") == [f"proposals/{SEED_ID}.json", f"proposals/{SEED_ID}.usage.json"]


def test_the_renewal_line_says_when_a_used_action_is_left_out(stage, clock):
    """An allowed call no agreed policy allows (an ActionTrail name the mapping gets wrong, or a forged
    event) is left out of the proposal: the notice must say so, or the owner uploads a proposal that
    cuts the partner off from work it did."""
    web = seed_instance(stage)
    expires = T0 + timedelta(days=10)
    doc = seed_doc(expires=expires)
    doc["policies"] = [p for p in doc["policies"] if p["type"] == "Custom"]  # ecs-restart-web only
    provision(stage, doc)
    stop(assume(stage, partner_user(stage, "alice"), "alice"), web)
    record(stage, trail_event(session_caller(session="alice"), "DescribeInstances", read=True))  # RAM allowed it?
    pull(stage, clock)
    tick(stage, clock, expires - timedelta(days=7) + timedelta(minutes=1))
    [notice] = [n for n in notices(stage) if n["title"].endswith("expires in 7d")]
    assert ("used 1 of 3 actions of ecs-restart-web; proposal: `proposals/company-b-ecs-admin.json` (leaves out "
            "`ecs:DescribeInstances`, used but allowed by no agreed policy: check before uploading)") in notice["text"]


def test_a_custom_only_agreement_over_several_services(stage, clock, monkeypatch, capsys):
    """The partner used actions only through one custom policy whose statement lists resources of two
    services, and called both: each proposed action keeps only the resources of its own service, the
    write is pinned to its instance, and the proposal passes intake."""
    web = seed_instance(stage)
    doc = seed_doc(expires=T0 + timedelta(days=30))
    doc["policies"] = [{"type": "Custom", "name": "ops", "document": {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:StopInstance", "vpc:DescribeVpcs"],
         "Resource": [f"acs:ecs:*:{A}:instance/*", f"acs:vpc:*:{A}:*"]}]}}]
    provision(stage, doc)
    stop(assume(stage, partner_user(stage, "alice"), "alice"), web)
    record(stage, trail_event(session_caller(session="alice"), "DescribeVpcs", service="Vpc", read=True,
                              resource=None))
    pull(stage, clock)

    code, report = rightsize_json(stage, monkeypatch, capsys, SEED_ID)
    assert code == 0, report
    assert allows(report["proposal"]["agreement"]["policies"][0]["document"]) == {
        "ecs:StopInstance": [f"acs:ecs:{REGION}:{A}:instance/{web}"], "vpc:DescribeVpcs": [f"acs:vpc:*:{A}:*"]}
    assert report["summary"].startswith("used 2 of ")
    stage.upload(f"agreements/{SEED_ID}.json", report["proposal"]["agreement"])
    assert stage.status(SEED_ID)["lastUpload"]["result"] == "applied"
