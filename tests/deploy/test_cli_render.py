"""The deployment files as the real Serverless Devs CLIs render them (tests/deploy/cli_support.py).

With only the five exports, `s deploy -y` must hand the fc / fc3 component props with nothing
left unresolved, the exported region, role ARN, bucket and trigger sourceArn, handlers that
exist in the packaged code and environments `Settings` loads; and rolepact's own reader
(shared/local/syaml.py, used by `rolepact local`) must render exactly the same props.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.audit.config import AuditConfig
from shared.local.stage import EXPORTED
from shared.local.syaml import SyamlError, dotenv, render, unresolved
from shared.settings import Settings
import cli_support
from cli_support import EXPORTS

ROOT = Path(__file__).resolve().parents[2]
# (CLI major version, deployment file): s 2.x and s 3.x (legacy core) read s.yaml, s 3.x the fc3 file
CASES = [(2, "s.yaml"), (3, "s.yaml"), (3, "deploy/fc3/s.yaml")]
IDS = ["s2-s.yaml", "s3-s.yaml", "s3-fc3"]


@pytest.fixture(scope="module")
def packaged_code(tmp_path_factory) -> Path:
    """rolepact's code laid out as `make package` lays it out (dependencies come from this venv)."""
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import package
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    dist = tmp_path_factory.mktemp("dist")
    package.copy_code(dist)
    return dist


def _deploy(major: int, template: str, tmp_path: Path, exports: dict, extra_files: dict | None = None):
    executable = cli_support.cli(major)
    project = cli_support.project(tmp_path)
    for name, text in (extra_files or {}).items():
        (project / name).write_text(text, "utf-8")
    return project, cli_support.deploy(executable, project, template, exports, tmp_path)


def _function_props(template: str, props: dict) -> dict:
    """The fc3 props are the function; fc's hold it under `function` (with `service` beside it)."""
    return props if "fc3" in template else {**props["function"], "role": props["service"]["role"]}


@pytest.mark.parametrize("major,template", CASES, ids=IDS)
def test_with_the_five_exports_everything_reaches_the_component_resolved_as_rolepact_reads_it(major, template, tmp_path,
                                                                         packaged_code):
    project, run = _deploy(major, template, tmp_path, EXPORTS)
    assert run.returncode == 0, run
    assert set(run.props) == {"agreement-intake", "expiry-enforcer", "reconcile-worker", "role-auditor",
                              "access-audit"}, run
    assert unresolved(run.props) == []
    uid, region, bucket = EXPORTS["ROLEPACT_ACCOUNT_ID"], EXPORTS["ROLEPACT_REGION"], EXPORTS["ROLEPACT_BUCKET"]
    handlers = []
    for resource, props in run.props.items():
        function = _function_props(template, props)
        assert props["region"] == region
        assert function["role"] == f"acs:ram::{uid}:role/rolepact-fc-role"
        environment = function["environmentVariables"]
        assert all(isinstance(value, str) for value in environment.values()), resource  # FC stores strings
        assert {name: environment[name] for name in EXPORTED} == {name: EXPORTS[name] for name in EXPORTED}
        settings = Settings.from_env(environment)
        assert (settings.account_id, settings.region, settings.bucket) == (uid, region, bucket)
        assert settings.dingtalk_secret == EXPORTS["ROLEPACT_DINGTALK_SECRET"]
        AuditConfig.from_env(environment)
        handlers.append(function["handler"])
        # the component zips the code directory named relative to the file s hands it (README Deploy step 8)
        code = function.get("codeUri") or function.get("code")
        assert (Path(run.config_paths[resource]).parent / code).resolve() == (project / "build" / "dist").resolve()
        types = [trigger.get("type") or trigger.get("triggerType") for trigger in props.get("triggers") or []]
        if "fc3" in template:  # fc3 deploys no trigger listed after an unchanged EventBridge one (impl/trigger.ts)
            assert "eventbridge" not in types[:-1], (resource, types)
        for trigger in props.get("triggers") or []:
            if (trigger.get("type") or trigger.get("triggerType")) == "oss":
                assert trigger["sourceArn"] == f"acs:oss:{region}:{uid}:{bucket}"
                assert trigger.get("config", {}).get("bucketName", bucket) == bucket
    _assert_handlers_resolve_in(packaged_code, handlers)
    assert _ours(project / template) == run.props  # rolepact's reader renders exactly what s rendered


def _ours(path: Path) -> dict:
    rendered = render(path, EXPORTS)
    entries = rendered.get("services") or rendered["resources"]
    return {name: entry["props"] for name, entry in json.loads(json.dumps(entries)).items()}


def _assert_handlers_resolve_in(dist: Path, handlers: list[str]) -> None:
    """FC's loader, roughly: the code root first on sys.path, `file.function` looked up there."""
    probe = (f"import importlib, sys; sys.path.insert(0, {str(dist)!r})\n"
             f"for handler in {handlers!r}:\n"
             "    module, _, name = handler.rpartition('.')\n"
             "    loaded = importlib.import_module(module)\n"
             f"    assert loaded.__file__.startswith({str(dist)!r}), loaded.__file__\n"
             "    assert callable(getattr(loaded, name)), handler\n"
             "    target = loaded.target(name)\n"
             f"    assert sys.modules[target.__module__].__file__.startswith({str(dist)!r})\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd="/", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_s2_leaves_a_missing_export_as_text_and_rolepact_refuses_it(tmp_path):
    partial = {k: v for k, v in EXPORTS.items() if k != "ROLEPACT_DINGTALK_SECRET"}
    project, run = _deploy(2, "s.yaml", tmp_path, partial)
    assert run.returncode == 0, run  # s 2.x deploys it regardless ...
    environment = run.props["agreement-intake"]["function"]["environmentVariables"]
    assert environment["ROLEPACT_DINGTALK_SECRET"] == "${env(ROLEPACT_DINGTALK_SECRET)}"  # ... as text
    with pytest.raises(SyamlError, match=r"\$\{env\(ROLEPACT_DINGTALK_SECRET\)\}"):
        render(project / "s.yaml", partial)


def test_s3_stops_on_a_missing_export_and_so_does_rolepact(tmp_path):
    partial = {k: v for k, v in EXPORTS.items() if k != "ROLEPACT_BUCKET"}
    project, run = _deploy(3, "deploy/fc3/s.yaml", tmp_path, partial)
    assert run.returncode != 0 and "env('ROLEPACT_BUCKET') not found" in run.output, run
    assert run.props == {}
    with pytest.raises(SyamlError, match=r"env\('ROLEPACT_BUCKET'\) not found"):
        render(project / "deploy/fc3/s.yaml", partial)


OVERRIDE = {"ROLEPACT_ALLOWED_PARTNERS": "1345678901234567", "ROLEPACT_MAX_AGREEMENT_DAYS": "90"}


@pytest.mark.parametrize("major,template,base", [(2, "s.prod.yaml", "s.yaml"),
                                                 (3, "deploy/fc3/s.prod.yaml", "s.yaml")], ids=["s2", "s3-fc3"])
def test_settings_are_overridden_the_documented_way(major, template, base, tmp_path):
    """README: a file of your own with `extend:` and only the vars you change; `s deploy -t` it.
    With s 2.x the DingTalk secret comes from a `.env` beside the file instead of the shell."""
    lines = [f"extend: {base}", "vars:", "  environment:"] + [f"    {k}: '{v}'" for k, v in OVERRIDE.items()]
    files = {template: "\n".join(lines) + "\n"}
    secret, exports = EXPORTS["ROLEPACT_DINGTALK_SECRET"], dict(EXPORTS)
    if major == 2:
        del exports["ROLEPACT_DINGTALK_SECRET"]
        files[str(Path(template).with_name(".env"))] = f"ROLEPACT_DINGTALK_SECRET={secret}\n"
    project, run = _deploy(major, template, tmp_path, exports, files)
    assert run.returncode == 0, run
    assert len(run.props) == 5
    for resource, props in run.props.items():
        environment = _function_props(template, props)["environmentVariables"]
        assert {k: environment[k] for k in OVERRIDE} == OVERRIDE, resource
        assert environment["ROLEPACT_BUCKET"] == EXPORTS["ROLEPACT_BUCKET"]  # the rest is untouched
        assert environment["ROLEPACT_DINGTALK_SECRET"] == secret
    assert _ours(project / template) == run.props


def test_s3_reads_a_dotenv_beside_the_file_but_not_for_a_file_that_extends_another(tmp_path):
    """README step 6: `.env` works with s 3.x for deploy/fc3/s.yaml itself; an `extend:` file renders
    its base before s 3.x loads `.env`, so there the five must be exported."""
    secret = EXPORTS["ROLEPACT_DINGTALK_SECRET"]
    exports = {k: v for k, v in EXPORTS.items() if k != "ROLEPACT_DINGTALK_SECRET"}
    files = {"deploy/fc3/.env": f"ROLEPACT_DINGTALK_SECRET='{secret}'\n",
             "deploy/fc3/s.prod.yaml": "extend: s.yaml\nvars:\n  roleName: rolepact-fc-role\n"}
    project, run = _deploy(3, "deploy/fc3/s.yaml", tmp_path, exports, files)
    assert run.returncode == 0, run
    assert {p["environmentVariables"]["ROLEPACT_DINGTALK_SECRET"] for p in run.props.values()} == {secret}
    assert dotenv(project / "deploy/fc3/s.yaml") == {"ROLEPACT_DINGTALK_SECRET": secret}
    extended = cli_support.deploy(cli_support.cli(3), project, "deploy/fc3/s.prod.yaml", exports, tmp_path)
    assert extended.returncode != 0 and "env('ROLEPACT_DINGTALK_SECRET') not found" in extended.output, extended
