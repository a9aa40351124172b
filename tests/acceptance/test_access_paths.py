"""Issue 11 items 2, 3 and 8: what the partner can really do, per agreed conditions.

- acs:MFAPresent is true only in a console session signed in with MFA, and the console's Switch Role
  cannot pass an ExternalId: `requireMfa` + `externalId` is refused up front; every other combination
  gets exactly the paths that work in its onboarding pack, and each of them works (console, CLI, SDK).
- The trust policy carries only `sts:ExternalId` (documented for trust policies) unless
  ROLEPACT_TRUST_EXTRA_CONDITIONS=true; the guard policy enforces window, networks and MFA either way.
- A trust policy over ROLEPACT_MAX_TRUST_POLICY_CHARS is refused before any RAM write.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient

from conftest import (B, DROP, EXTERNAL_ID, PARTNER_IP, ROLE_ARN, SEED_ID, SEED_KEY, assume, config, describe_instance,
                      get_role, iso, make_stage, now, partner_user, ram_writes, refused, seed, seed_instance)
from fakecloud import ServiceError
from test_bad_input import assert_refused


def console(stage, user: str, *, mfa: bool):
    """Alice's console session after Switch Role into the agreed role (the console passes no ExternalId)."""
    logon = stage.cloud.console_logon(B, user, mfa=mfa, source_ip=PARTNER_IP)
    return stage.cloud.console_switch_role(logon, ROLE_ARN, user)


def test_require_mfa_with_external_id_is_refused_before_any_ram_write(stage):
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(conditions={"externalId": EXTERNAL_ID, "requireMfa": True}))
    record = assert_refused(stage, SEED_KEY, SEED_ID, "conditions.requireMfa",
                            "cannot be combined with conditions.externalId", writes)
    assert record["state"] == "rejected" and get_role(stage) is None


def test_external_id_only_sdk_and_cli_work_console_does_not(stage):
    instance = seed_instance(stage)
    stage.upload(SEED_KEY, seed(conditions={"externalId": EXTERNAL_ID}))
    pack = stage.status(SEED_ID)["onboarding"]
    assert pack["paths"] == ["sdk", "cli"] and "consoleSwitchRole" not in pack
    alice = partner_user(stage, "alice")
    # the SDK snippet's call, as written in the pack
    assert f'external_id="{EXTERNAL_ID}"' in pack["sdkSnippet"]
    session = assume(stage, alice, "alice", external_id=EXTERNAL_ID)
    assert describe_instance(session, instance).status == "Running"
    # the console cannot pass the ExternalId: Switch Role is refused, even after an MFA logon
    with pytest.raises(ServiceError) as switched:
        console(stage, "alice", mfa=True)
    assert switched.value.code == "NoPermission"


def test_require_mfa_only_the_console_after_an_mfa_logon_works(stage):
    instance = seed_instance(stage)
    stage.upload(SEED_KEY, seed(conditions={"requireMfa": True}))
    pack = stage.status(SEED_ID)["onboarding"]
    assert pack["paths"] == ["console"] and "cliProfile" not in pack and "sdkSnippet" not in pack
    assert pack["consoleSwitchRole"]["roleName"] == "ecs-admin" and "with MFA" in pack["consoleSwitchRole"]["steps"][0]
    alice = partner_user(stage, "alice")
    # console, signed in with MFA: works
    assert describe_instance(console(stage, "alice", mfa=True), instance).status == "Running"
    # console without MFA, and any AccessKey (SDK/CLI) session: the guard policy refuses everything
    refused(lambda: describe_instance(console(stage, "alice", mfa=False), instance), "Forbidden.RAM")
    session = assume(stage, alice, "alice", external_id=None)
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")


def test_no_condition_console_cli_and_sdk_all_work(stage):
    instance = seed_instance(stage)
    stage.upload(SEED_KEY, seed(conditions=DROP))
    pack = stage.status(SEED_ID)["onboarding"]
    assert pack["paths"] == ["console", "cli", "sdk"]
    assert "--mode RamRoleArn" in pack["cliProfile"] and "external_id" not in pack["sdkSnippet"]
    partner_user(stage, "alice")
    alice = partner_user(stage, "bob")
    assert describe_instance(console(stage, "alice", mfa=False), instance).status == "Running"
    # what `aliyun configure --mode RamRoleArn` does: AssumeRole with the user's AccessKey, no ExternalId
    body = StsClient(config(alice)).assume_role(sts_models.AssumeRoleRequest(
        role_arn=ROLE_ARN, role_session_name="bob")).body
    assert body.assumed_role_user.arn == f"{ROLE_ARN}/bob"


def test_extra_trust_conditions_are_opt_in(cloud):
    """Default (test_seed): only sts:ExternalId in the trust policy. Opted in: the window, the networks."""
    starts = now() + timedelta(days=1)
    doc = seed(startsAt=iso(starts), conditions={"externalId": EXTERNAL_ID, "sourceIpRanges": ["203.0.113.0/24"]})
    stage = make_stage(cloud, environment={"ROLEPACT_TRUST_EXTRA_CONDITIONS": "true"})
    stage.upload(SEED_KEY, doc)
    [statement] = json.loads(get_role(stage).assume_role_policy_document)["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": EXTERNAL_ID},
        "DateGreaterThanEquals": {"acs:CurrentTime": doc["startsAt"]},
        "DateLessThan": {"acs:CurrentTime": doc["expiresAt"]},
        "IpAddress": {"acs:SourceIp": ["203.0.113.0/24"]},
    }
    refused(lambda: assume(stage, partner_user(stage, "alice"), "early"))  # AssumeRole itself is bounded


def long_principals(count: int = 20) -> list[str]:
    return [f"user/partner-operator-{n:02d}-" + "x" * 44 for n in range(count)]


def test_a_trust_policy_too_long_is_refused_up_front(cloud):
    stage = make_stage(cloud)
    doc = seed(partner__principals=long_principals(), conditions={"externalId": "e" * 600})
    writes = ram_writes(cloud)
    stage.upload(SEED_KEY, doc)
    record = assert_refused(stage, SEED_KEY, SEED_ID, "partner.principals", "at most 2048", writes)
    assert record["state"] == "rejected" and get_role(stage) is None


def test_an_amendment_that_would_outgrow_the_trust_policy_changes_nothing(cloud):
    stage = make_stage(cloud)
    stage.upload(SEED_KEY, seed())
    before = get_role(stage).assume_role_policy_document
    writes = ram_writes(cloud)
    stage.upload(SEED_KEY, seed(partner__principals=long_principals()))
    record = assert_refused(stage, SEED_KEY, SEED_ID, "partner.principals", "at most 2048", writes)
    assert record["state"] == "active" and get_role(stage).assume_role_policy_document == before


def test_a_lower_trust_limit_is_a_guardrail_of_the_deployment(cloud):
    """ROLEPACT_MAX_TRUST_POLICY_CHARS is checked with the trust policy this deployment writes (with
    ROLEPACT_TRUST_EXTRA_CONDITIONS too): the one size check, lowered or raised by the deployment."""
    stage = make_stage(cloud, environment={"ROLEPACT_MAX_TRUST_POLICY_CHARS": "200"})
    writes = ram_writes(cloud)
    stage.upload(SEED_KEY, seed(partner__principals=["user/alice", "user/bob", "user/carol"]))
    assert_refused(stage, SEED_KEY, SEED_ID, "partner.principals",
                   "at most 200 are allowed (ROLEPACT_MAX_TRUST_POLICY_CHARS)", writes)
