"""The harness itself: configuration parsing, and the real-mode path run against the fake's server
mode (`python -m fakecloud` in a child process) — the same code a run against Alibaba Cloud uses,
only the endpoint differs. Cleanup is proved by looking for leftovers afterwards, also after a
failing test. (Not part of the report; skipped in real mode.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from .conformance_kit import (ROOT, AccessKey, ConfigError, Identity, Target, delete_role, function_names, sweep,
                             target_from_env, trust_policy)

from fakecloud.server import ServerProcess

A, B = "1234567890123456", "1345678901234567"
KEYS = {A: ("LTAI5tHarnessOwner00000000", "owner-secret-harness"),
        B: ("LTAI5tHarnessPartner000000", "partner-secret-harness")}
KIT_DIR = Path(__file__).parent

pytestmark = pytest.mark.skipif(os.environ.get("ROLEPACT_CONFORMANCE", "fake") != "fake",
                                reason="tests of the harness run only in fake mode")


def real_env(server_url: str | None = None, **extra) -> dict[str, str]:
    env = {"ROLEPACT_CONFORMANCE": "real",
           "ROLEPACT_CONFORMANCE_OWNER_ACCESS_KEY_ID": KEYS[A][0],
           "ROLEPACT_CONFORMANCE_OWNER_ACCESS_KEY_SECRET": KEYS[A][1],
           "ROLEPACT_CONFORMANCE_PARTNER_ACCESS_KEY_ID": KEYS[B][0],
           "ROLEPACT_CONFORMANCE_PARTNER_ACCESS_KEY_SECRET": KEYS[B][1]}
    if server_url:
        env["ROLEPACT_CONFORMANCE_ENDPOINT"] = server_url
    env.update(extra)
    return env


# ============================================================================ configuration
def test_default_is_the_in_process_fake():
    target = target_from_env({})
    assert (target.mode, target.region, target.endpoint, target.owner_key) == ("fake", "cn-hangzhou", None, None)
    assert target.timeout == 10 and target.interval == 0.05 and target.report_dir == ROOT / "build" / "conformance"


def test_real_mode_reads_two_accounts_and_options():
    target = target_from_env(real_env("http://127.0.0.1:9999", ROLEPACT_CONFORMANCE_REGION="cn-shanghai",
                                      ROLEPACT_CONFORMANCE_OWNER_ACCOUNT_ID=A, ROLEPACT_CONFORMANCE_TIMEOUT="60",
                                      ROLEPACT_CONFORMANCE_PREFIX="ci7", ROLEPACT_CONFORMANCE_REPORT_DIR="/tmp/r"))
    assert (target.mode, target.region, target.endpoint, target.protocol, target.endpoint_host) == (
        "real", "cn-shanghai", "http://127.0.0.1:9999", "http", "127.0.0.1:9999")
    assert target.owner_key == AccessKey(*KEYS[A]) and target.partner_key == AccessKey(*KEYS[B])
    assert (target.owner_account, target.partner_account, target.timeout, target.prefix) == (A, None, 60, "ci7")
    assert target.report_dir == Path("/tmp/r")
    assert KEYS[A][1] not in repr(target)  # secrets never reach a report or a failure message
    public = target_from_env(real_env())
    assert public.endpoint is None and public.protocol == "https" and (public.timeout, public.interval) == (900, 2)
    config = Identity(public, public.owner_key).config("sts")
    assert (config.endpoint, config.protocol) == ("sts.cn-hangzhou.aliyuncs.com", "https")
    assert Identity(public, public.owner_key).config("ram").endpoint == "ram.aliyuncs.com"


@pytest.mark.parametrize("env, message", [
    ({"ROLEPACT_CONFORMANCE": "staging"}, "use one of fake, real"),
    ({"ROLEPACT_CONFORMANCE": "real"}, "ROLEPACT_CONFORMANCE_OWNER_ACCESS_KEY_ID"),
    (real_env(ROLEPACT_CONFORMANCE_PARTNER_ACCESS_KEY_SECRET=""), "ROLEPACT_CONFORMANCE_PARTNER_ACCESS_KEY_SECRET"),
    (real_env(ROLEPACT_CONFORMANCE_PARTNER_ACCESS_KEY_ID=KEYS[A][0]), "two different accounts"),
    (real_env("127.0.0.1:8765"), "give the scheme"),
    ({"ROLEPACT_CONFORMANCE_ENDPOINT": "http://127.0.0.1:1"}, "for real mode"),
    ({"ROLEPACT_CONFORMANCE_PREFIX": "Bad_Prefix"}, "lower-case"),
    ({"ROLEPACT_CONFORMANCE_TIMEOUT": "soon"}, "numbers of seconds"),
    ({"ROLEPACT_CONFORMANCE_INTERVAL": "0"}, "more than 0 seconds"),
    (real_env(ROLEPACT_CONFORMANCE_OWNER_ACCOUNT_ID="company-a"), "account id"),
])
def test_bad_configuration_is_refused_with_what_to_set(env, message):
    with pytest.raises(ConfigError, match=message):
        target_from_env(env)


# ============================================================================ real mode over HTTP
@pytest.fixture(scope="module")
def server():
    # The suite deploys tests/conformance/sink.py as an FC function; the fake imports its handler
    # (`conformance.sink.handler`) in the server's process instead of unpacking the code package.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(KIT_DIR.parent), os.environ.get("PYTHONPATH", "")])}
    with ServerProcess([f"{A}:company-a:{KEYS[A][0]}:{KEYS[A][1]}",
                        f"{B}:company-b:{KEYS[B][0]}:{KEYS[B][1]}"], env=env) as running:
        yield running


def robot(server) -> dict[str, str]:
    """A DingTalk robot of the server, as the suite's optional test-robot variables."""
    import urllib.parse
    import urllib.request

    secret = "SEC" + "7" * 61
    request = urllib.request.Request(f"{server.url}/_fakecloud/dingtalk/robots", json.dumps(
        {"secret": secret, "keyword": "rolepact"}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        webhook = json.loads(answer.read())["webhook"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(webhook).query)["access_token"][0]
    return {"ROLEPACT_CONFORMANCE_DINGTALK_WEBHOOK": f"{server.url}/robot/send?access_token={token}",
            "ROLEPACT_CONFORMANCE_DINGTALK_SECRET": secret}


def run_suite(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLEPACT_", "PYTEST_XDIST"))}
    clean["PYTHONPATH"] = os.pathsep.join([str(KIT_DIR), str(ROOT)])
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
                          cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=300)


def leftovers(server_url: str, prefix: str) -> dict[str, list[str]]:
    """Everything named with `prefix` in either account, read through the SDKs over HTTP."""
    from alibabacloud_ram20150501 import models

    target = target_from_env(real_env(server_url))
    found = {}
    for account, key in KEYS.items():
        ram = Identity(target, AccessKey(*key)).ram
        roles = ram.list_roles(models.ListRolesRequest()).body.roles.role or []
        users = ram.list_users(models.ListUsersRequest()).body.users.user or []
        policies = ram.list_policies(models.ListPoliciesRequest(policy_type="Custom")).body.policies.policy or []
        names = [r.role_name for r in roles] + [u.user_name for u in users] + [p.policy_name for p in policies]
        import oss2

        service = oss2.Service(oss2.Auth(*key), server_url)
        names += [b.name for b in oss2.BucketIterator(service)]
        names += function_names(Identity(target, AccessKey(*key), account), prefix)
        found[account] = [n for n in names if n.startswith(prefix)]
    return found


def suite_tests() -> set[str]:
    """Every test function of the conformance suite (the harness's own tests aside)."""
    import ast

    found = set()
    for path in sorted(KIT_DIR.glob("test_*.py")):
        if path.name != "test_harness.py":
            found |= {f"{path.name}::{node.name}" for node in ast.parse(path.read_text()).body
                      if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return found


def test_the_whole_suite_runs_in_real_mode_against_a_server(server, tmp_path):
    """Real mode end to end: every conformance test, with the same code and configuration a run
    against two Alibaba Cloud accounts uses — only the endpoint (and a quicker poll) differ."""
    env = real_env(server.url, ROLEPACT_CONFORMANCE_REPORT_DIR=str(tmp_path), ROLEPACT_CONFORMANCE_PREFIX="hrn",
                   ROLEPACT_CONFORMANCE_TIMEOUT="60", ROLEPACT_CONFORMANCE_INTERVAL="0.1", **robot(server))
    done = run_suite(["tests/conformance", "--ignore", "tests/conformance/test_harness.py"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["mode"], report["endpoint"], report["owner"]) == ("real", server.url, None)
    assert set(report["outcomes"].values()) == {"passed"}, report["outcomes"]
    ran = {node.rsplit("/", 1)[-1].split("[")[0] for node in report["outcomes"]}
    assert ran == suite_tests()  # nothing skipped: the sinks, the trigger and the robot all work over HTTP
    assert any(o["name"].startswith("AssumeRole by an untrusted user") for o in report["observations"])
    assert (tmp_path / "report.md").read_text().startswith("# Conformance report (real)")
    assert leftovers(server.url, "hrn-") == {A: [], B: []}


FAILING_TEST = '''
from conformance_kit import trust_policy


def test_creates_everything_then_fails(owner, partner, build, observe):
    build.user(partner, "alice", "AliyunSTSAssumeRoleAccess")
    policy = build.policy(owner, "p", {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]})
    build.role(owner, "r", trust_policy(f"acs:ram::{partner.account_id}:root"), custom=(policy,))
    bucket = build.bucket(owner, "data")
    bucket.put_object("agreements/x.json", b"{}")
    observe("created", "everything")
    assert False, "this test fails on purpose"
'''


def test_cleanup_runs_after_a_failing_test(server, tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_fails.py").write_text(textwrap.dedent(FAILING_TEST))
    env = real_env(server.url, ROLEPACT_CONFORMANCE_REPORT_DIR=str(tmp_path / "report"),
                   ROLEPACT_CONFORMANCE_PREFIX="hrnfail")
    done = run_suite([str(suite / "test_fails.py"), "--rootdir", str(suite), "-p", "conformance_kit"], env, cwd=suite)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "this test fails on purpose" in done.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(report["outcomes"].values()) == ["failed"]
    assert leftovers(server.url, "hrnfail-") == {A: [], B: []}


def test_the_sweep_removes_what_a_crashed_run_left(server):
    target = target_from_env(real_env(server.url))
    owner = Identity(target, AccessKey(*KEYS[A]), A)
    from alibabacloud_ram20150501 import models

    owner.ram.create_role(models.CreateRoleRequest(role_name="hrnsweep-1-r", assume_role_policy_document=json.dumps(
        trust_policy(f"acs:ram::{B}:root"))))
    owner.ram.attach_policy_to_role(models.AttachPolicyToRoleRequest(policy_type="System", role_name="hrnsweep-1-r",
                                                                     policy_name="AliyunECSReadOnlyAccess"))
    owner.bucket("hrnsweep-1-b").create_bucket()
    owner.bucket("hrnsweep-1-b").put_object("k", b"v")
    removed = sweep(target, [owner, Identity(target, AccessKey(*KEYS[B]), B)], "hrnsweep-")
    assert sorted(removed) == ["bucket hrnsweep-1-b", "role hrnsweep-1-r"]
    assert leftovers(server.url, "hrnsweep-") == {A: [], B: []}
    delete_role(owner, "hrnsweep-1-r")  # deleting what is gone is fine


def test_a_target_never_prints_a_secret():
    target = Target("real", owner_key=AccessKey("LTAI5tVisible", "very-secret-value"))
    assert "very-secret-value" not in repr(target)
