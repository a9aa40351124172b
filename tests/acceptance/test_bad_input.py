"""Issue #4 acceptance, part 2: bad input is refused with a specific message, and RAM is not touched.

Every refusal must name what is wrong (a field path and a message) in the status record and in
the DingTalk notice, and make no RAM write at all.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta
from urllib.parse import quote

import oss2
import pytest
from alibabacloud_ram20150501 import models as ram_models
from hypothesis import HealthCheck, given, settings, strategies as st

from shared.agreements.parse import parse_agreement
from shared.errors import AgreementRejected

from conftest import (A, SEED_ID, SEED_KEY, attached, enqueue, failed_invocations, file_bytes, get_role, invoke,
                      iso, lock_agreements, make_stage, notices, now, oss_event, owner_user, approve_uploaders, ram,
                      ram_snapshot, ram_writes, seed, sha256)


def record_for(stage, key: str, agreement_id: str | None) -> dict:
    """The status record a refusal of `key` was filed under."""
    if agreement_id:
        status = stage.status(agreement_id)
        if status is not None and status.get("sourceKey") == key:
            return status
    record = stage.read_json(f"status/_files/{quote(key, safe='')}.json")
    assert record is not None, f"no status record for {key}"
    return record


def assert_refused(stage, key: str, agreement_id: str | None, path: str, words: str, writes_before: int) -> dict:
    """Refused with `words` at `path`, in the status record and in the notice; no RAM write."""
    record = record_for(stage, key, agreement_id)
    errors = record.get("errors") or record["lastUpload"]["errors"]
    matching = [e for e in errors if e["path"] == path and words in e["message"]]
    assert matching, f"{path}: {words!r} not in {errors}"
    [notice] = [n for n in notices(stage) if n["title"] == f"rolepact: Agreement file rejected: {key}"]
    assert f"`{path}`: " in notice["text"] and words in notice["text"], notice["text"]
    assert "nothing in RAM was changed" in notice["text"]
    assert ram_writes(stage.cloud) == writes_before
    assert not failed_invocations(stage)
    return record


# (name, document or bytes, path, words)
CASES = [
    ("malformed-json", b'{"apiVersion": "rolepact/v1", "agreementId": "company-b-ecs-admin", "owner": {',
     "(file)", "is not valid JSON"),
    ("not-json-at-all", b"\xff\xfe garbage", "(file)", "is not UTF-8"),
    ("wrong-type", seed(role__maxSessionDurationSeconds="3600"), "role.maxSessionDurationSeconds",
     "must be a whole number of seconds"),
    ("wrong-type-policies", seed(policies={"type": "System"}), "policies", "must be a list of policies"),
    ("unknown-field", seed(approvedBy="bob"), "approvedBy", "unknown field 'approvedBy'"),
    ("unknown-nested-field", seed(role__sessionSeconds=3600), "role.sessionSeconds", "unknown field 'sessionSeconds'"),
    ("star-principal", seed(partner__principals=["*"]), "partner.principals[0]", "'*' is not allowed"),
    ("foreign-principal", seed(partner__principals=["acs:ram::1111111111111111:user/mallory"]),
     "partner.principals[0]", "is an ARN of account 1111111111111111"),
    ("administrator", seed(policies=[{"type": "System", "name": "AdministratorAccess"}]), "policies[0].name",
     "AdministratorAccess is a privileged policy"),
    ("ram-star", seed(policies=[{"type": "Custom", "name": "admin", "document": {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:*", "Resource": "*"}]}}]),
     "policies[0].document.Statement[0].Action", "a RAM write"),
    ("action-star", seed(policies=[{"type": "Custom", "name": "all", "document": {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:Describe*", "*"], "Resource": "*"}]}}]),
     "policies[0].document.Statement[0].Action", "Action '*' grants every action"),
    ("assume-any-role", seed(policies=[{"type": "Custom", "name": "hop", "document": {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}}]),
     "policies[0].document.Statement[0].Resource", "grants sts:AssumeRole on '*'"),
    ("unknown-system-policy", seed(policies=[{"type": "System", "name": "AliyunECSFullAcess"}]), "policies[0].name",
     "RAM has no system policy named 'AliyunECSFullAcess'"),
    ("past", seed(startsAt=iso(now() - timedelta(days=10)), expiresAt=iso(now() - timedelta(days=1))),
     "expiresAt", "is in the past"),
    ("inverted", seed(startsAt=iso(now() + timedelta(days=10)), expiresAt=iso(now() + timedelta(days=5))),
     "expiresAt", "must be after startsAt"),
    ("too-long", seed(expiresAt=iso(now() + timedelta(days=400))), "expiresAt", "ROLEPACT_MAX_AGREEMENT_DAYS"),
    ("foreign-owner", seed(owner__accountId="1111111111111111"), "owner.accountId",
     "is not the account rolepact runs in"),
]


@pytest.mark.parametrize("name, content, path, words", CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_refused(stage, name, content, path, words):
    key = f"agreements/{name}.json"
    writes = ram_writes(stage.cloud)
    stage.upload(key, content)
    data = content if isinstance(content, bytes) else file_bytes(content)
    claimed = SEED_ID if b"company-b-ecs-admin" in data[:200] and name != "not-json-at-all" else None
    record = assert_refused(stage, key, claimed, path, words, writes)
    assert record["state"] == "rejected"
    assert record.get("digest") == sha256(data)
    assert get_role(stage) is None


def test_oversize_file(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_MAX_FILE_BYTES": "4096"})
    data = file_bytes(seed()) + b" " * 4096  # valid JSON, only too big
    writes = ram_writes(cloud)
    stage.upload("agreements/big.json", data)
    assert_refused(stage, "agreements/big.json", None, "(file)",
                   f"is {len(data)} bytes; at most 4096 bytes are allowed", writes)


def test_oversize_amendment_is_filed_under_the_agreement(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_MAX_FILE_BYTES": "4096"})
    stage.upload(SEED_KEY, seed())
    writes = ram_writes(cloud)
    stage.upload(SEED_KEY, file_bytes(seed()) + b" " * 4096)
    record = assert_refused(stage, SEED_KEY, SEED_ID, "(file)", "at most 4096 bytes are allowed", writes)
    assert record["state"] == "active" and record["lastUpload"]["result"] == "rejected"


@pytest.mark.parametrize("key", ["agreements/x.txt", "other/x.json", "agreements/.json", "agreementsx/a.json"])
def test_keys_outside_agreements(stage, key):
    writes = ram_writes(stage.cloud)
    stage.upload(key, seed(), deliver=False)
    stage.deliver()
    if not stage.fc.invocations:  # the trigger's filter does not fire for most of them ...
        invoke(stage, oss_event(stage, key))  # ... but a crafted event reaches the handler
    assert_refused(stage, key, None, "(key)", "is not an agreement", writes)
    assert stage.status(SEED_ID) is None
    assert get_role(stage) is None


def test_own_records_and_foreign_buckets_are_ignored(stage):
    stage.upload(SEED_KEY, seed())
    snapshot, writes, sent = ram_snapshot(stage), ram_writes(stage.cloud), len(notices(stage))
    status = stage.status(SEED_ID)
    invoke(stage, oss_event(stage, f"status/{SEED_ID}.json"))
    invoke(stage, oss_event(stage, SEED_KEY, bucket="someone-elses-bucket"))
    assert (ram_snapshot(stage), ram_writes(stage.cloud), len(notices(stage))) == (snapshot, writes, sent)
    assert stage.status(SEED_ID) == status


def test_unknown_partner(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_ALLOWED_PARTNERS": "1111111111111111"})
    writes = ram_writes(cloud)
    stage.upload(SEED_KEY, seed())
    assert_refused(stage, SEED_KEY, SEED_ID, "partner.accountId",
                   "partner 1345678901234567 is not in ROLEPACT_ALLOWED_PARTNERS", writes)


def test_allowed_partner_is_granted(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_ALLOWED_PARTNERS": "1111111111111111,1345678901234567"})
    stage.upload(SEED_KEY, seed())
    assert stage.status(SEED_ID)["state"] == "active"


def test_unapproved_uploader(cloud):
    """With approved uploaders, the bucket policy keeps everyone else out (rolepact checks it); an event
    naming an unapproved uploader is refused as well."""
    stage = make_stage(cloud, environment={"ROLEPACT_APPROVED_UPLOADERS": A})
    mallory_id, mallory = owner_user(stage, "mallory")
    lock_agreements(stage)
    with pytest.raises(oss2.exceptions.AccessDenied):  # OSS itself refuses her upload
        stage.upload(SEED_KEY, seed(), credentials=mallory)
    assert stage.status(SEED_ID) is None
    stage.upload(SEED_KEY, seed())  # A's root, approved: applied
    assert stage.status(SEED_ID)["state"] == "active"
    writes = ram_writes(cloud)
    invoke(stage, oss_event(stage, SEED_KEY, principal=mallory_id))  # an event naming her (stale, or forged)
    record = assert_refused(stage, SEED_KEY, SEED_ID, "(uploader)", "is not approved", writes)
    assert record["state"] == "active" and record["lastUpload"]["result"] == "rejected"


def test_approved_ram_user_uploader(cloud):
    stage = make_stage(cloud)
    user_id, carol = owner_user(stage, "carol")
    _, mallory = owner_user(stage, "mallory")
    # The deployment's configuration names carol (ROLEPACT_APPROVED_UPLOADERS=<her principal id>).
    approve_uploaders(stage, user_id)
    lock_agreements(stage)
    writes = ram_writes(cloud)
    with pytest.raises(oss2.exceptions.AccessDenied):
        stage.upload(SEED_KEY, seed(), credentials=mallory)
    assert ram_writes(cloud) == writes
    stage.upload(SEED_KEY, seed(), credentials=carol)
    status = stage.status(SEED_ID)
    assert status["state"] == "active"
    assert status["lastUpload"]["claimedUploader"] == user_id and status["lastUpload"]["uploaderVerified"]


def test_stale_event_of_an_approved_uploader_does_not_vouch_for_newer_content(cloud):
    """The file is read as it is now: the uploader check must concern *that* content."""
    stage = make_stage(cloud, environment={"ROLEPACT_APPROVED_UPLOADERS": A})
    _, mallory = owner_user(stage, "mallory")
    stage.upload(SEED_KEY, seed(), deliver=False)  # A's upload: its event is still queued ...
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AliyunECSFullAccess"},
                                          {"type": "System", "name": "AliyunOSSFullAccess"}]),
                 credentials=mallory, deliver=False)  # ... when mallory overwrites the file
    writes = ram_writes(cloud)
    stage.deliver()
    assert ram_writes(cloud) == writes
    assert get_role(stage) is None
    assert (stage.status(SEED_ID) or {}).get("state") != "active"


def test_role_name_clash_with_unmanaged_role(stage):
    ram(stage.owner).create_role(ram_models.CreateRoleRequest(
        role_name="ecs-admin", assume_role_policy_document=json.dumps({"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{A}:root"]}}]}),
        description="made by hand"))
    before = ram_snapshot(stage)
    writes = ram_writes(stage.cloud)
    stage.upload(SEED_KEY, seed())
    assert_refused(stage, SEED_KEY, SEED_ID, "role.name", "was not created by rolepact", writes)
    assert ram_snapshot(stage) == before
    assert stage.status(SEED_ID)["state"] == "rejected"


def test_role_name_clash_with_another_agreement(stage):
    stage.upload(SEED_KEY, seed())
    before, writes = ram_snapshot(stage), ram_writes(stage.cloud)
    stage.upload("agreements/other.json", seed(agreementId="other-agreement"))
    assert_refused(stage, "agreements/other.json", "other-agreement", "role.name",
                   "belongs to agreement 'company-b-ecs-admin'", writes)
    assert ram_snapshot(stage) == before


def test_duplicate_agreement_id(stage):
    first = seed()
    stage.upload("agreements/one.json", first)
    before, writes = ram_snapshot(stage), ram_writes(stage.cloud)
    status = stage.status(SEED_ID)
    stage.upload("agreements/two.json", seed(role__name="ecs-admin-2"))
    assert_refused(stage, "agreements/two.json", None, "agreementId",
                   "is already used by agreements/one.json", writes)
    assert stage.status(SEED_ID) == status
    assert stage.status(SEED_ID)["sourceKey"] == "agreements/one.json"
    assert ram_snapshot(stage) == before
    # Redelivering the first file's event still finds it unchanged.
    invoke(stage, oss_event(stage, "agreements/one.json"))
    assert ram_writes(stage.cloud) == writes and stage.status(SEED_ID)["digest"] == status["digest"]


def test_invalid_duplicate_does_not_overwrite_the_first_files_status(stage):
    stage.upload("agreements/one.json", seed())
    status = stage.status(SEED_ID)
    writes = ram_writes(stage.cloud)
    stage.upload("agreements/two.json", b'{"agreementId": "company-b-ecs-admin", oops')
    assert_refused(stage, "agreements/two.json", None, "(file)", "is not valid JSON", writes)
    assert stage.status(SEED_ID) == status


@pytest.mark.parametrize("change, path, words", [
    ({"policies": [{"type": "System", "name": "AdministratorAccess"}]}, "policies[0].name", "privileged"),
    ({"partner": {"accountId": "1345678901234567", "principals": ["*"]}}, "partner.principals[0]", "'*'"),
    ({"expiresAt": "soon"}, "expiresAt", "must be an ISO 8601 date-time"),
    ({"role": {"name": "renamed"}}, "role.name", "cannot be renamed"),
])
def test_refused_amendment_leaves_the_applied_revision(stage, change, path, words):
    doc = seed()
    stage.upload(SEED_KEY, doc)
    applied = stage.status(SEED_ID)
    before, writes = ram_snapshot(stage), ram_writes(stage.cloud)
    stage.upload(SEED_KEY, {**doc, **change})
    record = assert_refused(stage, SEED_KEY, SEED_ID, path, words, writes)
    assert ram_snapshot(stage) == before
    assert record["state"] == "active"
    assert record["digest"] == applied["digest"] and record["agreementText"] == applied["agreementText"]
    assert record["lastUpload"]["result"] == "rejected"
    # The agreement still works as applied, and the original file is accepted again without RAM writes.
    stage.upload(SEED_KEY, doc)
    status = stage.status(SEED_ID)
    assert status["state"] == "active" and status["lastUpload"]["result"] == "applied"
    assert ram_writes(stage.cloud) == writes


# ================================================================================ fuzzing
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)


def mutated_seed():
    """The seed with one field replaced by an arbitrary JSON value (deep in the document too)."""
    paths = [("agreementId",), ("owner",), ("owner", "accountId"), ("partner", "principals"),
             ("partner", "principals", 0), ("role",), ("role", "name"), ("role", "maxSessionDurationSeconds"),
             ("policies",), ("policies", 1, "document"), ("policies", 1, "document", "Statement", 0, "Action"),
             ("policies", 0), ("startsAt",), ("expiresAt",), ("onExpiry",), ("conditions",),
             ("conditions", "sourceIpRanges"), ("conditions", "externalId"), ("extra",)]

    def build(path, value):
        doc = seed()
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return json.dumps(doc).encode("utf-8")

    return st.builds(build, st.sampled_from(paths), json_values)


file_contents = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8")),
    json_values.map(lambda v: json.dumps(v).encode("utf-8")),
    mutated_seed(),
)


@pytest.fixture
def fuzz_stage(cloud):
    """One stage for all the examples of a test (hypothesis runs them inside one test call)."""
    stage = make_stage(cloud)
    ram(stage.owner).create_role(ram_models.CreateRoleRequest(  # the seed's name is taken: nothing applies
        role_name="ecs-admin", assume_role_policy_document=json.dumps({"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{A}:root"]}}]})))
    return stage


@FUZZ
@given(data=file_contents)
def test_fuzzed_files_never_crash_the_handler(fuzz_stage, data):
    """Whatever the bytes, the handler answers; an invalid file changes nothing in RAM.

    (A mutation can also produce a *valid* agreement — e.g. another role name — which is then
    applied like any other; what must never happen is a write for a file the parser refuses.)
    """
    stage = fuzz_stage
    writes = ram_writes(stage.cloud)
    stage.upload("agreements/fuzz.json", data)
    assert not failed_invocations(stage)
    try:
        parse_agreement(data, key="agreements/fuzz.json")
    except AgreementRejected:
        assert ram_writes(stage.cloud) == writes
        assert attached(stage) == set()  # the unmanaged ecs-admin is never touched


event_bytes = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode("utf-8")),
    st.builds(lambda events: json.dumps({"events": events}).encode("utf-8"), st.lists(json_values, max_size=3)),
    st.builds(lambda key, name, principal, size: json.dumps({"events": [{
        "eventName": name, "oss": {"bucket": {"name": "rolepact-data"}, "object": {"key": key, "size": size}},
        "userIdentity": {"principalId": principal}}]}).encode("utf-8"),
        st.one_of(st.text(max_size=40), st.just("agreements/fuzz.json"), st.just("agreements/x%2F.json"),
                  st.text(max_size=30).map(lambda t: f"agreements/{t}.json")),
        st.sampled_from(["ObjectCreated:PutObject", "ObjectRemoved:DeleteObject", "oss:ObjectCreated:*", "x"]),
        json_values, json_values),
)


@FUZZ
@given(payload=event_bytes)
def test_fuzzed_events_never_crash_the_handler(fuzz_stage, payload):
    from functions.agreement_intake import handler

    stage = fuzz_stage
    writes = ram_writes(stage.cloud)
    context = stage.fc.context_for(stage.fc.get_function(A, stage.wiring.service_name, "agreement_intake"), "fuzz")
    result = handler(payload, context)
    assert isinstance(result, dict)
    assert ram_writes(stage.cloud) == writes
    enqueue(stage, payload)  # and through FC: no failed attempt
    before = len(failed_invocations(stage))
    stage.deliver()
    assert len(failed_invocations(stage)) == before


def test_a_description_cannot_forge_rolepacts_ownership_mark(stage):
    """The role description comes from the file; only rolepact's own (final) mark says who owns the role."""
    stage.upload(SEED_KEY, seed(role__description="ECS ops [rolepact:b-evil]"))
    assert stage.status(SEED_ID)["state"] == "active"
    before, writes = ram_snapshot(stage), ram_writes(stage.cloud)
    stage.upload("agreements/evil.json", seed(agreementId="b-evil", policies=[
        {"type": "System", "name": "AliyunECSFullAccess"}, {"type": "System", "name": "AliyunECSReadOnlyAccess"}]))
    assert_refused(stage, "agreements/evil.json", "b-evil", "role.name",
                   "belongs to agreement 'company-b-ecs-admin'", writes)
    assert ram_snapshot(stage) == before
    # The rightful agreement still manages its role.
    stage.upload(SEED_KEY, seed(role__description="ECS ops [rolepact:b-evil]", expiresAt=iso(now() + timedelta(days=9))))
    assert stage.status(SEED_ID)["lastUpload"]["result"] == "applied"
