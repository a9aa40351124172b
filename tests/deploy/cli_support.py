"""The real Serverless Devs CLIs, offline, with a recording component in place of fc / fc3.

`s` 2.x and 3.x come from npm into a cache directory outside the repository (installed once
per machine, reused by later runs; `ROLEPACT_S_CLI_CACHE` moves it). Components normally come
from the Serverless Devs registry, which tests cannot reach, so each run gets a throwaway HOME
pre-seeded where the CLIs look before downloading (read from their sources):

- s 2.x core 0.1.66 (`src/common/load/loadComponent.ts`) and s 3.x's legacy core for
  `edition: 1.0.0`: `~/.s/components/devsapp.cn/devsapp/<name>/` with a `.s.lock`, and the
  core cache lock `~/.s/cache/core/.s.lock` (else it downloads a core first);
- s 3.x (@serverless-devs/load-component `getComponentCachePath` + `getLockFile`):
  `~/.s/components/devsapp.cn/v3/<name>/.s.lock`.

The locks carry a far-future check time, so neither CLI starts its background update check.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDER = Path(__file__).with_name("recorder")
CACHE = Path(os.environ.get("ROLEPACT_S_CLI_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rolepact" / "serverless-devs")
FAR_FUTURE_MS = 32503680000000  # year 3000: "checked for updates just now"
EXPORTS = {
    "ROLEPACT_ACCOUNT_ID": "1987654321098765",
    "ROLEPACT_REGION": "cn-shanghai",
    "ROLEPACT_BUCKET": "acme-rolepact-agreements",
    "ROLEPACT_DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef",
    "ROLEPACT_DINGTALK_SECRET": "SEC" + "5e" * 30,
}


def need_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: the real Serverless Devs CLI (an npm package) "
                    "cannot be installed here, so the deployment files are not checked by it")


def cli(major: int) -> Path:
    """`s` of the given major version, installed from npm into the cache once per machine."""
    need_node()
    prefix = CACHE / f"s{major}"
    executable = prefix / "node_modules" / ".bin" / "s"
    marker = prefix / ".installed"
    if marker.exists() and executable.exists():
        return executable
    prefix.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".s{major}.lock", "w") as lock:  # xdist workers install once, not in parallel
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and executable.exists()):
            done = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                                   "--no-save", "--loglevel=error", f"@serverless-devs/s@{major}"],
                                  capture_output=True, text=True, timeout=600)
            if done.returncode != 0 or not executable.exists():
                raise AssertionError(f"npm install @serverless-devs/s@{major} failed:\n{done.stdout}{done.stderr}")
            marker.write_text(_version(prefix), "utf-8")
    return executable


def _version(prefix: Path) -> str:
    package = prefix / "node_modules" / "@serverless-devs" / "s" / "package.json"
    return json.loads(package.read_text("utf-8"))["version"]


def seed_home(home: Path) -> None:
    """A HOME where both CLIs find the recorder as fc (devsapp) and fc3 (v3), and a core."""
    components = home / ".s" / "components" / "devsapp.cn"
    for target, lock in ((components / "devsapp" / "fc", {"currentTimestamp": FAR_FUTURE_MS}),
                         (components / "v3" / "fc3", {"lastUpdateCheck": FAR_FUTURE_MS})):
        shutil.copytree(RECORDER, target)
        (target / ".s.lock").write_text(json.dumps({"version": "0.0.1", **lock}), "utf-8")
    core = home / ".s" / "cache" / "core"
    core.mkdir(parents=True)
    (core / ".s.lock").write_text(json.dumps({"version": "0.1.66", "currentTimestamp": FAR_FUTURE_MS}), "utf-8")


def project(tmp: Path) -> Path:
    """A copy of the deployment files at their repository paths (s writes state beside them)."""
    target = tmp / "project"
    (target / "deploy" / "fc3").mkdir(parents=True)
    shutil.copy(ROOT / "s.yaml", target / "s.yaml")
    shutil.copy(ROOT / "deploy" / "fc3" / "s.yaml", target / "deploy" / "fc3" / "s.yaml")
    return target


@dataclass
class Deploy:
    returncode: int
    output: str
    props: dict  # resource name -> the props the component received
    config_paths: dict  # resource name -> the deployment file the component resolves relative paths against

    def __str__(self) -> str:
        return self.output[-3000:]


def deploy(executable: Path, project_dir: Path, template: str, exports: dict, tmp: Path) -> Deploy:
    """`s deploy -y -t <template>` with only `exports` (and PATH) in the environment."""
    home, records = tmp / "home", tmp / "records"
    if not home.exists():
        seed_home(home)
    if records.exists():
        shutil.rmtree(records)
    records.mkdir()
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
                   "ROLEPACT_S_RECORD_DIR": str(records), **exports}
    done = subprocess.run([str(executable), "deploy", "-y", "-t", template], cwd=project_dir, env=environment,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    recorded = {path.stem: json.loads(path.read_text("utf-8")) for path in sorted(records.glob("*.json"))}
    return Deploy(done.returncode, done.stdout + done.stderr, {name: r["props"] for name, r in recorded.items()},
                  {name: r.get("configPath") for name, r in recorded.items()})
