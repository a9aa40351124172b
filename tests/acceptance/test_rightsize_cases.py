"""Issue 14 acceptance: read-only use, denied-only use, several sessions and principals, and the
command's refusals — through the real SDKs against the fake, as the owner would run it."""
from __future__ import annotations

import json
from datetime import timedelta

from audit_support import (  # noqa: F401 - fixtures
    C, SEED_ID, T0, assume, clock, describe, digests, fake, keys, next_digest_time, notices, partner_user, provision, record, refused,
    seed_doc, seed_instance, session_caller, stage, start, stop, tick, trail_event,
)
from alibabacloud_ecs20140526 import models as ecs_models
from audit_support import ecs
from rightsize_support import INSTANCE_ARN, allows, pull, rightsize, rightsize_json, stored_proposal


def reboot(creds, instance_id: str) -> None:
    ecs(creds).reboot_instance(ecs_models.RebootInstanceRequest(instance_id=instance_id))


def upload_proposal(stage, report: dict) -> None:
    stage.upload(f"agreements/{report['agreementId']}.json", report["proposal"]["agreement"])
    status = stage.status(report["agreementId"])
    assert status["lastUpload"]["result"] == "applied", status


def test_read_only_use_proposes_reads_only(stage, clock, monkeypatch, capsys):
    web = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    alice = assume(stage, partner_user(stage), "alice")
    describe(alice, web)  # names the instance ...
    ecs(alice).describe_instances(ecs_models.DescribeInstancesRequest(region_id="cn-hangzhou"))  # ... and not
    pull(stage, clock)

    code, report = rightsize_json(stage, monkeypatch, capsys, SEED_ID)
    assert code == 0
    assert allows(report["proposal"]["agreement"]["policies"][0]["document"]) == {"ecs:DescribeInstances": "*"}
    assert report["used"]["allowed"][0]["allowed"] == 2 and report["used"]["allowed"][0]["unscopedCalls"] == 2

    upload_proposal(stage, report)
    alice = assume(stage, partner_user(stage, "alice-2"), "alice")
    assert describe(alice, web)[0].instance_id == web
    refused(lambda: stop(alice, web), "Forbidden.RAM")


def test_denied_only_use_proposes_nothing(stage, clock, monkeypatch, capsys):
    web = seed_instance(stage)
    expires = T0 + timedelta(days=30)
    provision(stage, seed_doc(expires=expires, policies=[{"type": "System", "name": "AliyunECSReadOnlyAccess"}]))
    alice = assume(stage, partner_user(stage), "alice")
    refused(lambda: stop(alice, web), "Forbidden.RAM")
    refused(lambda: start(alice, web), "Forbidden.RAM")
    stage.deliver()
    pull(stage, clock)

    code, report = rightsize_json(stage, monkeypatch, capsys, SEED_ID)
    assert code == 1 and report["proposal"] is None
    assert [(u["action"], u["denied"]) for u in report["used"]["denied"]] == [("ecs:StartInstance", 1),
                                                                             ("ecs:StopInstance", 1)]
    assert report["used"]["allowed"] == []
    code, _, err = rightsize(stage, monkeypatch, capsys, SEED_ID)
    assert code == 1 and "no allowed use recorded" in err and "(2 denied calls)" in err and "nothing to propose" in err

    tick(stage, clock, expires - timedelta(days=7) + timedelta(minutes=1))
    [seven] = [n for n in notices(stage) if n["title"].endswith("expires in 7d")]
    assert "no allowed use recorded" in seven["text"] and "nothing to propose" in seven["text"]
    assert stored_proposal(stage, SEED_ID) is None


def test_several_sessions_and_principals_are_one_proposal_and_other_accounts_are_left_out(
        stage, clock, monkeypatch, capsys):
    web, db, spare = seed_instance(stage, "web"), seed_instance(stage, "db"), seed_instance(stage, "spare")
    provision(stage, seed_doc(expires=T0 + timedelta(days=30), principals=("user/alice", "user/bob")))
    alice_user, bob_user = partner_user(stage, "alice"), partner_user(stage, "bob")
    first, second = assume(stage, alice_user, "alice"), assume(stage, alice_user, "alice-night")
    bob = assume(stage, bob_user, "bob")
    stop(first, web)
    start(second, web)
    reboot(second, web)
    stop(bob, db)
    # someone of another account got a session of the role: reported, never proposed
    record(stage, trail_event(session_caller(player=C, session="mallory"), "StartInstance", resource=spare))
    stage.deliver()
    pull(stage, clock)

    code, report = rightsize_json(stage, monkeypatch, capsys, SEED_ID)
    assert code == 0, report
    assert allows(report["proposal"]["agreement"]["policies"][0]["document"]) == {
        "ecs:StopInstance": sorted([INSTANCE_ARN.format(web), INSTANCE_ARN.format(db)]),
        "ecs:StartInstance": [INSTANCE_ARN.format(web)], "ecs:RebootInstance": [INSTANCE_ARN.format(web)]}
    used = report["used"]
    assert used["sessions"] == 4 and used["principals"] == {
        "company-b/alice": 1, "company-b/alice-night": 2, "company-b/bob": 1, f"{C}/mallory": 1}
    assert [(f["action"], f["principals"]) for f in used["foreign"]] == [("ecs:StartInstance", {f"{C}/mallory": 1})]
    [stop_used] = [u for u in used["allowed"] if u["action"] == "ecs:StopInstance"]
    assert stop_used["principals"] == {"company-b/alice": 1, "company-b/bob": 1}

    upload_proposal(stage, report)
    start(stage.owner, db)  # web is running again (alice-night started it)
    alice, bob = assume(stage, alice_user, "alice"), assume(stage, bob_user, "bob")
    stop(bob, db)  # each may still do what the other did: one proposal for the agreement
    stop(alice, web)
    start(alice, web)
    refused(lambda: start(bob, db), "Forbidden.RAM")
    refused(lambda: stop(alice, spare), "Forbidden.RAM")
    refused(lambda: start(alice, spare), "Forbidden.RAM")


def test_the_command_refuses_unknown_agreements_and_periods_without_use(stage, clock, monkeypatch, capsys, tmp_path):
    web = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    code, _, err = rightsize(stage, monkeypatch, capsys, "no-such-agreement")
    assert code == 1 and "no agreement 'no-such-agreement'" in err
    code, out, err = rightsize(stage, monkeypatch, capsys, SEED_ID)
    assert code == 1 and "no allowed use recorded since 2027-03-01T09:00:20Z" in err and "no proposal" in out

    stop(assume(stage, partner_user(stage), "alice"), web)
    stage.deliver()
    after = [(T0 + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ") for s in (1, 3600)]
    code, _, err = rightsize(stage, monkeypatch, capsys, SEED_ID, "--since", after[0], "--until", after[1])
    assert code == 1 and "no allowed use recorded since" in err
    clock.move_to(T0 + timedelta(minutes=1))
    out_file = tmp_path / "renewal.json"
    code, report = rightsize_json(stage, monkeypatch, capsys, SEED_ID, "--since", "-1h", "--out", str(out_file))
    assert code == 0 and json.loads(out_file.read_text()) == report["proposal"]["agreement"]
    assert rightsize(stage, monkeypatch, capsys, SEED_ID, "--since", "yesterday")[0] == 2
    assert rightsize(stage, monkeypatch, capsys, SEED_ID, "--since", "now", "--until", "-1h")[0] == 2
    assert keys(stage, "proposals/") == []  # the command writes nothing to the bucket


def test_a_proposal_the_guardrails_refuse_is_shown_as_refused(stage, clock, monkeypatch, capsys):
    web = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    stop(assume(stage, partner_user(stage), "alice"), web)
    stage.deliver()
    clock.move_to(T0 + timedelta(minutes=1))
    monkeypatch.setenv("ROLEPACT_MAX_SESSION_SECONDS", "1800")  # tightened since the grant (the seed has 3600)
    code, out, _ = rightsize(stage, monkeypatch, capsys, SEED_ID)
    assert code == 1 and "REFUSED as it stands" in out and "role.maxSessionDurationSeconds" in out



def test_several_partners_each_get_their_own_line_and_proposal(stage, clock):
    web, db = seed_instance(stage, "web"), seed_instance(stage, "db")
    expires = T0 + timedelta(days=30)
    provision(stage, seed_doc(expires=expires))
    other = seed_doc(expires=expires + timedelta(hours=1), agreementId="company-c-ops",
                     partner={"accountId": C, "alias": "company-c", "principals": ["root"]},
                     role={"name": "ops-c", "maxSessionDurationSeconds": 3600})
    provision(stage, other)
    stop(assume(stage, partner_user(stage, "alice"), "alice"), web)
    reboot(assume(stage, partner_user(stage, "carol", account=C), "carol", role="ops-c"), db)
    stage.deliver()

    tick(stage, clock, expires - timedelta(days=7) + timedelta(hours=2))
    for agreement_id in (SEED_ID, "company-c-ops"):
        [seven] = [n for n in notices(stage) if n["title"].endswith(f"{agreement_id} expires in 7d")]
        assert f"proposal: `proposals/{agreement_id}.json`" in seven["text"]
    assert allows(stored_proposal(stage, SEED_ID)["policies"][0]["document"]) == {
        "ecs:StopInstance": [INSTANCE_ARN.format(web)]}
    assert allows(stored_proposal(stage, "company-c-ops")["policies"][0]["document"]) == {
        "ecs:RebootInstance": [INSTANCE_ARN.format(db)]}
    tick(stage, clock, next_digest_time(expires - timedelta(days=7)))
    block = digests(stage)[-1]["text"].split("#### Right-size at renewal", 1)[1]
    assert block.count("\n- `") == 2
    assert f"- `{SEED_ID}`: used 1 of 382 actions" in block and "- `company-c-ops`: used 1 of 382 actions" in block
