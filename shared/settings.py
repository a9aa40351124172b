"""Everything rolepact needs from outside: time, credentials, endpoints and configuration.

Built once per process from environment variables (`Settings.from_env`) and then passed
down explicitly; nothing below reads the clock or the environment on its own. Tests and
the local runtime build it directly, or override fields with `dataclasses.replace`.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

DEFAULT_PRIVILEGED_POLICIES = ("AdministratorAccess", "AliyunRAMFullAccess", "AliyunSTSAssumeRoleAccess")
# What agreements may grant unless the owner says otherwise: the seed's services (ECS, and the VPC reads
# AliyunECSFullAccess carries). Entries are RAM service codes ("oss") or action patterns ("oss:Get*").
DEFAULT_GRANTABLE_SERVICES = ("ecs", "vpc")
# Every rolepact deployment's bucket and FC service (FC 3.0: functions) is named with this prefix, so that
# each deployment's guard policies can deny partners all of them (docs/security.md, "Deployments").
DEFAULT_DEPLOYMENT_PREFIX = "rolepact"
DEFAULT_SENSITIVE_ACTIONS = ("ram:*", "sts:AssumeRole", "ecs:DeleteInstance", "ecs:DeleteInstances",
                             "ecs:ModifyInstanceAttribute", "ecs:ResetDisk", "ecs:DeleteSnapshot",
                             "ecs:AuthorizeSecurityGroup", "oss:DeleteBucket", "oss:PutBucketPolicy",
                             "actiontrail:DeleteTrail", "actiontrail:StopLogging")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None


@dataclass(frozen=True)
class Endpoints:
    """Endpoint overrides (host[:port]); None = the SDK's default for the region."""

    ram: str | None = None
    sts: str | None = None
    oss: str | None = None  # e.g. "https://oss-cn-hangzhou-internal.aliyuncs.com"
    actiontrail: str | None = None
    fc: str | None = None  # e.g. "https://<uid>.cn-hangzhou-internal.fc.aliyuncs.com"
    protocol: str = "https"


@dataclass(frozen=True)
class Network:
    """The proxy and CA-bundle variables, read once with the rest of the environment.

    `requests` would otherwise re-read and re-scan the whole environment for proxies on every OSS
    call (a fifth of an OSS call's CPU here); the OSS gateway turns that off and uses these instead.
    """

    variables: tuple[tuple[str, str], ...] = ()  # (lower-cased name, value)

    NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "requests_ca_bundle", "curl_ca_bundle")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Network":
        found = {}
        for name in cls.NAMES:  # lower case wins, as in urllib and requests
            value = env.get(name) or env.get(name.upper())
            if value:
                found[name] = value
        return cls(tuple(sorted(found.items())))

    def proxies_for(self, url: str) -> dict[str, str]:
        """What requests would pick from the environment for `url`: the scheme proxies, none for a
        host that `no_proxy` names."""
        from urllib.parse import urlsplit
        from urllib.request import proxy_bypass_environment

        env = dict(self.variables)
        host = urlsplit(url).hostname or ""
        if env.get("no_proxy") and proxy_bypass_environment(host, {"no": env["no_proxy"]}):
            return {}
        return {scheme: env[f"{scheme}_proxy"] for scheme in ("http", "https", "all") if env.get(f"{scheme}_proxy")}

    @property
    def ca_bundle(self) -> str | None:
        env = dict(self.variables)
        return env.get("requests_ca_bundle") or env.get("curl_ca_bundle")


@dataclass(frozen=True)
class Guardrails:
    """Deployment-side limits no agreement file can lift."""

    allowed_partners: frozenset[str] | None = None  # None: any account (never "*")
    allowed_privileged_policies: frozenset[str] = frozenset()
    privileged_policies: tuple[str, ...] = DEFAULT_PRIVILEGED_POLICIES
    max_agreement_days: int = 366
    max_session_seconds: int = 14400
    approved_uploaders: frozenset[str] | None = None  # OSS principal ids; None: anyone who can write
    max_file_bytes: int = 64 * 1024
    # RAM's trust-policy size limit is not documented (only its error code is): refuse up front
    # what might not fit, at the smallest limit RAM has documented for any policy document.
    max_trust_policy_chars: int = 2048
    # service codes / action patterns an agreement's Allow statements may reach ("*": any service)
    grantable: tuple[str, ...] = DEFAULT_GRANTABLE_SERVICES
    # role names must start with it (""= any name); deploy/service-role-policy.json limits the
    # service role's RAM writes to the same prefix
    role_name_prefix: str = ""


@dataclass(frozen=True)
class Settings:
    account_id: str  # the owner account rolepact runs in
    region: str = "cn-hangzhou"
    bucket: str = "rolepact-data"
    credentials: Credentials | None = None
    endpoints: Endpoints = field(default_factory=Endpoints)
    network: Network = field(default_factory=Network)
    guardrails: Guardrails = field(default_factory=Guardrails)
    dingtalk_webhook: str | None = None
    dingtalk_secret: str | None = None
    notice_offsets: tuple[timedelta, ...] = (timedelta(days=7), timedelta(days=1))
    service_name: str = "rolepact"  # FC 2.0 only: FC 3.0 functions belong to no service
    deployment_prefix: str = DEFAULT_DEPLOYMENT_PREFIX
    worker_function: str = "reconcile_worker"
    fc_api: str = "fc2"  # which Function Compute API the deployment runs on: fc2 (FC 2.0) | fc3 (FC 3.0)
    fanout_threshold: int = 20
    fanout_batch_size: int = 10
    max_concurrency: int = 8
    max_attempts: int = 6  # per cloud call, on throttling / 5xx
    failure_report_after: int = 3  # report an agreement that failed this many ticks in a row
    remediation: str = "report"  # role auditor: report | fix
    sensitive_actions: tuple[str, ...] = DEFAULT_SENSITIVE_ACTIONS
    denial_burst: int = 5  # denied calls within ROLEPACT_AUDIT_DENIAL_WINDOW_SECONDS that make a finding
    # Also put the window, source IP and MFA into the trust policy (undocumented there; the guard
    # policy enforces them either way). Opt-in, for accounts where the conformance suite passed.
    extended_trust_conditions: bool = False
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep
    # When this invocation should stop waiting for the cloud (set per invocation from the function's
    # timeout, shared/runtime.py); None outside FC. Waits that would end later are not started.
    deadline: datetime | None = None

    def now(self) -> datetime:
        return self.clock()

    def may_wait(self, seconds: float) -> bool:
        """Is there time to wait `seconds` before this invocation's deadline?"""
        return self.deadline is None or self.now() + timedelta(seconds=seconds) <= self.deadline

    def with_credentials(self, credentials: Credentials | None) -> "Settings":
        return replace(self, credentials=credentials)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Read the documented `ROLEPACT_*` variables (README: Configuration) once."""
        env = os.environ if environ is None else environ
        account = env.get("ROLEPACT_ACCOUNT_ID") or env.get("FC_ACCOUNT_ID") or ""
        guardrails = Guardrails(
            allowed_partners=_set(env.get("ROLEPACT_ALLOWED_PARTNERS")),
            allowed_privileged_policies=_set(env.get("ROLEPACT_ALLOW_PRIVILEGED_POLICIES")) or frozenset(),
            max_agreement_days=int(env.get("ROLEPACT_MAX_AGREEMENT_DAYS", "366")),
            max_session_seconds=int(env.get("ROLEPACT_MAX_SESSION_SECONDS", "14400")),
            approved_uploaders=_set(env.get("ROLEPACT_APPROVED_UPLOADERS")),
            max_file_bytes=int(env.get("ROLEPACT_MAX_FILE_BYTES", str(64 * 1024))),
            max_trust_policy_chars=int(env.get("ROLEPACT_MAX_TRUST_POLICY_CHARS", "2048")),
            grantable=parse_grantable(env.get("ROLEPACT_GRANTABLE_SERVICES")),
            role_name_prefix=parse_role_name_prefix(env.get("ROLEPACT_ROLE_NAME_PREFIX")),
        )
        endpoints = Endpoints(
            ram=env.get("ROLEPACT_RAM_ENDPOINT") or None,
            sts=env.get("ROLEPACT_STS_ENDPOINT") or None,
            oss=env.get("ROLEPACT_OSS_ENDPOINT") or None,
            actiontrail=env.get("ROLEPACT_ACTIONTRAIL_ENDPOINT") or None,
            fc=env.get("ROLEPACT_FC_ENDPOINT") or None,
            protocol=env.get("ROLEPACT_ENDPOINT_PROTOCOL", "https"),
        )
        values = dict(
            account_id=account,
            region=env.get("ROLEPACT_REGION") or env.get("FC_REGION") or "cn-hangzhou",
            bucket=env.get("ROLEPACT_BUCKET", "rolepact-data"),
            endpoints=endpoints,
            network=Network.from_env(env),
            guardrails=guardrails,
            dingtalk_webhook=env.get("ROLEPACT_DINGTALK_WEBHOOK") or None,
            dingtalk_secret=env.get("ROLEPACT_DINGTALK_SECRET") or None,
            notice_offsets=parse_offsets(env.get("ROLEPACT_NOTICE_OFFSETS", "7d,1d")),
            service_name=env.get("ROLEPACT_SERVICE_NAME") or env.get("FC_SERVICE_NAME") or "rolepact",
            deployment_prefix=parse_deployment_prefix(env.get("ROLEPACT_DEPLOYMENT_PREFIX")),
            worker_function=env.get("ROLEPACT_WORKER_FUNCTION", "reconcile_worker"),
            fc_api=parse_fc_api(env.get("ROLEPACT_FC_API")),
            fanout_threshold=int(env.get("ROLEPACT_FANOUT_THRESHOLD", "20")),
            fanout_batch_size=int(env.get("ROLEPACT_FANOUT_BATCH_SIZE", "10")),
            max_concurrency=int(env.get("ROLEPACT_MAX_CONCURRENCY", "8")),
            max_attempts=int(env.get("ROLEPACT_MAX_ATTEMPTS", "6")),
            failure_report_after=int(env.get("ROLEPACT_FAILURE_REPORT_AFTER", "3")),
            remediation=env.get("ROLEPACT_REMEDIATION", "report"),
            sensitive_actions=tuple(_list(env.get("ROLEPACT_SENSITIVE_ACTIONS"))) or DEFAULT_SENSITIVE_ACTIONS,
            denial_burst=int(env.get("ROLEPACT_DENIAL_BURST", "5")),
            extended_trust_conditions=_flag(env, "ROLEPACT_TRUST_EXTRA_CONDITIONS"),
        )
        if env.get("ALIBABA_CLOUD_ACCESS_KEY_ID") and env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
            values["credentials"] = Credentials(env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                                env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                                                env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None)
        values.update(overrides)
        return cls(**values)


ENVIRONMENT_VARIABLES = (
    "ROLEPACT_ACCOUNT_ID", "ROLEPACT_REGION", "ROLEPACT_BUCKET", "ROLEPACT_ALLOWED_PARTNERS",
    "ROLEPACT_ALLOW_PRIVILEGED_POLICIES", "ROLEPACT_MAX_AGREEMENT_DAYS", "ROLEPACT_MAX_SESSION_SECONDS",
    "ROLEPACT_APPROVED_UPLOADERS", "ROLEPACT_MAX_FILE_BYTES", "ROLEPACT_RAM_ENDPOINT", "ROLEPACT_STS_ENDPOINT",
    "ROLEPACT_OSS_ENDPOINT", "ROLEPACT_ACTIONTRAIL_ENDPOINT", "ROLEPACT_FC_ENDPOINT", "ROLEPACT_ENDPOINT_PROTOCOL",
    "ROLEPACT_DINGTALK_WEBHOOK", "ROLEPACT_DINGTALK_SECRET", "ROLEPACT_NOTICE_OFFSETS", "ROLEPACT_SERVICE_NAME",
    "ROLEPACT_WORKER_FUNCTION", "ROLEPACT_FANOUT_THRESHOLD", "ROLEPACT_FANOUT_BATCH_SIZE", "ROLEPACT_MAX_CONCURRENCY",
    "ROLEPACT_MAX_ATTEMPTS", "ROLEPACT_FAILURE_REPORT_AFTER", "ROLEPACT_REMEDIATION", "ROLEPACT_SENSITIVE_ACTIONS",
    "ROLEPACT_DENIAL_BURST", "ROLEPACT_FC_API", "ROLEPACT_TRUST_EXTRA_CONDITIONS", "ROLEPACT_MAX_TRUST_POLICY_CHARS",
    "ROLEPACT_GRANTABLE_SERVICES", "ROLEPACT_ROLE_NAME_PREFIX", "ROLEPACT_DEPLOYMENT_PREFIX",
)
FC_APIS = ("fc2", "fc3")


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "false").strip().lower()
    if raw not in ("true", "false"):
        raise ValueError(f"{name}: {raw!r} is not true or false")
    return raw == "true"


def _list(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _set(raw: str | None) -> frozenset[str] | None:
    items = _list(raw)
    return frozenset(items) if items else None


_SERVICE_CODE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ACTION_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*:[A-Za-z0-9*?]+$")


def parse_grantable(raw: str | None) -> tuple[str, ...]:
    """`ecs,vpc,oss:Get*` -> what agreements may grant; unset or empty = the default, `*` = any service.
    An invalid entry makes every invocation fail at start, like a bad notice offset."""
    items = _list(raw)
    if not items:
        return DEFAULT_GRANTABLE_SERVICES
    for item in items:
        if item != "*" and not _SERVICE_CODE.match(item.lower()) and not _ACTION_PATTERN.match(item):
            raise ValueError(f"ROLEPACT_GRANTABLE_SERVICES: {item!r} is neither a service code (ecs), an action "
                             f"pattern (ecs:Describe*) nor *")
    return tuple(dict.fromkeys(item if ":" in item else item.lower() for item in items))


_ROLE_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,31}$")
_DEPLOYMENT_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{2,31}$")


def parse_role_name_prefix(raw: str | None) -> str:
    prefix = (raw or "").strip()
    if prefix and not _ROLE_PREFIX.match(prefix):
        raise ValueError(f"ROLEPACT_ROLE_NAME_PREFIX: {prefix!r} is not the start of a RAM role name "
                         f"(letters, digits, '.', '-'; at most 32 characters)")
    return prefix


def parse_deployment_prefix(raw: str | None) -> str:
    """The naming scheme of rolepact deployments; never empty (that would deny every bucket)."""
    prefix = (raw or "").strip() or DEFAULT_DEPLOYMENT_PREFIX
    if not _DEPLOYMENT_PREFIX.match(prefix):
        raise ValueError(f"ROLEPACT_DEPLOYMENT_PREFIX: {prefix!r} must be 3-32 lowercase letters, digits or '-' "
                         f"(the start of every rolepact bucket and FC service name)")
    return prefix


def parse_fc_api(raw: str | None) -> str:
    """`ROLEPACT_FC_API`: `fc2` (FC 2.0, the default when unset) or `fc3` (FC 3.0); nothing else."""
    value = (raw or "fc2").strip()
    if value not in FC_APIS:
        raise ValueError(f"ROLEPACT_FC_API: {raw!r} is not a Function Compute API rolepact knows; "
                         f"use 'fc2' (FC 2.0, service and functions) or 'fc3' (FC 3.0, functions only)")
    return value


_OFFSET = re.compile(r"^(\d+)([dhm])$")


def parse_offsets(raw: str) -> tuple[timedelta, ...]:
    """`7d,1d,12h` -> offsets before expiry, largest first."""
    offsets = []
    for item in _list(raw):
        match = _OFFSET.match(item)
        if not match:
            raise ValueError(f"ROLEPACT_NOTICE_OFFSETS: {item!r} is not like 7d, 12h or 30m")
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match[2]]
        offsets.append(timedelta(**{unit: int(match[1])}))
    return tuple(sorted(offsets, reverse=True))
