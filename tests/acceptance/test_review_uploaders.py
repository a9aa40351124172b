"""Review (issue 12, items 5 and 9): who uploaded an agreement is decided from what an invoker cannot
forge. With ROLEPACT_APPROVED_UPLOADERS, rolepact accepts `agreements/` only while the bucket policy
keeps everyone else from writing it (it checks that lock itself); the event's principal is a claim,
never shown as fact. Deletion follows the same rule: an unapproved re-upload racing the owner's
deletion cannot keep an agreement alive, and an unapproved writer cannot delete (or otherwise change)
an approved agreement's file."""
from __future__ import annotations

import json

import oss2
import pytest
from conftest import (A, SEED_ID, SEED_KEY, approve_uploaders, get_role, invoke, lock_agreements, make_stage,
                      notices, oss_event, owner_user, ram_writes, seed)

from shared.uploaders import WRITE_ACTIONS


@pytest.fixture
def team(stage):
    """carol may upload agreements (approved); mallory may write the bucket (AliyunOSSFullAccess) but is not."""
    carol_id, carol = owner_user(stage, "carol")
    mallory_id, mallory = owner_user(stage, "mallory")
    approve_uploaders(stage, carol_id)
    return {"carol": (carol_id, carol), "mallory": (mallory_id, mallory)}


def test_a_forged_event_cannot_vouch_for_an_unapproved_upload(stage, team):
    """No lock: mallory's file is there, an invoker sends an event naming carol. Nothing may be granted."""
    carol_id, _ = team["carol"]
    _, mallory = team["mallory"]
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed(), credentials=mallory)
    invoke(stage, oss_event(stage, SEED_KEY, principal=carol_id))
    assert ram_writes(stage.cloud) == writes and get_role(stage) is None
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any(e["path"] == "(uploader)" and "bucket policy" in e["message"] for e in status["errors"])


def test_with_the_lock_only_approved_content_is_granted_and_the_status_says_how_it_knows(stage, team):
    carol_id, carol = team["carol"]
    mallory_id, mallory = team["mallory"]
    lock_agreements(stage)
    with pytest.raises(oss2.exceptions.AccessDenied):
        stage.upload(SEED_KEY, seed(), credentials=mallory)
    stage.upload(SEED_KEY, seed(), credentials=carol)
    upload = stage.status(SEED_ID)["lastUpload"]
    assert stage.status(SEED_ID)["state"] == "active"
    assert upload["claimedUploader"] == carol_id and upload["uploaderVerified"] is True
    assert "uploader" not in upload


def test_a_forged_uploader_is_never_shown_as_fact(stage):
    """Without approved uploaders nobody is verified: the event's principal is recorded as a claim."""
    stage.upload(SEED_KEY, seed(), deliver=False)
    [notification] = [n for n in stage.cloud.backend("oss").notifications if b"agreements/" in n.payload]
    event = json.loads(notification.payload)
    event["events"][0]["userIdentity"]["principalId"] = "security-team-approved"
    invoke(stage, json.dumps(event).encode("utf-8"))
    upload = stage.status(SEED_ID)["lastUpload"]
    assert "uploader" not in upload and upload["uploaderVerified"] is False
    for notice in notices(stage):
        assert "security-team-approved" not in notice["text"]


def test_an_unapproved_re_upload_racing_the_owners_deletion_cannot_keep_the_agreement(stage, team):
    """carol's agreement is live; the lock was taken away (misconfiguration). carol deletes the file and
    mallory puts her own version there before intake sees the deletion: the agreement must end."""
    _, carol = team["carol"]
    _, mallory = team["mallory"]
    lock_agreements(stage)
    stage.upload(SEED_KEY, seed(), credentials=carol)
    assert stage.status(SEED_ID)["state"] == "active"
    stage.oss().delete_bucket_policy()
    stage.delete(SEED_KEY, credentials=carol, deliver=False)
    stage.upload(SEED_KEY, seed(role__description="still mine"), credentials=mallory, deliver=False)
    stage.deliver()
    status = stage.status(SEED_ID)
    assert status["state"] in ("ended", "rejected") and status["ended"]["reason"] == "deleted"  # then mallory's
    assert get_role(stage) is None                                                              # file is refused


def test_an_unapproved_writer_cannot_delete_or_change_an_approved_agreement(stage, team):
    """The lock must cover every way to change what intake reads — deletes by version id included (rolepact
    refuses a versioned bucket altogether, test_versioned_bucket.py, but `?versionId=null` names the one
    version of an object in any bucket). A lock without DeleteObjectVersion is not enough (rolepact says so
    and grants nothing); the complete one keeps mallory from deleting, deleting a version or overwriting; a
    forged removal event changes nothing."""
    _, carol = team["carol"]
    _, mallory = team["mallory"]
    lock_agreements(stage, actions=("oss:PutObject", "oss:DeleteObject"))
    stage.upload(SEED_KEY, seed(), credentials=carol)
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any("DeleteObjectVersion" in e["message"] or "keeps it from writing" in e["message"]
               for e in status["errors"]), status["errors"]

    lock_agreements(stage, actions=WRITE_ACTIONS)
    stage.upload(SEED_KEY, seed(), credentials=carol)
    assert stage.status(SEED_ID)["state"] == "active"
    as_mallory = stage.oss(mallory)
    for attempt in (lambda: as_mallory.delete_object(SEED_KEY),
                    lambda: as_mallory.delete_object(SEED_KEY, params={"versionId": "null"}),
                    lambda: as_mallory.put_object(SEED_KEY, b"{}")):
        with pytest.raises(oss2.exceptions.AccessDenied):
            attempt()
    invoke(stage, oss_event(stage, SEED_KEY, name="ObjectRemoved:DeleteObject", principal=A))  # forged
    stage.deliver()
    assert stage.status(SEED_ID)["state"] == "active" and get_role(stage) is not None


def test_rolepact_bucket_policy_prints_the_lock_and_says_whether_it_is_in_place(cloud, capsys, monkeypatch):
    stage = make_stage(cloud)
    carol_id, _ = owner_user(stage, "carol")
    owner_user(stage, "mallory")
    approve_uploaders(stage, carol_id)
    from shared.cli import main

    for name, value in {"ROLEPACT_ACCOUNT_ID": A, "ROLEPACT_BUCKET": stage.bucket, "ROLEPACT_APPROVED_UPLOADERS":
                        carol_id, "ALIBABA_CLOUD_ACCESS_KEY_ID": stage.owner.access_key_id,
                        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": stage.owner.access_key_secret}.items():
        monkeypatch.setenv(name, value)
    assert main(["bucket-policy", "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert not printed["enforced"] and printed["problems"]
    stage.oss().put_bucket_policy(json.dumps(printed["policy"]))
    assert main(["bucket-policy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["enforced"]
