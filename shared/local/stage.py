"""A complete rolepact deployment on the fake cloud, wired from a deployment file.

Creates the owner (company-a) and partner (company-b) accounts, the bucket, the DingTalk
robot, the FC service role with the repository's least-privilege policy, and registers
every function and trigger the deployment file declares (s.yaml by default, or
deploy/fc3/s.yaml), rendered as `s deploy` renders it from the deployer's five exports.
Used by `rolepact local` and by the tests, so both exercise the wiring `s deploy` creates.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from shared.local.policies import SERVICE_ROLE_POLICY, fill, worker_arn
from shared.local.wiring import Wiring, load
from shared.runtime import reset_settings
from shared.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = {"fc2": PROJECT_ROOT / "s.yaml", "fc3": PROJECT_ROOT / "deploy" / "fc3" / "s.yaml"}
# What the operator exports before `s deploy` (README "Deploy"); everything else is in the file.
EXPORTED = ("ROLEPACT_ACCOUNT_ID", "ROLEPACT_REGION", "ROLEPACT_BUCKET", "ROLEPACT_DINGTALK_WEBHOOK",
            "ROLEPACT_DINGTALK_SECRET")
ROBOT_SECRET = "SEC" + "0f" * 30
FC_TRUST = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                           "Principal": {"Service": ["fc.aliyuncs.com"]}}]}


def service_role_policy(bucket: str, service: str, worker: str = "reconcile_worker", fc_api: str = "fc2",
                        role_prefix: str = "") -> dict:
    """The repository's least-privilege policy for the FC service role, for one deployment (FC 2.0 or 3.0)."""
    text = (PROJECT_ROOT / "deploy" / "service-role-policy.json").read_text("utf-8")
    text = text.replace("${worker_arn}", worker_arn(service, worker, fc_api)).replace("${rolePrefix}", role_prefix)
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
                environment: dict | None = None, deployment: str | Path | None = None, fc_api: str | None = None
                ) -> Stage:
    """Stand up rolepact on `cloud` as the deployment file describes it (optionally only some functions).

    `deployment`: s.yaml (the default; FC 2.0, one service) or deploy/fc3/s.yaml (FC 3.0
    functions, no service). `fc_api="fc3"` deploys the functions of an FC 2.0 file as FC 3.0
    functions instead (shared/local/fc3.py), run with `ROLEPACT_FC_API=fc3`. `environment`
    changes function settings the way an operator edits `vars` (every function gets the same
    values); the five exported variables among them also feed the rendering.
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
    overrides = dict(environment or {})
    exported = {"ROLEPACT_ACCOUNT_ID": owner_id, "ROLEPACT_BUCKET": bucket, "ROLEPACT_REGION": region,
                "ROLEPACT_DINGTALK_WEBHOOK": webhook, "ROLEPACT_DINGTALK_SECRET": ROBOT_SECRET,
                **{name: value for name, value in overrides.items() if name in EXPORTED}}
    wiring = load(deployment or DEPLOYMENTS["fc2"], exported)
    as_fc3 = wiring.fc_api == "fc3" or fc_api == "fc3"
    if as_fc3:
        overrides["ROLEPACT_FC_API"] = "fc3"
    for function in wiring.functions:
        function.environment.update(overrides)
    env = dict(wiring.functions[0].environment)

    ram = RamClient(Config(access_key_id=owner.access_key_id, access_key_secret=owner.access_key_secret,
                           region_id=region))
    role_name = (wiring.service_role or "acs:ram::0:role/rolepact-fc-role").rsplit("/", 1)[1]
    ram.create_role(ram_models.CreateRoleRequest(role_name=role_name, assume_role_policy_document=json.dumps(FC_TRUST),
                                                 description="rolepact function role"))
    settings = Settings.from_env(env)
    ram.create_policy(ram_models.CreatePolicyRequest(
        policy_name="rolepact-fc-policy", policy_document=json.dumps(fill(SERVICE_ROLE_POLICY, wiring))))
    ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="Custom",
                                                                   policy_name="rolepact-fc-policy",
                                                                   role_name=role_name))
    reset_settings(settings)
    selected = [f.name for f in wiring.functions] if functions is None else \
        [wiring.function(name).name for name in functions]
    handlers = {f.name: import_handler(f.handler) for f in wiring.functions if f.name in selected}
    fc = cloud.backend("fc")
    if as_fc3:
        from shared.local.fc3 import deploy_fc3

        deploy_fc3(fc, wiring, owner_id, region, role_name, handlers, selected)
        wiring.service_name = None  # FC 3.0 has no service: fc.invoke_*(account, None, function) reaches them
        return Stage(cloud, wiring, owner, partner, owner_id, partner_id, bucket, region, webhook, settings, env)
    for function in wiring.functions:
        if function.name not in selected:
            continue
        fc.register_function(owner_id, wiring.service_name, function.name, handlers[function.name],
                             handler_name=function.handler, runtime=function.runtime, memory=function.memory,
                             timeout=function.timeout, environment=function.environment, service_role=role_name,
                             max_async_retry=function.max_async_retry, on_failure=function.on_failure,
                             region=region)
        for trigger in function.triggers:
            fc.add_trigger(owner_id, wiring.service_name, function.name, trigger["name"], trigger["type"],
                           trigger["config"], region=region, invocation_role=trigger["role"],
                           source_arn=trigger["sourceArn"])
    return Stage(cloud, wiring, owner, partner, owner_id, partner_id, bucket, region, webhook, settings, env)
