"""Red team: the approved-uploaders lock (ROLEPACT_APPROVED_UPLOADERS + the bucket policy).

The lock is what lets rolepact accept an OSS event's content without trusting the event: it must be
judged exactly as OSS enforces it, and only for content written while it held. Each attack here
combines a bucket writer who is not approved (mallory, AliyunOSSFullAccess) or an anonymous writer
with an invoker who sends intake an event naming the approved uploader (carol). The safe outcome:
nothing is granted.
"""
from __future__ import annotations

import json

import oss2
import pytest
from conftest import A, REGION, SEED_ID, SEED_KEY, get_role, invoke, lock_agreements, notices, oss_event, ram_writes, seed
from test_review_uploaders import team  # noqa: F401 - carol (approved) and mallory (may write the bucket)


def _forge_after(stage, write, carol_id: str) -> None:
    """`write()` puts content into agreements/ (its own event runs too); then an invoker vouches for it."""
    write()
    stage.deliver()
    invoke(stage, oss_event(stage, SEED_KEY, principal=carol_id))


@pytest.mark.parametrize("resource", [
    f"acs:oss:{REGION}:{A}:rolepact-data/agreements/*",   # a region where OSS's own resources say '*'
    f"acs:oss:*:{A}:rolepact-data/Agreements/*",          # another letter case: OSS keys are case-sensitive
])
def test_a_lock_that_oss_does_not_apply_is_not_taken_for_one(stage, team, resource):
    """The Deny names agreements/ in a form OSS does not match against the request, so mallory can still
    write there: rolepact must not judge it a lock (it did: its matcher ignored case and region)."""
    carol_id, _ = team["carol"]
    _, mallory = team["mallory"]
    policy = lock_agreements(stage)
    for statement in policy["Statement"]:
        statement["Resource"] = [resource]
    stage.oss().put_bucket_policy(json.dumps(policy))
    writes = ram_writes(stage.cloud)
    _forge_after(stage, lambda: stage.upload(SEED_KEY, seed(), credentials=mallory, deliver=False), carol_id)
    assert get_role(stage) is None and ram_writes(stage.cloud) == writes
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any(e["path"] == "(uploader)" for e in status["errors"]), status["errors"]


def test_an_anonymous_writer_of_a_public_read_write_bucket_is_no_approved_uploader(stage, team):
    """OSS lets anyone, anonymous included, write a bucket whose ACL is public-read-write; a bucket-policy
    Deny that lists RAM users and sessions does not name the anonymous caller. The lock does not hold."""
    carol_id, _ = team["carol"]
    lock_agreements(stage)
    stage.oss().put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    anonymous = oss2.Bucket(oss2.AnonymousAuth(), f"https://oss-{REGION}.aliyuncs.com", stage.bucket)
    writes = ram_writes(stage.cloud)
    _forge_after(stage, lambda: anonymous.put_object(SEED_KEY, json.dumps(seed()).encode("utf-8")), carol_id)
    assert get_role(stage) is None and ram_writes(stage.cloud) == writes
    assert any(e["path"] == "(uploader)" and "public-read-write" in e["message"]
               for e in stage.status(SEED_ID)["errors"])


def test_content_written_before_the_lock_is_not_vouched_for_by_it(stage, team):
    """mallory writes while there is no lock (her own event is refused); the owner then puts the lock in
    place; an invoker sends an event naming carol. The lock says nothing about content older than itself."""
    carol_id, _ = team["carol"]
    _, mallory = team["mallory"]
    stage.upload(SEED_KEY, seed(), credentials=mallory)
    assert stage.status(SEED_ID)["state"] == "rejected"
    lock_agreements(stage)
    writes = ram_writes(stage.cloud)
    invoke(stage, oss_event(stage, SEED_KEY, principal=carol_id))
    assert get_role(stage) is None and ram_writes(stage.cloud) == writes
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected"
    assert any(e["path"] == "(uploader)" and "before" in e["message"] for e in status["errors"]), status["errors"]


def test_carol_uploads_again_after_the_lock_and_is_granted(stage, team):
    """The flip side: content written after rolepact saw the lock (`rolepact bucket-policy`, as README's
    deploy step runs it) is accepted, and the refusal said how to get there."""
    carol_id, carol = team["carol"]
    _, mallory = team["mallory"]
    stage.upload(SEED_KEY, seed(), credentials=mallory)
    lock_agreements(stage)
    invoke(stage, oss_event(stage, SEED_KEY, principal=carol_id))
    stage.upload(SEED_KEY, seed(role__description="carol's"), credentials=carol)
    assert stage.status(SEED_ID)["state"] == "active"
    assert any("upload" in n["text"] for n in notices(stage) if "rejected" in n["title"])
