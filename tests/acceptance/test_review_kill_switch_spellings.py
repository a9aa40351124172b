"""Review (issue 12, item 6): every spelling of the kill switch is the same ban everywhere — the enforcer
ends the partner's live agreements, and intake refuses new ones, for each of them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from conftest import B, SEED_ID, SEED_KEY, get_role, make_stage, ram_writes, seed

SPELLINGS = [
    f"control/revoke-partner/{B}",
    f"control/revoke-partner/{B}/",
    f"control/revoke-partner/{B}/incident-42.txt",
    f"control//revoke-partner/{B}",
    f"control/revoke-partner//{B}",
    f"control/Revoke-Partner/{B}.json",
]


@pytest.fixture
def stage(cloud):
    return make_stage(cloud, functions=["agreement_intake", "expiry_enforcer"])


@pytest.mark.parametrize("key", SPELLINGS)
def test_the_enforcer_ends_live_agreements_for_every_spelling(stage, key):
    stage.upload(SEED_KEY, seed())
    assert stage.status(SEED_ID)["state"] == "active"
    stage.upload(key, b"{}")
    stage.tick(datetime.now(timezone.utc) + timedelta(minutes=2))
    assert stage.status(SEED_ID)["state"] == "ended"
    assert stage.status(SEED_ID)["ended"]["reason"] == "revoked"
    assert get_role(stage) is None


@pytest.mark.parametrize("key", SPELLINGS)
def test_intake_refuses_new_agreements_for_every_spelling(stage, key):
    stage.upload(key, b"{}")
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed())
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any(e["path"] == "partner.accountId" and "kill switch" in e["message"] for e in status["errors"])
    assert ram_writes(stage.cloud) == writes
    assert get_role(stage) is None


def test_lifting_every_spelling_lifts_the_ban(stage):
    keys = [f"control/revoke-partner/{B}/", f"control/revoke-partner/{B}/why.txt"]
    for key in keys:
        stage.upload(key, b"{}")
    stage.delete(keys[0])
    stage.upload(SEED_KEY, seed())
    assert stage.status(SEED_ID)["state"] == "rejected"  # one spelling still bans
    stage.delete(keys[1])
    stage.upload(SEED_KEY, seed(role__description="after the incident"))
    assert stage.status(SEED_ID)["state"] == "active"


def test_other_objects_under_control_ban_nobody(stage):
    for key in ("control/readme.txt", f"control/revoke-partner-x/{B}", "control/revoke-partner/not-an-account"):
        stage.upload(key, b"{}")
    stage.upload(SEED_KEY, seed())
    assert stage.status(SEED_ID)["state"] == "active"
