"""Issue #4 acceptance, part 6: `rolepact validate`, `rolepact schema` and `rolepact plan`."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from alibabacloud_ram20150501 import models as ram_models

from conftest import (A, SEED_KEY, iso, make_stage, now, ram, ram_writes, seed)
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.cli import main

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content, indent=2).encode("utf-8"))
    return path


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().out


# ================================================================================ validate
def test_validate_valid_and_invalid_files(tmp_path, capsys):
    good = write(tmp_path, "good.json", seed())
    bad = write(tmp_path, "bad.json", seed(role__maxSessionDurationSeconds="1h", partner__principals=["*"],
                                           extra=True))
    code, out = run(capsys, "validate", good)
    assert code == 0 and f"{good}: valid (company-b-ecs-admin)" in out
    code, out = run(capsys, "validate", good, bad)
    assert code == 1
    assert f"{bad}: INVALID" in out
    for path in ("role.maxSessionDurationSeconds", "partner.principals[0]", "extra"):
        assert f"  - {path}: " in out, out
    code, out = run(capsys, "validate", "--json", good, bad, tmp_path / "missing.json")
    assert code == 1
    results = json.loads(out)
    assert [r["valid"] for r in results] == [True, False, False]
    assert {p["path"] for p in results[1]["problems"]} == {"role.maxSessionDurationSeconds",
                                                           "partner.principals[0]", "extra"}
    assert results[2]["problems"][0]["path"] == "(file)"


def test_validate_checks_the_whole_file(tmp_path, capsys):
    code, out = run(capsys, "validate", write(tmp_path, "broken.json", b'{"apiVersion": '))
    assert code == 1 and "(file): is not valid JSON" in out
    code, out = run(capsys, "validate", "--max-bytes", "100", write(tmp_path, "big.json", seed()))
    assert code == 1 and "at most 100 bytes" in out


def test_validate_as_an_installed_command(tmp_path):
    good = write(tmp_path, "good.json", seed())
    bad = write(tmp_path, "bad.json", seed(expiresAt="tomorrow"))
    command = ROOT / ".venv" / "bin" / "rolepact"
    if not command.exists():
        command = Path(sys.executable).with_name("rolepact")
    done = subprocess.run([str(command), "validate", str(good), str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stderr
    assert f"{good}: valid" in done.stdout and "  - expiresAt: must be an ISO 8601 date-time" in done.stdout


# ================================================================================ schema
def test_schema_validates_the_example(capsys):
    code, out = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(EXAMPLE_AGREEMENT)
    validator.validate(seed())
    assert not validator.is_valid(seed(extra=1))
    assert not validator.is_valid(seed(partner__principals=["*"]))
    assert not validator.is_valid(seed(role__maxSessionDurationSeconds="3600"))


# ================================================================================ plan
@pytest.fixture
def plan_env(cloud, monkeypatch):
    """A deployed stage, and the environment of an operator of company-a running `rolepact plan`."""
    stage = make_stage(cloud)
    for name in [n for n in __import__("os").environ if n.startswith(("ROLEPACT_", "ALIBABA_CLOUD_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", stage.owner.access_key_id)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", stage.owner.access_key_secret)
    monkeypatch.setenv("ROLEPACT_ACCOUNT_ID", A)
    return stage


def test_plan_new_then_unchanged_then_amended(plan_env, tmp_path, capsys):
    stage = plan_env
    doc = seed()
    path = write(tmp_path, "company-b-ecs-admin.json", doc)
    writes = ram_writes(stage.cloud)

    code, out = run(capsys, "plan", path)
    assert code == 0
    calls = out.strip().splitlines()
    assert [c.split()[0] for c in calls] == ["ram:CreateRole", "ram:CreatePolicy", "ram:AttachPolicyToRole",
                                             "ram:CreatePolicy", "ram:AttachPolicyToRole",
                                             "ram:AttachPolicyToRole"]
    assert "RoleName=ecs-admin" in calls[0] and doc["conditions"]["externalId"] in calls[0]
    assert doc["expiresAt"] in calls[1]  # the guard policy holds the window
    assert calls[-1] == "ram:AttachPolicyToRole RoleName=ecs-admin PolicyType=System PolicyName=AliyunECSFullAccess"
    code, out = run(capsys, "plan", "--json", path)
    assert code == 0 and json.loads(out)["calls"] == calls
    assert ram_writes(stage.cloud) == writes

    # What the plan said is what intake does.
    stage.upload(SEED_KEY, path.read_bytes())
    applied = [a["summary"] for a in stage.status("company-b-ecs-admin")["actions"]]
    assert applied == calls
    writes = ram_writes(stage.cloud)
    code, out = run(capsys, "plan", path)
    assert code == 0 and "no changes" in out

    later = iso(now() + timedelta(days=90))
    code, out = run(capsys, "plan", write(tmp_path, "company-b-ecs-admin.json", {**doc, "expiresAt": later}))
    assert code == 0
    calls = out.strip().splitlines()
    assert [c.split()[0] for c in calls] == ["ram:CreatePolicyVersion"]
    assert later in calls[0]
    assert ram_writes(stage.cloud) == writes


def test_plan_refuses_a_clash_and_bad_files(plan_env, tmp_path, capsys):
    stage = plan_env
    ram(stage.owner).create_role(ram_models.CreateRoleRequest(
        role_name="ecs-admin", assume_role_policy_document=json.dumps({"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{A}:root"]}}]})))
    writes = ram_writes(stage.cloud)
    code, out = run(capsys, "plan", write(tmp_path, "a.json", seed()))
    assert code == 1 and "role.name" in out and "was not created by rolepact" in out
    code, out = run(capsys, "plan", write(tmp_path, "b.json", seed(policies=[
        {"type": "System", "name": "AdministratorAccess"}])))
    assert code == 1 and "policies[0].name" in out and "privileged" in out
    code, out = run(capsys, "plan", write(tmp_path, "c.json", seed(expiresAt="never")))
    assert code == 1 and "expiresAt" in out
    code, out = run(capsys, "plan", "--json", write(tmp_path, "d.json", seed(role__name="fresh")))
    assert code == 0 and len(json.loads(out)["calls"]) == 6
    assert ram_writes(stage.cloud) == writes
