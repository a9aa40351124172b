"""A complete rolepact deployment on the fake cloud, wired from s.yaml.

Creates the owner (company-a) and partner (company-b) accounts, the bucket, the DingTalk
robot, the FC service role with the repository's least-privilege policy, and registers
every function and trigger s.yaml declares. Used by `rolepact local` and by the tests, so
both exercise the same wiring that `s deploy` would create.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from shared.local.syaml import Wiring, load
from shared.runtime import reset_settings
from shared.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROBOT_SECRET = "SEC" + "0f" * 30
FC_TRUST = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                           "Principal": {"Service": ["fc.aliyuncs.com"]}}]}


def worker_arn(service: str, worker: str, fc_api: str = "fc2") -> str:
    """The worker function as the policy's `${worker_arn}`: FC 2.0 `services/<s>/functions/<w>`, FC 3.0 `functions/<w>`."""
    if fc_api == "fc3":
        return f"acs:fc:*:*:functions/{worker}"
    return f"acs:fc:*:*:services/{service}/functions/{worker}"


def service_role_policy(bucket: str, service: str, worker: str = "reconcile_worker", fc_api: str = "fc2") -> dict:
    """The repository's least-privilege policy for the FC service role, for one deployment (FC 2.0 or 3.0)."""
    text = (PROJECT_ROOT / "deploy" / "service-role-policy.json").read_text("utf-8")
    text = text.replace("${worker_arn}", worker_arn(service, worker, fc_api))
    return json.loads(text.replace("${bucket}", bucket).replace("${service}", service).replace("${worker}", worker))


def import_handler(handler: str):
    module_name, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass
class Stage:
    cloud: object
    wiring: Wiring
    owner: object  # fakecloud Credentials
    partner: object
    owner_id: str
    partner_id: str
    bucket: str
    region: str
    webhook: str
    settings: Settings
    environment: dict = field(default_factory=dict)

    # -- the owner's hands ------------------------------------------------------------------------
    def oss(self, credentials=None):
        import oss2

        creds = credentials or self.owner
        auth = (oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
                if getattr(creds, "security_token", None) else oss2.Auth(creds.access_key_id, creds.access_key_secret))
        return oss2.Bucket(auth, f"https://oss-{self.region}.aliyuncs.com", self.bucket)

    def upload(self, key: str, content, *, credentials=None, deliver: bool = True) -> None:
        data = content if isinstance(content, bytes) else json.dumps(content, indent=2).encode("utf-8")
        self.oss(credentials).put_object(key, data)
        if deliver:
            self.deliver()

    def delete(self, key: str, *, credentials=None, deliver: bool = True) -> None:
        self.oss(credentials).delete_object(key)
        if deliver:
            self.deliver()

    def read_json(self, key: str) -> dict | None:
        import oss2

        try:
            return json.loads(self.oss().get_object(key).read())
        except oss2.exceptions.NoSuchKey:
            return None

    def read_text(self, key: str) -> str:
        return self.oss().get_object(key).read().decode("utf-8")

    def status(self, agreement_id: str) -> dict | None:
        return self.read_json(f"status/{agreement_id}.json")

    # -- the platform -------------------------------------------------------------------------------
    @property
    def fc(self):
        return self.cloud.backend("fc")

    def deliver(self) -> int:
        """Run every queued FC invocation (async triggers, fan-out) until the queue is empty."""
        return self.fc.run_pending()

    def tick(self, now=None) -> int:
        """Fire the timers due at `now` (default: the process clock) and run what they queue."""
        fired = self.fc.fire_due_timers(now)
        self.deliver()
        return fired

    def messages(self) -> list[dict]:
        return self.cloud.backend("dingtalk").messages(self.webhook)


def build_stage(cloud, *, owner_id: str = "1234567890123456", owner_alias: str = "company-a",
                partner_id: str = "1345678901234567", partner_alias: str = "company-b",
                bucket: str = "rolepact-data", region: str = "cn-hangzhou", functions: list[str] | None = None,
                environment: dict | None = None, syaml: str | Path | None = None, fc_api: str = "fc2") -> Stage:
    """Stand up rolepact on `cloud` as s.yaml describes it (optionally only some functions).

    `fc_api="fc3"` deploys the same functions and triggers as FC 3.0 functions (no service,
    role and async config per function; shared/local/fc3.py) and runs them with
    `ROLEPACT_FC_API=fc3`.
    """
    import oss2
    from alibabacloud_ram20150501 import models as ram_models
    from alibabacloud_ram20150501.client import Client as RamClient
    from alibabacloud_tea_openapi.models import Config

    owner = cloud.add_account(owner_id, owner_alias)
    partner = cloud.add_account(partner_id, partner_alias)
    oss2.Bucket(oss2.Auth(owner.access_key_id, owner.access_key_secret),
                f"https://oss-{region}.aliyuncs.com", bucket).create_bucket()
    webhook = cloud.add_dingtalk_robot(secret=ROBOT_SECRET, keyword="rolepact", account_id=owner_id)
    env = {"ROLEPACT_ACCOUNT_ID": owner_id, "ROLEPACT_BUCKET": bucket, "ROLEPACT_REGION": region,
           "ROLEPACT_DINGTALK_WEBHOOK": webhook, "ROLEPACT_DINGTALK_SECRET": ROBOT_SECRET, **(environment or {})}
    wiring = load(syaml or PROJECT_ROOT / "s.yaml", env)
    if fc_api == "fc3":
        env["ROLEPACT_FC_API"] = "fc3"
        for function in wiring.functions:
            function.environment = {**function.environment, "ROLEPACT_FC_API": "fc3"}

    ram = RamClient(Config(access_key_id=owner.access_key_id, access_key_secret=owner.access_key_secret,
                           region_id=region))
    role_name = (wiring.service_role or "acs:ram::0:role/rolepact-fc-role").rsplit("/", 1)[1]
    ram.create_role(ram_models.CreateRoleRequest(role_name=role_name, assume_role_policy_document=json.dumps(FC_TRUST),
                                                 description="rolepact function role"))
    worker = next((f.name for f in wiring.functions if f.name == "reconcile_worker"), "reconcile_worker")
    ram.create_policy(ram_models.CreatePolicyRequest(
        policy_name="rolepact-fc-policy",
        policy_document=json.dumps(service_role_policy(bucket, wiring.service_name, worker, fc_api))))
    ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="Custom",
                                                                   policy_name="rolepact-fc-policy",
                                                                   role_name=role_name))
    settings = Settings.from_env(wiring.functions[0].environment if wiring.functions else env)
    reset_settings(settings)
    fc = cloud.backend("fc")
    if fc_api == "fc3":
        from shared.local.fc3 import deploy_fc3

        handlers = {f.name: import_handler(f.handler) for f in wiring.functions
                    if functions is None or f.name in functions}
        deploy_fc3(fc, wiring, owner_id, region, role_name, handlers, functions)
        wiring.service_name = None  # FC 3.0 has no service: fc.invoke_*(account, None, function) reaches them
        return Stage(cloud, wiring, owner, partner, owner_id, partner_id, bucket, region, webhook, settings, env)
    for function in wiring.functions:
        if functions is not None and function.name not in functions:
            continue
        fc.register_function(owner_id, wiring.service_name, function.name, import_handler(function.handler),
                             handler_name=function.handler, runtime=function.runtime, memory=function.memory,
                             timeout=function.timeout, environment=function.environment, service_role=role_name,
                             max_async_retry=function.max_async_retry, on_failure=function.on_failure,
                             region=region)
        for trigger in function.triggers:
            fc.add_trigger(owner_id, wiring.service_name, function.name, trigger["name"], trigger["type"],
                           trigger.get("config") or {}, region=region)
    return Stage(cloud, wiring, owner, partner, owner_id, partner_id, bucket, region, webhook, settings, env)
