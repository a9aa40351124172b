"""Issue 14 acceptance: right-size at renewal, the seed scenario end to end.

Alice (company-b) describes A's instances and stops one; the access audit stores her calls;
`rolepact rightsize` proposes exactly ecs:DescribeInstances and ecs:StopInstance (the latter on
that instance only); at renewal the first pre-expiry notice and the daily digest carry the
one-line summary and the proposal lands in proposals/; uploading it over the agreement grants
it, and RAM then lets Alice do exactly that work and nothing else.
"""
from __future__ import annotations

import json
from datetime import timedelta

from audit_support import (  # noqa: F401 - fixtures
    SEED_ID, T0, assume, clock, describe, digests, ecs, fake, keys, next_digest_time, notices, partner_user,
    provision, refused, seed_doc, seed_instance, stage, start, stop, tick,
)
from alibabacloud_ecs20140526 import models as ecs_models
from rightsize_support import INSTANCE_ARN, allows, pull, rightsize, rightsize_json, stored_proposal


def describe_all(creds) -> list[str]:
    body = ecs(creds).describe_instances(ecs_models.DescribeInstancesRequest(region_id="cn-hangzhou")).body
    return [i.instance_id for i in body.instances.instance]


def test_the_seed_is_right_sized_and_the_proposal_grants_exactly_that(stage, clock, monkeypatch, capsys):
    web, other = seed_instance(stage, "web-1"), seed_instance(stage, "web-2")
    expires = T0 + timedelta(days=30)
    doc = seed_doc(expires=expires)
    provision(stage, doc)
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    assert sorted(describe_all(alice)) == sorted([web, other])
    stop(alice, web)
    stage.deliver()
    pull(stage, clock)

    code, report = rightsize_json(stage, monkeypatch, capsys, SEED_ID)
    assert code == 0, report
    proposal = report["proposal"]
    assert proposal["problems"] == [] and proposal["actions"] == ["ecs:DescribeInstances", "ecs:StopInstance"]
    [policy] = proposal["agreement"]["policies"]
    assert policy["type"] == "Custom"
    assert allows(policy["document"]) == {"ecs:DescribeInstances": "*", "ecs:StopInstance": [INSTANCE_ARN.format(web)]}
    # the same agreement otherwise
    assert {k: v for k, v in proposal["agreement"].items() if k != "policies"} == \
           {k: v for k, v in doc.items() if k != "policies"}
    assert [(u["action"], u["allowed"]) for u in report["used"]["allowed"]] == \
           [("ecs:DescribeInstances", 1), ("ecs:StopInstance", 1)]
    assert report["used"]["denied"] == [] and report["used"]["principals"] == {"company-b/alice": 2}
    policies = {p["name"]: p for p in report["granted"]["policies"]}
    full = policies["AliyunECSFullAccess"]
    assert full["used"] == ["ecs:DescribeInstances", "ecs:StopInstance"] and full["actions"] > 300
    assert full["unusedShare"] == round(1 - 2 / full["actions"], 4)
    assert policies["ecs-restart-web"]["actions"] == 3 and policies["ecs-restart-web"]["used"] == ["ecs:StopInstance"]
    assert report["summary"].startswith(f"used 2 of {report['granted']['actions']} actions of AliyunECSFullAccess (2 of ")
    assert "and ecs-restart-web (1 of 3)" in report["summary"]
    assert stored_proposal(stage, SEED_ID) is None  # the command writes nothing

    code, text, _ = rightsize(stage, monkeypatch, capsys, SEED_ID)
    assert code == 0 and "passes validation and the guardrails" in text and INSTANCE_ARN.format(web) in text

    tick(stage, clock, next_digest_time(T0))  # a month from expiry: not at renewal yet
    assert "Right-size" not in digests(stage)[-1]["text"] and stored_proposal(stage, SEED_ID) is None

    # Renewal time: the first pre-expiry notice (7 days) carries the line; the proposal is in the bucket.
    tick(stage, clock, expires - timedelta(days=7) + timedelta(minutes=1))
    [seven] = [n for n in notices(stage) if n["title"].endswith("expires in 7d")]
    line = f"{report['summary']}; proposal: `proposals/{SEED_ID}.json`"
    assert line in seven["text"], seven["text"]
    written = stored_proposal(stage, SEED_ID)
    assert written == proposal["agreement"]
    assert f"proposals/{SEED_ID}.usage.json" in keys(stage, "proposals/")
    # ... and the daily digest, one line per agreement at renewal.
    tick(stage, clock, next_digest_time(expires - timedelta(days=7)))
    digest = digests(stage)[-1]
    assert f"`{SEED_ID}`: {line}" in digest["text"], digest["text"]
    # The later notice (1 day) does not repeat it.
    tick(stage, clock, expires - timedelta(days=1) + timedelta(minutes=1))
    [one] = [n for n in notices(stage) if n["title"].endswith("expires in 1d")]
    assert "proposals/" not in one["text"]
    # Nothing was applied by itself.
    assert stage.status(SEED_ID)["digest"] and "rightsized" not in json.dumps(stage.status(SEED_ID)["onboarding"])

    # The owner renews by uploading the proposal as the agreement (over its file).
    renewed = dict(written, expiresAt=(expires + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    stage.upload(f"agreements/{SEED_ID}.json", renewed)
    status = stage.status(SEED_ID)
    assert status["state"] == "active" and status["lastUpload"]["result"] == "applied", status
    alice = assume(stage, partner_user(stage, "alice2"), "alice")
    assert sorted(describe_all(alice)) == sorted([web, other])
    start(stage.owner, web)
    stop(alice, web)  # still allowed: that instance
    assert describe(stage.owner, web)[0].status == "Stopped"
    refused(lambda: start(alice, web), "Forbidden.RAM")  # never used: not granted any more
    refused(lambda: stop(alice, other), "Forbidden.RAM")  # another instance
