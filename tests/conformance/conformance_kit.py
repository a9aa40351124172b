"""The conformance suite's harness: the same tests against the fake and against real Alibaba Cloud.

Pattern: moto's tests that can also run against real AWS. Every test talks to the cloud only
through the official SDKs (or rolepact's gateways), with clients built here from a `Target`;
the *only* difference between modes is configuration:

- `fake` (default; `make test`): an in-process `mock_cloud()` per test with two accounts, owner
  `1234567890123456` and partner `1345678901234567`. The SDKs call the real endpoint names and
  the fake answers them.
- `real` (`ROLEPACT_CONFORMANCE=real`): two real accounts from `ROLEPACT_CONFORMANCE_OWNER_*` /
  `ROLEPACT_CONFORMANCE_PARTNER_*` credentials. With `ROLEPACT_CONFORMANCE_ENDPOINT` every
  service is called at that one endpoint instead (the fake's server mode): that is how the
  real-mode path itself is tested here without a network.

Fixtures (through tests/conformance/conftest.py): `target`, `owner`, `partner`, `prefix` (unique, short,
valid for RAM and OSS names), `cleanup` (runs after the test even if it failed), `observe`,
`fake` (fake-only knobs; None outside fake mode), `build` (create RAM users, roles, policies and
buckets with cleanup registered). Every observation and every test outcome goes into a report
(JSON and Markdown) written when the run ends; its path is printed. See docs/conformance.md.
"""
from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_OWNER, FAKE_PARTNER = "1234567890123456", "1345678901234567"
MODES = ("fake", "real")
ENV_PREFIX = "ROLEPACT_CONFORMANCE"


class ConfigError(ValueError):
    """The environment does not describe a usable target; the message says what to set."""


# ======================================================================================= configuration
@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None

    def __repr__(self) -> str:  # never print a secret in a report or a failure message
        return f"AccessKey({self.access_key_id[:8]}…)"


@dataclass(frozen=True)
class Target:
    mode: str  # "fake" | "real"
    region: str = "cn-hangzhou"
    endpoint: str | None = None  # one endpoint for every service (the fake's server mode), else the public ones
    owner_key: AccessKey | None = None
    partner_key: AccessKey | None = None
    owner_account: str | None = None  # learnt with GetCallerIdentity when not given
    partner_account: str | None = None
    report_dir: Path = ROOT / "build" / "conformance"
    prefix: str = "rpconf"
    timeout: float = 10.0  # seconds to wait for an eventually-true observation
    interval: float = 0.05  # seconds between polls
    dingtalk_webhook: str | None = None
    dingtalk_secret: str | None = None

    @property
    def is_fake(self) -> bool:
        return self.mode == "fake"

    @property
    def protocol(self) -> str:
        return self.endpoint.split("://", 1)[0] if self.endpoint and "://" in self.endpoint else "https"

    @property
    def endpoint_host(self) -> str | None:
        return self.endpoint.split("://", 1)[-1].rstrip("/") if self.endpoint else None


ENVIRONMENT = {
    f"{ENV_PREFIX}": "fake (default) or real",
    f"{ENV_PREFIX}_REGION": "region of every regional call (default cn-hangzhou)",
    f"{ENV_PREFIX}_OWNER_ACCESS_KEY_ID": "real: AccessKey of an administrator of the owner account (A)",
    f"{ENV_PREFIX}_OWNER_ACCESS_KEY_SECRET": "real: its secret",
    f"{ENV_PREFIX}_PARTNER_ACCESS_KEY_ID": "real: AccessKey of an administrator of the partner account (B)",
    f"{ENV_PREFIX}_PARTNER_ACCESS_KEY_SECRET": "real: its secret",
    f"{ENV_PREFIX}_OWNER_ACCOUNT_ID": "optional: A's account id (else STS GetCallerIdentity)",
    f"{ENV_PREFIX}_PARTNER_ACCOUNT_ID": "optional: B's account id (else STS GetCallerIdentity)",
    f"{ENV_PREFIX}_ENDPOINT": "optional: one endpoint for every service, e.g. http://127.0.0.1:8765 (fake server)",
    f"{ENV_PREFIX}_REPORT_DIR": "where report.json and report.md go (default build/conformance)",
    f"{ENV_PREFIX}_PREFIX": "start of every resource name the suite creates (default rpconf)",
    f"{ENV_PREFIX}_TIMEOUT": "seconds to wait for eventual effects (default: fake 10, real 900)",
    f"{ENV_PREFIX}_INTERVAL": "seconds between polls of an eventual effect (default: fake 0.05, real 2)",
    f"{ENV_PREFIX}_DINGTALK_WEBHOOK": "optional: a test robot for the DingTalk tests (real mode skips them without)",
    f"{ENV_PREFIX}_DINGTALK_SECRET": "optional: its signing secret",
}


def target_from_env(env: Mapping[str, str] | None = None) -> Target:
    """Read the target from `ROLEPACT_CONFORMANCE*` variables (see ENVIRONMENT)."""
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(f"{ENV_PREFIX}{name}", "").strip()
        return value or None

    mode = (get("") or "fake").lower()
    if mode not in MODES:
        raise ConfigError(f"{ENV_PREFIX}={mode!r}: use one of {', '.join(MODES)}")
    prefix = get("_PREFIX") or "rpconf"
    if not prefix.replace("-", "").isalnum() or not prefix[0].isalpha() or prefix != prefix.lower() or len(prefix) > 12:
        raise ConfigError(f"{ENV_PREFIX}_PREFIX={prefix!r}: 1-12 lower-case letters, digits or '-', starting with a "
                          "letter (it starts RAM role, user and policy names and OSS bucket names)")
    try:
        timeout = float(get("_TIMEOUT") or (10 if mode == "fake" else 900))
        interval = float(get("_INTERVAL") or (0.05 if mode == "fake" else 2.0))
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}_TIMEOUT and _INTERVAL must be numbers of seconds") from None
    if interval <= 0:
        raise ConfigError(f"{ENV_PREFIX}_INTERVAL must be more than 0 seconds")
    endpoint = get("_ENDPOINT")
    if endpoint and "://" not in endpoint:
        raise ConfigError(f"{ENV_PREFIX}_ENDPOINT={endpoint!r}: give the scheme, e.g. http://127.0.0.1:8765")
    common = dict(region=get("_REGION") or "cn-hangzhou", prefix=prefix, timeout=timeout, interval=interval,
                  endpoint=endpoint,
                  report_dir=Path(get("_REPORT_DIR") or ROOT / "build" / "conformance"),
                  dingtalk_webhook=get("_DINGTALK_WEBHOOK"), dingtalk_secret=get("_DINGTALK_SECRET"))
    if mode == "fake":
        if endpoint:
            raise ConfigError(f"{ENV_PREFIX}_ENDPOINT is for real mode (a server) — fake mode runs in-process")
        return Target("fake", **common)
    missing = [f"{ENV_PREFIX}{suffix}" for suffix in ("_OWNER_ACCESS_KEY_ID", "_OWNER_ACCESS_KEY_SECRET",
                                                      "_PARTNER_ACCESS_KEY_ID", "_PARTNER_ACCESS_KEY_SECRET")
               if not get(suffix)]
    if missing:
        raise ConfigError(f"{ENV_PREFIX}=real needs the credentials of two accounts: set {', '.join(missing)}")
    owner = AccessKey(get("_OWNER_ACCESS_KEY_ID"), get("_OWNER_ACCESS_KEY_SECRET"))
    partner = AccessKey(get("_PARTNER_ACCESS_KEY_ID"), get("_PARTNER_ACCESS_KEY_SECRET"))
    if owner.access_key_id == partner.access_key_id:
        raise ConfigError("the owner and partner credentials must belong to two different accounts")
    for name in ("_OWNER_ACCOUNT_ID", "_PARTNER_ACCOUNT_ID"):
        if get(name) and not get(name).isdigit():
            raise ConfigError(f"{ENV_PREFIX}{name} must be an account id (digits)")
    return Target("real", owner_key=owner, partner_key=partner, owner_account=get("_OWNER_ACCOUNT_ID"),
                  partner_account=get("_PARTNER_ACCOUNT_ID"), **common)


# ======================================================================================= clients
POP_HOSTS = {  # the public endpoint of each POP product (RAM is global)
    "ram": lambda region: "ram.aliyuncs.com",
    "sts": lambda region: f"sts.{region}.aliyuncs.com",
    "actiontrail": lambda region: f"actiontrail.{region}.aliyuncs.com",
    "ecs": lambda region: f"ecs.{region}.aliyuncs.com",
}


@dataclass(frozen=True)
class Identity:
    """Credentials plus where to send them: builds every SDK client the suite uses."""

    target: Target
    key: AccessKey
    account_id: str | None = None
    label: str = ""

    def config(self, product: str, region: str | None = None):
        from alibabacloud_tea_openapi.models import Config

        region = region or self.target.region
        host = self.target.endpoint_host or POP_HOSTS[product](region)
        return Config(access_key_id=self.key.access_key_id, access_key_secret=self.key.access_key_secret,
                      security_token=self.key.security_token, region_id=region, endpoint=host,
                      protocol=self.target.protocol, connect_timeout=10_000, read_timeout=30_000)

    @property
    def ram(self):
        from alibabacloud_ram20150501.client import Client

        return Client(self.config("ram"))

    @property
    def sts(self):
        from alibabacloud_sts20150401.client import Client

        return Client(self.config("sts"))

    def trail(self, region: str | None = None):
        from alibabacloud_actiontrail20200706.client import Client

        return Client(self.config("actiontrail", region))

    @property
    def ecs(self):
        from alibabacloud_ecs20140526.client import Client

        return Client(self.config("ecs"))

    @property
    def fc3(self):
        """Function Compute 3.0 at `<account>.<region>.fc.aliyuncs.com` (FC's documented endpoint)."""
        from alibabacloud_fc20230330.client import Client
        from alibabacloud_tea_openapi.models import Config

        host = self.target.endpoint_host or f"{self.account_id}.{self.target.region}.fc.aliyuncs.com"
        return Client(Config(access_key_id=self.key.access_key_id, access_key_secret=self.key.access_key_secret,
                             security_token=self.key.security_token, region_id=self.target.region, endpoint=host,
                             protocol=self.target.protocol, connect_timeout=10_000, read_timeout=60_000))

    def oss_endpoint(self) -> str:
        return self.target.endpoint or f"https://oss-{self.target.region}.aliyuncs.com"

    def oss_auth(self):
        import oss2

        if self.key.security_token:
            return oss2.StsAuth(self.key.access_key_id, self.key.access_key_secret, self.key.security_token)
        return oss2.Auth(self.key.access_key_id, self.key.access_key_secret)

    def bucket(self, name: str):
        import oss2

        return oss2.Bucket(self.oss_auth(), self.oss_endpoint(), name, connect_timeout=10)

    def settings(self, bucket: str = "rolepact-data", **changes):
        """rolepact Settings for these credentials (for the product's gateways)."""
        from shared.settings import Credentials, Endpoints, Settings

        endpoints = Endpoints()
        if self.target.endpoint:
            endpoints = Endpoints(ram=self.target.endpoint, sts=self.target.endpoint, oss=self.target.endpoint,
                                  actiontrail=self.target.endpoint, fc=self.target.endpoint,
                                  protocol=self.target.protocol)
        return Settings(account_id=self.account_id or "", region=self.target.region, bucket=bucket,
                        credentials=Credentials(self.key.access_key_id, self.key.access_key_secret,
                                                self.key.security_token),
                        endpoints=endpoints, sleep=lambda seconds: time.sleep(min(seconds, 1.0)), **changes)

    def gateways(self, bucket: str = "rolepact-data", **changes):
        from shared.gateways import Gateways

        return Gateways.connect(self.settings(bucket, **changes))

    def with_key(self, key: AccessKey, label: str = "", account_id: str | None = None) -> "Identity":
        return replace(self, key=key, label=label, account_id=account_id or self.account_id)


def error_code(error: BaseException) -> str | None:
    """The cloud's error code of any SDK exception (tea, oss2), else None."""
    return getattr(error, "code", None)


# ======================================================================================= waiting
def eventually(check: Callable[[], object], *, timeout: float, interval: float, what: str = "the condition"):
    """Call `check` until it returns a truthy value (returned with the seconds it took).

    An exception from `check` counts as "not yet"; the last one is reported on timeout.
    """
    started = time.monotonic()
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value, time.monotonic() - started
        except AssertionError as problem:
            last = problem
        except Exception as problem:  # noqa: BLE001 - a cloud error is "not yet" until the deadline
            last = problem
        if time.monotonic() - started >= timeout:
            raise AssertionError(f"{what} did not hold within {timeout:.0f} s" + (f": {last!r}" if last else ""))
        time.sleep(interval)


# ======================================================================================= cleanup
class Cleanup:
    """Undo steps run last-in first-out after a test, whatever happened in it.

    Each step is retried while it fails with a code that means "not yet" (RAM is eventually
    consistent: a detach may not be visible to DeleteRole at once); a step that still fails is
    recorded and the remaining steps run anyway. `run()` raises at the end if any step failed.
    """

    RETRY_CODES = frozenset({"DeleteConflict.Role.Policy", "DeleteConflict.Policy.User", "DeleteConflict.Policy.Group",
                             "DeleteConflict.Policy.Version", "DeleteConflict.User.AccessKey",
                             "DeleteConflict.User.Policy", "BucketNotEmpty", "Throttling", "Throttling.User",
                             "ServiceUnavailable", "InternalError"})

    def __init__(self, *, timeout: float, interval: float) -> None:
        self.timeout, self.interval = timeout, interval
        self.steps: list[tuple[str, Callable[[], None]]] = []
        self.failures: list[str] = []
        self.done: list[str] = []

    def add(self, what: str, step: Callable[[], None]) -> None:
        self.steps.append((what, step))

    def run(self) -> None:
        while self.steps:
            what, step = self.steps.pop()
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    step()
                    self.done.append(what)
                    break
                except Exception as problem:  # noqa: BLE001 - cleanup must go on
                    if error_code(problem) in self.RETRY_CODES and time.monotonic() < deadline:
                        time.sleep(self.interval)
                        continue
                    self.failures.append(f"{what}: {problem!r}")
                    break
        if self.failures:
            raise AssertionError("cleanup left resources behind:\n  " + "\n  ".join(self.failures))


def _unless_gone(gone: str, call: Callable[[], object]):
    """`call()`, or None when the cloud answers `gone` (the resource is already deleted)."""
    try:
        return call()
    except Exception as problem:  # noqa: BLE001
        if error_code(problem) == gone:
            return None
        raise


def _ignore(codes: set[str], call: Callable[[], object]) -> None:
    try:
        call()
    except Exception as problem:  # noqa: BLE001
        if error_code(problem) not in codes:
            raise


def delete_role(identity: Identity, name: str) -> None:
    """Detach every policy, then delete the role (already gone is fine)."""
    from alibabacloud_ram20150501 import models

    ram = identity.ram
    found = _unless_gone("EntityNotExist.Role", lambda: ram.list_policies_for_role(
        models.ListPoliciesForRoleRequest(role_name=name)))
    if found is None:
        return
    attached = found.body
    for policy in (attached.policies.policy if attached.policies else None) or []:
        _ignore({"EntityNotExist.Role.Policy", "EntityNotExist.Role"}, lambda p=policy: ram.detach_policy_from_role(
            models.DetachPolicyFromRoleRequest(policy_type=p.policy_type, policy_name=p.policy_name, role_name=name)))
    _ignore({"EntityNotExist.Role"}, lambda: ram.delete_role(models.DeleteRoleRequest(role_name=name)))


def delete_user(identity: Identity, name: str) -> None:
    """Delete the user's AccessKeys, detach its policies, delete it (already gone is fine)."""
    from alibabacloud_ram20150501 import models

    ram = identity.ram
    found = _unless_gone("EntityNotExist.User", lambda: ram.list_access_keys(models.ListAccessKeysRequest(user_name=name)))
    if found is None:
        return
    keys = found.body
    for key in (keys.access_keys.access_key if keys.access_keys else None) or []:
        _ignore({"EntityNotExist.User.AccessKey"}, lambda k=key: ram.delete_access_key(
            models.DeleteAccessKeyRequest(user_name=name, user_access_key_id=k.access_key_id)))
    attached = ram.list_policies_for_user(models.ListPoliciesForUserRequest(user_name=name)).body
    for policy in (attached.policies.policy if attached.policies else None) or []:
        _ignore({"EntityNotExist.User.Policy"}, lambda p=policy: ram.detach_policy_from_user(
            models.DetachPolicyFromUserRequest(policy_type=p.policy_type, policy_name=p.policy_name, user_name=name)))
    _ignore({"EntityNotExist.User"}, lambda: ram.delete_user(models.DeleteUserRequest(user_name=name)))


def delete_policy(identity: Identity, name: str) -> None:
    """Detach a custom policy from everything, drop its other versions, delete it."""
    from alibabacloud_ram20150501 import models

    ram = identity.ram
    found = _unless_gone("EntityNotExist.Policy", lambda: ram.list_entities_for_policy(
        models.ListEntitiesForPolicyRequest(policy_type="Custom", policy_name=name)))
    if found is None:
        return
    entities = found.body
    for role in (entities.roles.role if entities.roles else None) or []:
        _ignore({"EntityNotExist.Role.Policy", "EntityNotExist.Role"}, lambda r=role: ram.detach_policy_from_role(
            models.DetachPolicyFromRoleRequest(policy_type="Custom", policy_name=name, role_name=r.role_name)))
    for user in (entities.users.user if entities.users else None) or []:
        _ignore({"EntityNotExist.User.Policy", "EntityNotExist.User"}, lambda u=user: ram.detach_policy_from_user(
            models.DetachPolicyFromUserRequest(policy_type="Custom", policy_name=name, user_name=u.user_name)))
    versions = ram.list_policy_versions(models.ListPolicyVersionsRequest(policy_type="Custom", policy_name=name)).body
    for version in (versions.policy_versions.policy_version if versions.policy_versions else None) or []:
        if not version.is_default_version:
            _ignore({"EntityNotExist.Policy.Version"}, lambda v=version: ram.delete_policy_version(
                models.DeletePolicyVersionRequest(policy_name=name, version_id=v.version_id)))
    _ignore({"EntityNotExist.Policy"}, lambda: ram.delete_policy(models.DeletePolicyRequest(policy_name=name)))


def _delete_function(identity: Identity, name: str) -> None:
    _ignore({"FunctionNotFound"}, lambda: identity.fc3.delete_function(name))


def delete_function(identity: Identity, name: str) -> None:
    """Delete an FC 3.0 function's triggers, then the function (already gone is fine)."""
    from alibabacloud_fc20230330 import models

    fc = identity.fc3
    token = None
    while True:
        found = _unless_gone("FunctionNotFound", lambda: fc.list_triggers(name, models.ListTriggersRequest(
            limit=100, next_token=token)))
        if found is None:
            return
        for trigger in found.body.triggers or []:
            _ignore({"TriggerNotFound", "FunctionNotFound"}, lambda t=trigger: fc.delete_trigger(name, t.trigger_name))
        token = found.body.next_token
        if not token:
            break
    _delete_function(identity, name)


def function_names(identity: Identity, prefix: str) -> list[str]:
    """The FC 3.0 functions of `identity`'s account and region whose names start with `prefix`."""
    from alibabacloud_fc20230330 import models

    names, token = [], None
    while True:
        body = identity.fc3.list_functions(models.ListFunctionsRequest(prefix=prefix, limit=100,
                                                                       next_token=token)).body
        names += [f.function_name for f in body.functions or [] if f.function_name.startswith(prefix)]
        token = body.next_token
        if not token:
            return names


def delete_bucket(identity: Identity, name: str) -> None:
    """Remove the bucket policy, every object version and delete marker, then the bucket."""
    import oss2

    bucket = identity.bucket(name)
    if _unless_gone("NoSuchBucket", bucket.get_bucket_info) is None:
        return
    _ignore({"NoSuchBucketPolicy"}, bucket.delete_bucket_policy)
    versioned = (bucket.get_bucket_versioning().status or "") in ("Enabled", "Suspended")
    while True:
        if versioned:
            listing = bucket.list_object_versions(max_keys=1000)
            targets = [(v.key, v.versionid) for v in listing.versions] + [(m.key, m.versionid)
                                                                         for m in listing.delete_marker]
        else:
            targets = [(o.key, None) for o in oss2.ObjectIteratorV2(bucket)]
        if not targets:
            break
        for key, version in targets:
            params = {"versionId": version} if version else None
            _ignore({"NoSuchKey", "NoSuchVersion"}, lambda k=key, p=params: bucket.delete_object(k, params=p))
    _ignore({"NoSuchBucket"}, bucket.delete_bucket)


# ======================================================================================= building
@dataclass
class Builder:
    """Creates resources for a test, each registered for cleanup before it can leak."""

    target: Target
    cleanup: Cleanup
    prefix: str
    _count: int = 0

    def name(self, label: str = "") -> str:
        """A fresh name: `<prefix>-<n>[-label]`, valid for RAM (64 chars) and OSS buckets (63)."""
        self._count += 1
        return f"{self.prefix}-{self._count}{'-' + label if label else ''}"[:60].rstrip("-")

    def user(self, account: Identity, label: str, *system_policies: str, custom: tuple[str, ...] = ()) -> Identity:
        """A RAM user with an AccessKey in `account`; returns an Identity of that user."""
        from alibabacloud_ram20150501 import models

        name = self.name(label)
        self.cleanup.add(f"RAM user {name} in {account.account_id}", lambda: delete_user(account, name))
        ram = account.ram
        ram.create_user(models.CreateUserRequest(user_name=name))
        for policy in system_policies:
            ram.attach_policy_to_user(models.AttachPolicyToUserRequest(policy_type="System", policy_name=policy,
                                                                       user_name=name))
        for policy in custom:
            ram.attach_policy_to_user(models.AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy,
                                                                       user_name=name))
        key = ram.create_access_key(models.CreateAccessKeyRequest(user_name=name)).body.access_key
        return account.with_key(AccessKey(key.access_key_id, key.access_key_secret), label=f"user/{name}")

    def policy(self, account: Identity, label: str, document: dict | str) -> str:
        from alibabacloud_ram20150501 import models

        name = self.name(label)
        self.cleanup.add(f"RAM policy {name} in {account.account_id}", lambda: delete_policy(account, name))
        text = document if isinstance(document, str) else json.dumps(document)
        account.ram.create_policy(models.CreatePolicyRequest(policy_name=name, policy_document=text))
        return name

    def role(self, account: Identity, label: str, trust: dict | str, *, system_policies: tuple[str, ...] = (),
             custom: tuple[str, ...] = (), max_session_duration: int | None = None) -> str:
        from alibabacloud_ram20150501 import models

        name = self.name(label)
        self.cleanup.add(f"RAM role {name} in {account.account_id}", lambda: delete_role(account, name))
        text = trust if isinstance(trust, str) else json.dumps(trust)
        account.ram.create_role(models.CreateRoleRequest(role_name=name, assume_role_policy_document=text,
                                                         max_session_duration=max_session_duration))
        for policy in system_policies:
            account.ram.attach_policy_to_role(models.AttachPolicyToRoleRequest(policy_type="System",
                                                                               policy_name=policy, role_name=name))
        for policy in custom:
            account.ram.attach_policy_to_role(models.AttachPolicyToRoleRequest(policy_type="Custom",
                                                                               policy_name=policy, role_name=name))
        return name

    def sink(self, account: Identity, label: str = "sink"):
        """A bucket and an FC 3.0 function of the same name (conformance/sink.py) that stores every
        event it receives under `sink/` in that bucket; returns the oss2.Bucket (its name is the
        function's). Add triggers with `build.trigger`; the endpoint stays the region's internal one
        (functions run in FC — or in the in-process fake)."""
        import base64
        import io
        import zipfile

        from alibabacloud_fc20230330 import models

        bucket = self.bucket(account, label)
        name = bucket.bucket_name
        policy = self.policy(account, f"{label}-w", {"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "oss:PutObject", "Resource": f"acs:oss:*:*:{name}/sink/*"}]})
        role = self.role(account, f"{label}-r", {"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": ["fc.aliyuncs.com"]}}]},
            custom=(policy,))
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            for part in ("__init__.py", "sink.py"):
                archive.write(Path(__file__).with_name(part), f"conformance/{part}")
        self.cleanup.add(f"FC function {name}", lambda: delete_function(account, name))
        account.fc3.create_function(models.CreateFunctionRequest(body=models.CreateFunctionInput(
            function_name=name, runtime="python3.10", handler="conformance.sink.handler", memory_size=128, timeout=60,
            role=f"acs:ram::{account.account_id}:role/{role}",
            code=models.InputCodeLocation(zip_file=base64.b64encode(package.getvalue()).decode("ascii")))))
        return bucket

    def trigger(self, account: Identity, function: str, name: str, trigger_type: str, config: dict, *,
                source_arn: str | None = None, invocation_role: str | None = None) -> None:
        from alibabacloud_fc20230330 import models

        self.cleanup.add(f"FC trigger {function}/{name}", lambda: _ignore(
            {"TriggerNotFound", "FunctionNotFound"}, lambda: account.fc3.delete_trigger(function, name)))
        account.fc3.create_trigger(function, models.CreateTriggerRequest(body=models.CreateTriggerInput(
            trigger_name=name, trigger_type=trigger_type, trigger_config=json.dumps(config), source_arn=source_arn,
            invocation_role=invocation_role)))

    def bucket(self, account: Identity, label: str = ""):
        """A new bucket of `account` (an oss2.Bucket of its credentials)."""
        name = self.name(label)
        self.cleanup.add(f"OSS bucket {name}", lambda: delete_bucket(account, name))
        bucket = account.bucket(name)
        bucket.create_bucket()
        return bucket


def trust_policy(*principals: str, condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": list(principals)}}
    if condition:
        statement["Condition"] = condition
    return {"Version": "1", "Statement": [statement]}


def assume_role(identity: Identity, role_arn: str, session: str, **extra) -> Identity:
    """AssumeRole with `identity`; an Identity of the session (account = the role's owner)."""
    from alibabacloud_sts20150401 import models

    body = identity.sts.assume_role(models.AssumeRoleRequest(role_arn=role_arn, role_session_name=session,
                                                             **extra)).body
    c = body.credentials
    return identity.with_key(AccessKey(c.access_key_id, c.access_key_secret, c.security_token),
                             label=f"session/{session}", account_id=role_arn.split(":")[3])


# ======================================================================================= the report
@dataclass(frozen=True)
class Observation:
    test: str
    name: str
    value: object
    source: str
    mode: str
    at: str


@dataclass
class Recorder:
    """What the tests of one process observed, and how each test ended."""

    target: Target
    observations: list[Observation] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    current_test: str = ""
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def observe(self, name: str, value: object, source: str = "") -> object:
        """Record what the cloud did (`source`: the doc or API the fact belongs to). Returns `value`."""
        self.observations.append(Observation(self.current_test, name, _jsonable(value), source, self.target.mode,
                                             datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
        return value

    def part(self) -> dict:
        return {"observations": [asdict(o) for o in self.observations], "outcomes": self.outcomes}


def _jsonable(value: object) -> object:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def write_report(target: Target, parts: list[dict], started: str, run: str) -> tuple[Path, Path]:
    """Merge the parts of every worker into report.json and report.md; returns both paths."""
    observations = sorted((o for part in parts for o in part["observations"]), key=lambda o: (o["test"], o["at"]))
    outcomes: dict[str, str] = {}
    for part in parts:
        outcomes.update(part["outcomes"])
    report = {"run": run, "mode": target.mode, "region": target.region, "endpoint": target.endpoint,
              "owner": target.owner_account, "partner": target.partner_account, "started": started,
              "finished": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "outcomes": dict(sorted(outcomes.items())), "observations": observations}
    target.report_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = target.report_dir / "report.json", target.report_dir / "report.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    lines = [f"# Conformance report ({target.mode})", "",
             f"Region `{target.region}`" + (f", endpoint `{target.endpoint}`" if target.endpoint else "")
             + f"; {report['started']} → {report['finished']}.", "",
             "| test | outcome |", "|---|---|"]
    lines += [f"| `{test}` | {outcome} |" for test, outcome in report["outcomes"].items()]
    lines += ["", "## Observations", "", "| test | observation | value | source |", "|---|---|---|---|"]
    for o in observations:
        value = json.dumps(o["value"], ensure_ascii=False).replace("|", "\\|")
        lines.append(f"| `{o['test'].rsplit('::', 1)[-1]}` | {o['name']} | `{value}` | {o['source']} |")
    md_path.write_text("\n".join(lines) + "\n", "utf-8")
    return json_path, md_path


# ======================================================================================= pytest wiring
# Imported by tests/conformance/conftest.py. Under xdist the controller never imports it (it does
# not collect), so each process that ran conformance tests writes its part and merges every part
# of the run into the report under a file lock: the last one to finish leaves the complete report.
# tests/conftest.py prints its path.
_STATE: dict = {"tests": set()}
FIXTURES = frozenset({"owner", "partner", "observe", "build"})


def run_id() -> str:
    """One id per pytest run, shared by all xdist workers."""
    if "run" not in _STATE:
        _STATE["run"] = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    return _STATE["run"]


def recorder_of_run() -> "Recorder | None":
    if "recorder" not in _STATE:
        try:
            _STATE["recorder"] = Recorder(target_from_env())
        except ConfigError:
            return None
    return _STATE["recorder"]


def pytest_runtest_setup(item) -> None:
    """A conformance test is one that uses this harness's fixtures (not a same-named one of its own)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    for name in FIXTURES & set(definitions):
        if getattr(definitions[name][-1].func, "__module__", "") == __name__:
            _STATE["tests"].add(item.nodeid)
            return


def pytest_runtest_logreport(report) -> None:
    if report.nodeid not in _STATE["tests"]:
        return
    recorder = recorder_of_run()
    if recorder is None:
        return
    if report.when == "call":
        recorder.outcomes[report.nodeid] = report.outcome
    elif report.outcome == "skipped":
        recorder.outcomes.setdefault(report.nodeid, "skipped")
    elif report.outcome == "failed":  # an error in setup or teardown (e.g. cleanup left something)
        previous = recorder.outcomes.get(report.nodeid)
        recorder.outcomes[report.nodeid] = (f"{previous}; error in {report.when}" if previous == "failed"
                                            else f"error in {report.when}")


def pytest_sessionfinish(session) -> None:
    recorder: Recorder | None = _STATE.get("recorder")
    if recorder is not None and (recorder.outcomes or recorder.observations):
        _STATE["written"] = merge_part(recorder, run_id())


def merge_part(recorder: Recorder, run: str) -> tuple[Path, Path]:
    import fcntl

    target = recorder.target
    parts_dir = target.report_dir / "parts" / run
    parts_dir.mkdir(parents=True, exist_ok=True)
    (parts_dir / f"{os.getpid()}.json").write_text(json.dumps(recorder.part()), "utf-8")
    with open(target.report_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        parts = [json.loads(p.read_text("utf-8")) for p in sorted(parts_dir.glob("*.json"))]
        written = write_report(target, parts, recorder.started, run)
        for old in (target.report_dir / "parts").iterdir():  # parts of earlier runs
            if old.name != run and time.time() - old.stat().st_mtime > 3600:
                for file in old.glob("*"):
                    file.unlink()
                old.rmdir()
    return written


# -- fixtures ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def target() -> Target:
    try:
        return target_from_env()
    except ConfigError as problem:
        pytest.exit(f"conformance suite: {problem}", returncode=2)


@pytest.fixture(scope="session")
def recorder(target) -> Recorder:
    return recorder_of_run()


@pytest.fixture(scope="session")
def run_prefix(target, request) -> str:
    """`<prefix>-<6 random>`: unique per process, so parallel runs and workers never collide."""
    return f"{target.prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def fake(target):
    """The in-process FakeCloud in fake mode (for fake-only knobs), None in real mode."""
    if not target.is_fake:
        yield None
        return
    from fakecloud import mock_cloud

    with mock_cloud() as cloud:
        cloud.add_account(FAKE_OWNER, "company-a")
        cloud.add_account(FAKE_PARTNER, "company-b")
        fc = cloud.backend("fc")
        fc.start_workers(2, retry_delay=0.2, timer_interval=None)  # async invocations run by themselves, as in FC
        try:
            yield cloud
        finally:
            fc.stop_workers()


def _root_identity(target: Target, fake, which: str) -> Identity:
    if fake is not None:
        account = fake.accounts[FAKE_OWNER if which == "owner" else FAKE_PARTNER]
        key = AccessKey(account.root_key.access_key_id, account.root_key.secret)
        return Identity(target, key, account.account_id, label=f"{which} root")
    key = target.owner_key if which == "owner" else target.partner_key
    account_id = target.owner_account if which == "owner" else target.partner_account
    identity = Identity(target, key, account_id, label=f"{which} admin")
    if not account_id:
        cached = _STATE.setdefault("accounts", {})
        if which not in cached:
            cached[which] = identity.sts.get_caller_identity().body.account_id
        identity = replace(identity, account_id=cached[which])
    return identity


@pytest.fixture
def owner(target, fake, sweep_after_run) -> Identity:
    """An administrator of the owner account (A): root in fake mode, the configured key in real mode."""
    return _root_identity(target, fake, "owner")


@pytest.fixture
def partner(target, fake, sweep_after_run) -> Identity:
    """An administrator of the partner account (B)."""
    return _root_identity(target, fake, "partner")


@pytest.fixture
def observe(recorder, request):
    recorder.current_test = request.node.nodeid
    return recorder.observe


@pytest.fixture
def prefix(run_prefix, request) -> str:
    """A prefix no other test of any run uses: `<run prefix>-<n>`."""
    count = _STATE["count"] = _STATE.get("count", 0) + 1
    return f"{run_prefix}-{count}"


@pytest.fixture
def cleanup(target, fake) -> Iterator[Cleanup]:
    """Undo steps; they run after the test (passed or failed), before the fake is torn down."""
    steps = Cleanup(timeout=min(target.timeout, 120.0), interval=target.interval)
    yield steps
    steps.run()


@pytest.fixture
def build(target, cleanup, prefix) -> Builder:
    return Builder(target, cleanup, prefix)


@pytest.fixture
def wait(target):
    """`wait(check, what=..., timeout=None)` -> (value, seconds): polls until `check()` is truthy."""

    def waiter(check, *, what: str = "the condition", timeout: float | None = None):
        return eventually(check, timeout=target.timeout if timeout is None else timeout, interval=target.interval,
                          what=what)

    return waiter


def _pages(fetch, items):
    """Every item of a RAM listing that pages with Marker/IsTruncated."""
    marker = None
    while True:
        body = fetch(marker)
        yield from items(body) or []
        if not body.is_truncated or not body.marker:
            return
        marker = body.marker


def sweep(target: Target, identities: list[Identity], prefix: str) -> list[str]:
    """Delete whatever still carries `prefix` (FC functions with their triggers, roles, users, custom
    policies, buckets): the safety net after a crashed run. Returns what it deleted."""
    from alibabacloud_ram20150501 import models

    removed = []
    for identity in identities:
        for function in function_names(identity, prefix):  # first: a function's role and bucket go later
            delete_function(identity, function)
            removed.append(f"function {function}")
        ram = identity.ram
        for role in _pages(lambda marker: ram.list_roles(models.ListRolesRequest(max_items=1000, marker=marker)).body,
                           lambda body: body.roles.role if body.roles else None):
            if role.role_name.startswith(prefix):
                delete_role(identity, role.role_name)
                removed.append(f"role {role.role_name}")
        for user in _pages(lambda marker: ram.list_users(models.ListUsersRequest(max_items=1000, marker=marker)).body,
                           lambda body: body.users.user if body.users else None):
            if user.user_name.startswith(prefix):
                delete_user(identity, user.user_name)
                removed.append(f"user {user.user_name}")
        for policy in _pages(lambda marker: ram.list_policies(models.ListPoliciesRequest(
                policy_type="Custom", max_items=1000, marker=marker)).body,
                lambda body: body.policies.policy if body.policies else None):
            if policy.policy_name.startswith(prefix):
                delete_policy(identity, policy.policy_name)
                removed.append(f"policy {policy.policy_name}")
        import oss2

        for found in oss2.BucketIterator(oss2.Service(identity.oss_auth(), identity.oss_endpoint()), prefix=prefix):
            delete_bucket(identity, found.name)
            removed.append(f"bucket {found.name}")
    return removed


@pytest.fixture(scope="session")
def sweep_after_run(target, run_prefix):
    """Real mode: after the run, delete anything this run's prefix still names (a test's own
    cleanup normally leaves nothing). Fake mode: each test's cloud is discarded anyway."""
    yield
    if target.is_fake:
        return
    identities = [_root_identity(target, None, "owner"), _root_identity(target, None, "partner")]
    leftovers = sweep(target, identities, run_prefix)
    recorder = _STATE.get("recorder")
    if recorder is not None and leftovers:
        recorder.current_test = "(sweep)"
        recorder.observe("resources left behind and swept", leftovers, "cleanup")
