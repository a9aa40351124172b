"""Commands of README's "Deploy" section, run as written with the real Serverless Devs CLIs
(tests/deploy/cli_support.py): what an operator types must work with the CLI it is given for."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import cli_support
from cli_support import EXPORTS

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDERS = {"<uid>": EXPORTS["ROLEPACT_ACCOUNT_ID"], "<ak>": "LTAI5tREADMEEXAMPLE0000", "<secret>": "readme-secret"}


def deploy_section() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    return readme[readme.index("\n## Deploy\n"):].split("\n## ", 2)[1]


def config_commands() -> dict[int, str]:
    """README step 1: one `s config add` line per CLI, each marked `# s 2.x` / `# s 3.x`."""
    found = {int(major): command for command, major in
             re.findall(r"^\s*(s config add [^\n#]*?)\s+# s ([23])\.x\s*$", deploy_section(), re.MULTILINE)}
    assert set(found) == {2, 3}, found
    return found


@pytest.mark.parametrize("major", [2, 3], ids=["s2", "s3"])
def test_the_readme_config_command_stores_the_deployers_credentials_under_default(major, tmp_path):
    command = config_commands()[major]
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    executable = cli_support.cli(major)
    home = tmp_path / "home"
    home.mkdir()
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}

    def s(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(executable), *args], env=environment, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    added = s(*shlex.split(command)[1:])
    assert added.returncode == 0 and "error" not in (added.stdout + added.stderr).lower(), added.stdout + added.stderr
    shown = s("config", "get", "-a", "default")
    uid = PLACEHOLDERS["<uid>"]
    assert f"{uid[:3]}{'*' * (len(uid) - 6)}{uid[-3:]}" in shown.stdout, shown.stdout + shown.stderr  # AccountID, masked
    assert "LTA*******" in shown.stdout, shown.stdout


def test_s3_keeps_what_a_component_logs_at_debug_level_in_the_home_logs_secret_included(tmp_path):
    """README step 9: the fc3 component logs the props it deploys at debug level (src/base.ts
    handlePreRun, resources/fc deployFunction); s 3.x writes debug lines to ~/.s/logs/ even without
    `--debug`, so the DingTalk secret is on the deployer's disk there. (s 2.x's core logger does the
    same for the fc component, which logs its inputs in fc-deploy lib/component/component.ts; that
    component's logger is not reachable from the recorder.)"""
    executable = cli_support.cli(3)
    project = cli_support.project(tmp_path)
    run = cli_support.deploy(executable, project, "deploy/fc3/s.yaml", EXPORTS, tmp_path)
    assert run.returncode == 0, run
    secret = EXPORTS["ROLEPACT_DINGTALK_SECRET"]
    assert secret not in run.output  # not on the screen ...
    logs = [path for path in (tmp_path / "home" / ".s" / "logs").rglob("*.log") if secret in path.read_text("utf-8")]
    assert {path.stem for path in logs} == set(run.props)  # ... but in every resource's log file


def readme_exports() -> list[str]:
    """README step 6: the export lines of its code block."""
    block = re.search(r"\*\*Exports — exactly five\.\*\*.*?```sh\n(.*?)```", deploy_section(), re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("major,template", [(2, "s.yaml"), (3, "deploy/fc3/s.yaml")], ids=["s2", "s3-fc3"])
def test_the_readme_exports_work_as_a_dotenv_beside_the_file(major, template, tmp_path):
    """README step 6: "put the same lines, without `export`, in a `.env` file beside the deployment
    file (both CLIs read it, and so does `rolepact policies`)"."""
    lines = readme_exports()
    assert lines and all(line.startswith("export ") for line in lines), lines
    expected = dict(shlex.split(line[len("export "):])[0].split("=", 1) for line in lines)  # what a shell exports
    assert set(expected) == set(EXPORTS)
    project = cli_support.project(tmp_path)
    (project / template).with_name(".env").write_text("".join(line[len("export "):] + "\n" for line in lines), "utf-8")
    run = cli_support.deploy(cli_support.cli(major), project, template, {}, tmp_path)
    assert run.returncode == 0, run
    for resource, props in run.props.items():
        environment = (props.get("function") or props)["environmentVariables"]
        assert {name: environment[name] for name in expected} == expected, resource
    policies = subprocess.run([sys.executable, "-m", "shared.cli", "policies", "--deployment", str(project / template),
                               "--out", str(tmp_path / "policies")], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert policies.returncode == 0, policies.stderr
    platform = (tmp_path / "policies" / "rolepact-fc-platform-policy.json").read_text("utf-8")
    assert f"acs:log:{expected['ROLEPACT_REGION']}:{expected['ROLEPACT_ACCOUNT_ID']}:" in platform

