"""Review: rolepact's own bucket is its control plane. Whatever writes `status/` or `schedule/`
must not be able to make the enforcer grant more than the guardrails allow — and a partner's
role must never reach that bucket, whatever policies the agreement grants.

All through the real SDKs against the fake: the partner assumes its role with STS and uses
oss2 with the session's credentials; the enforcer runs from its FC timer.
"""
from __future__ import annotations

import json
from datetime import timedelta

import oss2
import pytest
from alibabacloud_ram20150501 import models as ram_models
from timer_support import (A, T0, agreement, assume, attached, clock, fake, make_timer_stage, partner_user,  # noqa: F401
                           provision, ram, refused, stage, tick_at)

from shared.records import stamp

EXPIRES = T0 + timedelta(days=30)


def _escalate(status: dict) -> dict:
    """The applied agreement text, rewritten to grant AdministratorAccess."""
    doc = json.loads(status["agreementText"])
    doc["policies"].append({"type": "System", "name": "AdministratorAccess"})
    return dict(status, agreementText=json.dumps(doc, indent=2))


def test_review_partner_with_oss_access_cannot_touch_rolepacts_bucket(fake, clock):
    """An agreement that lets the partner manage A's OSS must not let it rewrite rolepact's records:
    the guard policy denies the partner rolepact's own bucket."""
    stage = make_timer_stage(fake, environment={"ROLEPACT_GRANTABLE_SERVICES": "ecs,vpc,oss"})
    provision(stage, agreement("b-oss", expires=EXPIRES, system=("AliyunOSSFullAccess",), custom=False))
    session = assume(stage, partner_user(stage, "alice"), "b-oss")
    partner_bucket = stage.oss(session)

    with pytest.raises(oss2.exceptions.OssError):
        partner_bucket.get_object("status/b-oss.json")
    tampered = _escalate(stage.status("b-oss"))
    with pytest.raises(oss2.exceptions.OssError):
        partner_bucket.put_object("status/b-oss.json", json.dumps(tampered))
    with pytest.raises(oss2.exceptions.OssError):
        partner_bucket.put_object(f"schedule/{stamp(T0)}/b-oss/expire", b"{}")

    tick_at(stage, clock, T0 + timedelta(minutes=1))
    assert ("System", "AdministratorAccess") not in attached(stage, "b-oss")
    refused(lambda: ram(session).create_user(ram_models.CreateUserRequest(user_name="mallory")))


def test_review_a_tampered_status_record_never_grants_past_the_guardrails(stage, clock):
    """Anyone who can write status/ (not only approved uploaders) plants a revision that grants
    AdministratorAccess and a wake-up marker: the enforcer must refuse it, as intake would."""
    provision(stage, agreement("b-ecs", expires=EXPIRES))
    before = attached(stage, "b-ecs")
    stage.upload("status/b-ecs.json", _escalate(stage.status("b-ecs")))
    stage.upload(f"schedule/{stamp(T0)}/b-ecs/expire", {})

    tick_at(stage, clock, T0 + timedelta(minutes=1))
    assert attached(stage, "b-ecs") == before
    assert ("System", "AdministratorAccess") not in attached(stage, "b-ecs")
