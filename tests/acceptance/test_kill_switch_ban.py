"""While `control/revoke-partner/<uid>` exists, intake refuses new agreements with that partner."""
from __future__ import annotations

from conftest import B, SEED_ID, SEED_KEY, file_bytes, ram_writes, seed


def test_revoked_partner_cannot_get_a_new_agreement_until_the_ban_is_lifted(stage, cloud):
    stage.upload(f"control/revoke-partner/{B}", b"{}")
    before = ram_writes(cloud)
    stage.upload(SEED_KEY, file_bytes(seed()))
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert status["errors"][0]["path"] == "partner.accountId"
    assert "kill switch" in status["errors"][0]["message"]
    assert ram_writes(cloud) == before

    stage.delete(f"control/revoke-partner/{B}")
    stage.upload(SEED_KEY, file_bytes(seed(role__description="renewed after the incident")))
    assert stage.status(SEED_ID)["state"] == "active"
