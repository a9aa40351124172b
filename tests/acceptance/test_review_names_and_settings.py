"""Review (issue 12, items 12 and 13): reserved role names and weak settings are refused before any
RAM write — through intake, the SDKs and the fake, as a bucket writer would try them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import SEED_ID, SEED_KEY, get_role, iso, now, notices, ram_writes, role_names, seed
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from timer_support import (T0, agreement, assume, clock, describe_instance, fake, partner_user,  # noqa: F401
                           provision, refused, seed_instance, stage as timer_stage, tick_at)


def assert_refused_at(stage, path: str, words: str, writes: int) -> None:
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected", status
    assert any(e["path"] == path and words in e["message"] for e in status["errors"]), status["errors"]
    [notice] = [n for n in notices(stage) if "rejected" in n["title"]]
    assert f"`{path}`" in notice["text"]
    assert ram_writes(stage.cloud) == writes


@pytest.mark.parametrize("name", ["aliyunosseventnotificationrole", "AliyunOSSEventNotificationRole",
                                  "AliyunFCDefaultRole", "aliyunfcdefaultrole", "AliyunLogETLRole",
                                  "AliyunServiceRoleForFC", "ALIYUNMNSNOTIFICATIONROLE", "Rolepact-partner"])
def test_alibaba_service_role_names_are_reserved_in_any_case(stage, name):
    """s.yaml's own OSS trigger role (and FC's default role, ...) must never become a partner's role."""
    writes, roles = ram_writes(stage.cloud), role_names(stage)
    stage.upload(SEED_KEY, seed(role__name=name))
    assert_refused_at(stage, "role.name", "is reserved", writes)
    assert role_names(stage) == roles


@pytest.mark.parametrize("external_id", ["ab", "b-7f3a9"])
def test_a_short_external_id_is_refused(stage, external_id):
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(conditions__externalId=external_id))
    assert_refused_at(stage, "conditions.externalId", "must be 8-1224 characters", writes)
    assert get_role(stage) is None


@pytest.mark.parametrize("ranges", [["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"],
                                    ["10.0.0.0/7"], ["::/1", "8000::/1"]])
def test_ip_ranges_that_together_cover_nearly_everything_are_refused(stage, ranges):
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(conditions__sourceIpRanges=ranges))
    assert_refused_at(stage, "conditions.sourceIpRanges", "together cover", writes)
    assert get_role(stage) is None


def test_a_start_far_in_the_future_is_refused(stage):
    """A grant planned years ahead is a sleeper nobody reviews when it wakes up."""
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(startsAt=iso(now() + timedelta(days=400)), expiresAt=iso(now() + timedelta(days=430))))
    assert_refused_at(stage, "startsAt", "ROLEPACT_MAX_AGREEMENT_DAYS", writes)
    assert get_role(stage) is None


def test_too_many_principals_for_the_trust_policy_are_refused_up_front(stage):
    """RAM caps the trust policy; 20 long principal names would make CreateRole fail half-way."""
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(partner__principals=[f"user/{i:02d}-" + "u" * 58 for i in range(20)]))
    assert_refused_at(stage, "partner.principals", "trust policy", writes)
    assert get_role(stage) is None


def test_a_fractional_start_never_lets_the_partner_in_early(timer_stage, clock):
    """startsAt 09:00:50.6: RAM compares whole seconds, so rolepact must write 09:00:51, not 09:00:50."""
    start = T0.replace(second=50, microsecond=600000)
    doc = agreement("frac", starts=start, expires=T0 + timedelta(days=3))
    doc["startsAt"] = "2027-03-01T09:00:50.6Z"
    provision(timer_stage, doc)
    instance = seed_instance(timer_stage)
    alice = partner_user(timer_stage)
    clock.move_to(start - timedelta(microseconds=300000))  # 09:00:50.3, before startsAt
    try:  # the trust policy (window in it) or the guard policy (window in it) must keep her out
        session = assume(timer_stage, alice, "frac")
    except AlibabaCloudException as error:
        assert error.code == "NoPermission"
    else:
        refused(lambda: describe_instance(session, instance), "Forbidden.RAM")
    tick_at(timer_stage, clock, T0.replace(second=51))
    assert describe_instance(assume(timer_stage, alice, "frac"), instance).status == "Running"
