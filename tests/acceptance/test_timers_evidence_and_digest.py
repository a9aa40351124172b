"""Evidence survives a crash mid-revocation; a mass expiry is one DingTalk digest, not a flood."""
from __future__ import annotations

from datetime import timedelta

from timer_support import (SEED_ID, T0, agreement, clock, fake, make_timer_stage, notices, provision,  # noqa: F401
                           seed_agreement, tick_at, titled)

EXPIRES = T0 + timedelta(hours=2, minutes=30)


def test_evidence_of_a_revocation_that_crashed_half_way_is_complete(fake, clock):
    stage = make_timer_stage(fake)
    provision(stage, seed_agreement(expires=EXPIRES))
    tick_at(stage, clock, EXPIRES - timedelta(minutes=10))
    stage.cloud.faults.crash_after("DeletePolicy", service="ram", nth=1)
    tick_at(stage, clock, EXPIRES + timedelta(seconds=30))
    tick_at(stage, clock, EXPIRES + timedelta(minutes=1, seconds=30))
    status = stage.status(SEED_ID)
    assert status["state"] == "ended" and "ending" not in status
    removed = status["ended"]["removed"]
    # the first run's detaches (before the crash) and the second run's deletes are all there
    assert sum("DetachPolicyFromRole" in line for line in removed) == 3
    assert any("DeleteRole" in line for line in removed)
    assert sum("DeletePolicy " in line for line in removed) == 2
    [notice] = titled(stage, f"Agreement {SEED_ID} expired")
    assert "DeleteRole" in notice["text"] and "DetachPolicyFromRole RoleName=ecs-admin PolicyType=System" in notice["text"]


def test_a_mass_expiry_is_one_digest_and_each_agreement_is_still_recorded(fake, clock):
    stage = make_timer_stage(fake)
    ids = [f"bulk-{n}" for n in range(8)]
    for agreement_id in ids:
        provision(stage, agreement(agreement_id, expires=EXPIRES))
    tick_at(stage, clock, EXPIRES - timedelta(minutes=10))
    before = len(notices(stage))
    tick_at(stage, clock, EXPIRES + timedelta(seconds=30))
    new = notices(stage)[before:]
    digests = [n for n in new if "8 agreements changed" in n["title"]]
    assert len(digests) == 1 and all(f"({i})" in digests[0]["text"] for i in ids)
    assert not any("expired" in n["title"] and "changed" not in n["title"] for n in new)
    assert all(stage.status(i)["state"] == "ended" for i in ids)
    tick_at(stage, clock, EXPIRES + timedelta(minutes=1, seconds=30))  # nothing is announced twice
    assert len(notices(stage)) == before + len(new)
