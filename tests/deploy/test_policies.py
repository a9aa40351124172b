"""`rolepact policies`: the two RAM policies, filled from each deployment file (README "Deploy")."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.local.policies import PLATFORM_POLICY, SERVICE_ROLE_POLICY, fill
from shared.local.stage import DEPLOYMENTS, service_role_policy
from shared.local.wiring import load

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = {"ROLEPACT_ACCOUNT_ID": "1987654321098765", "ROLEPACT_REGION": "cn-shanghai",
           "ROLEPACT_BUCKET": "acme-rolepact", "ROLEPACT_DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?x=1",
           "ROLEPACT_DINGTALK_SECRET": "SEC" + "cd" * 30}


def _fc_resources(document: dict) -> list[str]:
    found = []
    for statement in document["Statement"]:
        resources = statement["Resource"]
        found += [r for r in ([resources] if isinstance(resources, str) else resources) if r.startswith("acs:fc:")]
    return found


def test_fc2_fills_the_placeholders_the_way_the_readme_used_to_sed_them():
    wiring = load(DEPLOYMENTS["fc2"], EXPORTS)
    assert fill(SERVICE_ROLE_POLICY, wiring) == service_role_policy("acme-rolepact", "rolepact", "reconcile_worker")
    platform = fill(PLATFORM_POLICY, wiring)
    logs, invoke = platform["Statement"]
    assert logs["Resource"] == ("acs:log:cn-shanghai:1987654321098765:project/1987654321098765-cn-shanghai-logproject"
                                "/logstore/fc-service-rolepact-logstore")
    assert invoke["Resource"] == ["acs:fc:cn-shanghai:1987654321098765:services/rolepact/functions/expiry_enforcer",
                                  "acs:fc:cn-shanghai:1987654321098765:services/rolepact.*/functions/expiry_enforcer"]


def test_fc3_names_functions_as_fc3_does_in_ram():
    wiring = load(DEPLOYMENTS["fc3"], EXPORTS)
    role = fill(SERVICE_ROLE_POLICY, wiring)
    assert _fc_resources(role) == ["acs:fc:*:*:functions/rolepact-reconcile-worker"]
    assert "acs:oss:*:*:acme-rolepact/*" in json.dumps(role)
    logs, invoke = fill(PLATFORM_POLICY, wiring)["Statement"]
    assert logs["Resource"] == "acs:log:cn-shanghai:1987654321098765:project/serverless-cn-shanghai-*/logstore/default-logs"
    assert invoke["Resource"] == ["acs:fc:cn-shanghai:1987654321098765:functions/rolepact-expiry-enforcer"]
    assert invoke["Resource"][0] == wiring.function("reconcile_worker").on_failure  # the destination itself


@pytest.mark.parametrize("api", sorted(DEPLOYMENTS))
def test_the_command_writes_both_files_and_refuses_a_missing_export(api, tmp_path):
    command = [sys.executable, "-m", "shared.cli", "policies", "--deployment", str(DEPLOYMENTS[api]),
               "--out", str(tmp_path / "p")]
    done = subprocess.run(command, cwd=ROOT, env={"PATH": "/usr/bin:/bin", **EXPORTS}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert written == ["rolepact-fc-platform-policy.json", "rolepact-fc-policy.json"]
    for path in (tmp_path / "p").iterdir():
        assert "${" not in path.read_text() and json.loads(path.read_text())["Version"] == "1"
    partial = {k: v for k, v in EXPORTS.items() if k != "ROLEPACT_REGION"}
    done = subprocess.run(command, cwd=ROOT, env={"PATH": "/usr/bin:/bin", **partial}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "ROLEPACT_REGION" in done.stderr and "Traceback" not in done.stderr
