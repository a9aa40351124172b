"""Review (issue 12, item 1): deleting an agreement file whose name has `+`, `%`, a space or non-ASCII
ends the agreement — the role goes, the partner's live session stops, the auditor does not call it
in-sync. Keys are matched against rolepact's key index under every decoding, because whether OSS
URL-encodes `object.key` in its event notifications is not documented: the fake sends it as stored
(its OSS notifications, through oss2), and the other plausible shapes (percent- and form-encoded,
as S3 does) are tested by re-encoding the key of the event the fake produced."""
from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from conftest import (SEED_ID, assume, enqueue, get_role, partner_user, refused, role_names, seed,
                      seed_instance, describe_instance)

KEYS = [
    "agreements/b ecs+admin.json",
    "agreements/b%20ecs.json",
    "agreements/100% b.json",
    "agreements/b%2Becs+x.json",
    "agreements/合作伙伴-b.json",
    "agreements/déjà vu +1.json",
]


def granted(stage, key: str):
    stage.upload(key, seed())
    assert stage.status(SEED_ID)["state"] == "active"
    assert stage.status(SEED_ID)["sourceKey"] == key
    instance = seed_instance(stage)
    session = assume(stage, partner_user(stage, "alice"))
    assert describe_instance(session, instance).status == "Running"
    return session, instance


def assert_ended(stage, session, instance) -> None:
    status = stage.status(SEED_ID)
    assert status["state"] == "ended" and status["ended"]["reason"] == "deleted", status
    assert get_role(stage) is None
    refused(lambda: describe_instance(session, instance), "Forbidden.RAM")


@pytest.mark.parametrize("key", KEYS)
def test_deleting_a_file_with_an_odd_name_ends_the_agreement(stage, key):
    """The fake's own notification (the key as stored), delivered by FC's OSS trigger."""
    session, instance = granted(stage, key)
    stage.delete(key)
    assert_ended(stage, session, instance)


def delete_with_event_key(stage, key: str, encode) -> None:
    """Delete `key` with oss2; FC delivers the fake's notification with its key re-encoded by `encode`."""
    [trigger] = stage.fc.triggers_of_type("oss")
    stage.fc.remove_trigger(trigger.account_id, trigger.service_name, trigger.function_name, trigger.name,
                            region=trigger.region)
    stage.delete(key)
    notification = stage.cloud.backend("oss").notifications[-1]
    payload = json.loads(notification.payload)
    assert payload["events"][0]["eventName"].startswith("ObjectRemoved")
    payload["events"][0]["oss"]["object"]["key"] = encode(key)
    enqueue(stage, json.dumps(payload).encode("utf-8"))
    stage.deliver()


@pytest.mark.parametrize("encode", [lambda k: quote(k, safe="/"), lambda k: quote_plus(k, safe="/")],
                         ids=["percent-encoded", "form-encoded"])
@pytest.mark.parametrize("key", KEYS)
def test_a_removal_event_with_an_encoded_key_ends_the_agreement(stage, key, encode):
    session, instance = granted(stage, key)
    delete_with_event_key(stage, key, encode)
    assert_ended(stage, session, instance)


def test_a_lookalike_file_that_still_exists_is_not_ended(stage):
    """`a b.json` and `a+b.json` are two files; deleting one must not end the other's agreement."""
    other = seed(agreementId="other-b", role__name="other-b-role")
    stage.upload("agreements/b x.json", other)
    session, instance = granted(stage, "agreements/b+x.json")
    stage.delete("agreements/b+x.json")
    assert_ended(stage, session, instance)
    assert stage.status("other-b")["state"] == "active"
    assert "other-b-role" in role_names(stage)
