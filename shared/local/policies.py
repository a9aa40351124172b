"""The RAM policies a deployment needs, filled in from its deployment file: `rolepact policies`.

- deploy/service-role-policy.json: what rolepact's code does with the function role
  (least privilege, proven by tests/deploy/test_least_privilege.py);
- deploy/fc-platform-policy.json: what FC itself does with that role — deliver the function
  logs to the `logConfig: auto` logstore and invoke the worker's on-failure destination.

Both hold `${…}` placeholders; `fill` takes their values from the rendered deployment file
(bucket, service or prefix, worker, region, account), so what the operator attaches is what the
file deploys. FC 3.0 names functions `acs:fc:<region>:<account>:functions/<name>` in RAM
(https://help.aliyun.com/zh/functioncompute/fc/developer-reference/api-fc-2023-03-30-enablefunctioninvocation);
FC 2.0 `…:services/<service>/functions/<name>`, so FC resources are rewritten for FC 3.0.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from shared.local.syaml import SyamlError
from shared.local.wiring import Wiring

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVICE_ROLE_POLICY = PROJECT_ROOT / "deploy" / "service-role-policy.json"
PLATFORM_POLICY = PROJECT_ROOT / "deploy" / "fc-platform-policy.json"
_FC2_FUNCTION = re.compile(r"^acs:fc:([^:]*):([^:]*):services/[^/]+/functions/(.+)$")


def worker_arn(service: str, worker: str, fc_api: str = "fc2") -> str:
    """The worker function as the policy's `${worker_arn}`: FC 2.0 `services/<s>/functions/<w>`, FC 3.0 `functions/<w>`."""
    if fc_api == "fc3":
        return f"acs:fc:*:*:functions/{worker}"
    return f"acs:fc:*:*:services/{service}/functions/{worker}"


def values(wiring: Wiring) -> dict[str, str]:
    """Placeholder values for one deployment file (rendered with the deployer's exports)."""
    environment = wiring.functions[0].environment
    api = environment.get("ROLEPACT_FC_API") or wiring.fc_api
    worker = wiring.function(environment.get("ROLEPACT_WORKER_FUNCTION", "reconcile_worker"))
    failure = worker.on_failure or wiring.function("expiry_enforcer").name
    account, region = environment["ROLEPACT_ACCOUNT_ID"], wiring.region
    service = wiring.service_name or environment.get("ROLEPACT_SERVICE_NAME", "rolepact")
    if wiring.fc_api == "fc2":
        log_project, log_store = f"{account}-{region}-logproject", f"fc-service-{service}-logstore"  # fc-deploy sls.ts
    else:
        log_project, log_store = f"serverless-{region}-*", "default-logs"  # fc3 src/resources/sls
    if any(f.log_config != "auto" for f in wiring.functions):
        raise SyamlError(f"{wiring.path}: rolepact policies knows the logConfig: auto names only")
    return {"bucket": environment["ROLEPACT_BUCKET"], "service": service, "worker": worker.name,
            # the only roles the service role may write (ROLEPACT_ROLE_NAME_PREFIX; empty: every role)
            "rolePrefix": environment.get("ROLEPACT_ROLE_NAME_PREFIX", ""),
            "worker_arn": worker_arn(service, worker.name, api),
            "region": region, "account": account, "log_project": log_project, "log_store": log_store,
            "on_failure": failure.rsplit("/", 1)[-1]}


def fill(template: Path, wiring: Wiring) -> dict:
    text = template.read_text("utf-8")
    for name, value in values(wiring).items():
        text = text.replace("${" + name + "}", value)
    if "${" in text:
        raise SyamlError(f"{template}: placeholders left: {sorted(set(re.findall(r'[$][{][^}]*[}]', text)))}")
    document = json.loads(text)
    if (wiring.functions[0].environment.get("ROLEPACT_FC_API") or wiring.fc_api) == "fc3":
        for statement in document["Statement"]:
            statement["Resource"] = _fc3_resources(statement["Resource"])
    return document


def _fc3_resources(resource):
    if isinstance(resource, list):
        unique = []
        for item in resource:
            item = _fc3_resources(item)
            if item not in unique:
                unique.append(item)
        return unique
    match = _FC2_FUNCTION.match(resource)
    return f"acs:fc:{match[1]}:{match[2]}:functions/{match[3]}" if match else resource


def write(wiring: Wiring, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, template in (("rolepact-fc-policy.json", SERVICE_ROLE_POLICY),
                           ("rolepact-fc-platform-policy.json", PLATFORM_POLICY)):
        path = out / name
        path.write_text(json.dumps(fill(template, wiring), indent=2) + "\n", "utf-8")
        written.append(path)
    return written
