"""Red team: what an agreement file can make the guard and trust policies say.

A bucket writer chooses the agreement's conditions; the guard policy rolepact derives from them is what
RAM enforces on every call of a partner session. The safe outcome: weak conditions in disguise are
refused before any RAM write, and the guard of the largest agreement rolepact accepts still fits RAM.
"""
from __future__ import annotations

import json

import pytest
from alibabacloud_ram20150501 import models as ram_models
from conftest import SEED_ID, SEED_KEY, get_role, make_stage, ram, ram_writes, seed

from shared.agreements.parse import parse_agreement
from shared.documents import canonical, control_plane_denials, guard_policy, trust_policy


@pytest.mark.parametrize("ranges", [
    ["::ffff:0:0/96"],             # IPv4-mapped: every IPv4 address, written as one IPv6 range
    ["::ffff:0.0.0.0/97", "::ffff:128.0.0.0/97"],
    ["64:ff9b::/96"],              # NAT64's well-known prefix embeds every IPv4 address too
    ["::/96"],                     # IPv4-compatible (deprecated, still parsed)
    ["::ffff:10.0.0.0/100", "203.0.113.0/24"],  # a /4 of IPv4 plus a real range
])
def test_ipv6_ranges_that_embed_the_ipv4_internet_are_weak_settings(stage, ranges):
    """RAM documents acs:SourceIp ranges, not how it compares an IPv4 caller with an IPv6 range that embeds
    IPv4 addresses; a range that could cover more than a /8 of IPv4 that way is refused like 0.0.0.0/1."""
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(conditions__sourceIpRanges=ranges))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected", ranges
    assert any(e["path"] == "conditions.sourceIpRanges" and "IPv4" in e["message"] for e in status["errors"])
    assert ram_writes(stage.cloud) == writes and get_role(stage) is None


def test_the_largest_guard_fits_rams_limit_with_the_longest_names_outside_the_scheme(stage):
    """20 of the longest IPv6 ranges, a window, MFA, and a deployment whose bucket (63 characters) and FC
    service (128) do not follow a 63-character naming scheme, so both are denied by name as well: RAM takes
    the guard (6144 characters), created through the SDK."""
    doc = seed(conditions={"requireMfa": True, "sourceIpRanges": [
        f"2001:db8:{0x1000 + i:x}:ffff:ffff:ffff:ffff:ff00/120" for i in range(20)]})
    agreement = parse_agreement(json.dumps(doc).encode("utf-8"), key=SEED_KEY)
    guard = guard_policy(agreement, control_plane_denials(stage.owner_id, "b" * 63, "s" * 128, "p" * 63))
    assert len(canonical(guard)) <= 6144
    ram(stage.owner).create_policy(ram_models.CreatePolicyRequest(policy_name="largest-guard",
                                                                  policy_document=canonical(guard)))


def test_the_trust_policy_size_limit_is_the_deployments_setting(cloud):
    """One limit, ROLEPACT_MAX_TRUST_POLICY_CHARS: an account measured to take 4096 characters (the fake's
    limit raised to match) gets an agreement whose trust policy is 3000 characters long."""
    cloud.limits.trust_document_chars = 4096
    stage = make_stage(cloud, environment={"ROLEPACT_MAX_TRUST_POLICY_CHARS": "4096"})
    principals = [f"user/{'u' * 60}{i:02d}" for i in range(20)]
    doc = seed(partner__principals=principals, conditions__externalId="x" * 600)
    length = len(canonical(trust_policy(parse_agreement(json.dumps(doc).encode("utf-8"), key=SEED_KEY))))
    assert 2048 < length <= 4096
    stage.upload(SEED_KEY, doc)
    assert stage.status(SEED_ID)["state"] == "active", stage.status(SEED_ID).get("errors")


def test_the_default_trust_limit_refuses_up_front_naming_the_setting(stage):
    principals = [f"user/{'u' * 60}{i:02d}" for i in range(20)]
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(partner__principals=principals, conditions__externalId="x" * 600))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected" and ram_writes(stage.cloud) == writes
    [problem] = [e for e in status["errors"] if e["path"] == "partner.principals"]
    assert "ROLEPACT_MAX_TRUST_POLICY_CHARS" in problem["message"] and "2048" in problem["message"]



def test_rolepact_validate_measures_the_trust_policy_with_the_same_setting(tmp_path, monkeypatch, capsys):
    from shared.cli import main

    path = tmp_path / "long.json"
    path.write_text(json.dumps(seed(partner__principals=[f"user/{'u' * 60}{i:02d}" for i in range(20)],
                                    conditions__externalId="x" * 600)))
    monkeypatch.delenv("ROLEPACT_MAX_TRUST_POLICY_CHARS", raising=False)
    assert main(["validate", str(path)]) == 1
    assert "ROLEPACT_MAX_TRUST_POLICY_CHARS" in capsys.readouterr().out
    monkeypatch.setenv("ROLEPACT_MAX_TRUST_POLICY_CHARS", "4096")
    assert main(["validate", str(path)]) == 0


def test_an_action_allow_list_judges_system_wildcards_and_any_letter_case(cloud):
    """ROLEPACT_GRANTABLE_SERVICES as action patterns: a system policy is judged by the wildcards RAM returns
    for it (AliyunECSReadOnlyAccess also allows `ecs:List*`), and a custom action in another letter case is
    the same action (RAM matches actions case-insensitively) — within the list or not."""
    stage = make_stage(cloud, environment={"ROLEPACT_GRANTABLE_SERVICES": "ecs:Describe*,vpc:Describe*"})
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AliyunECSReadOnlyAccess"}]))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected" and any("ecs:List*" in e["message"] for e in status["errors"])

    def custom(*actions: str) -> list[dict]:
        return [{"type": "Custom", "name": "ops", "document": {"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}}]

    stage.upload("agreements/wide.json", seed(agreementId="b-wide", role__name="b-wide", policies=custom("ECS:*")))
    assert stage.status("b-wide")["state"] == "rejected"
    stage.upload("agreements/case.json", seed(agreementId="b-case", role__name="b-case",
                                              policies=custom("ECS:DESCRIBEINSTANCES", "Vpc:DescribeVpcs")))
    assert stage.status("b-case")["state"] == "active", stage.status("b-case").get("errors")


def test_a_partner_cannot_make_ecs_copy_between_rolepacts_bucket_and_an_image(stage):
    """ECS ExportImage/ImportImage write and read OSS with ECS's own service role (AliyunECSImage*DefaultRole,
    oss:* on every bucket), not with the caller's permissions: the guard's Deny on rolepact's bucket does not
    bind them. A partner with AliyunECSFullAccess (the seed) could export a disk into `control/`, `outbox/` or
    `status/`, or import any record of the bucket as an image and read it from an instance — so the guard
    denies both actions outright."""
    from test_review_guard_by_design import ram_decision, role_documents

    from fakecloud.iam.policy import Decision

    stage.upload(SEED_KEY, seed())
    documents = role_documents(stage)
    for action in ("ecs:ExportImage", "ecs:ImportImage"):
        assert ram_decision(documents, action, f"acs:ecs:{stage.region}:{stage.owner_id}:image/m-1") \
            == Decision.EXPLICIT_DENY, action
    assert ram_decision(documents, "ecs:CreateImage", f"acs:ecs:{stage.region}:{stage.owner_id}:image/m-1") \
        == Decision.ALLOW
