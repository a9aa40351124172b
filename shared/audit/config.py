"""The access audit's own configuration: environment variables read once per instance.

Kept apart from `shared.settings` (shared by every function) so the audit's knobs can grow
without touching it; the settings it does share (`sensitive_actions`, `denial_burst`, region,
bucket) still come from `Settings`.

    ROLEPACT_SERVICE_ROLE_NAME           rolepact-fc-role  the FC service role: its RAM changes are rolepact's own
    ROLEPACT_AUDIT_GLOBAL_REGION         cn-hangzhou       where ActionTrail stores global (RAM) events
                                                           (ap-southeast-1 on the international site)
    ROLEPACT_AUDIT_LOOKBACK_HOURS        24                first run: how far back LookupEvents starts
    ROLEPACT_AUDIT_OVERLAP_MINUTES       15                each run re-reads this much before the checkpoint
                                                           (ActionTrail: an event can take 10 minutes to be
                                                           queryable; 5 more for clock skew)
    ROLEPACT_AUDIT_CHUNK_MINUTES         60                a long gap is read in windows of this size ...
    ROLEPACT_AUDIT_MAX_CHUNKS            24                ... at most this many per run (the next run goes on)
    ROLEPACT_AUDIT_TIME_BUDGET_SECONDS   240               no new window is started after this long in one run
    ROLEPACT_AUDIT_DIGEST_HOUR           0                 the daily digest is sent by the first timer run at or
                                                           after this hour (UTC)
    ROLEPACT_AUDIT_DENIAL_WINDOW_SECONDS 300               `denial_burst` denied calls within this window = a finding
    ROLEPACT_AUDIT_ALERTS_PER_MINUTE     10                immediate alert messages per minute; more wait in the
                                                           outbox (the robot takes 20 a minute for everything)
    ROLEPACT_REPORT_LINK_LIFETIME        7d                lifetime of the presigned OSS link to the digest's HTML page
                                                           (`<n>d`, `<n>h` or `<n>m`, 1m..7d); signed with FC's temporary
                                                           credentials it is capped (docs/access-audit.md, "The HTML report")
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class AuditConfig:
    service_role_name: str = "rolepact-fc-role"
    global_region: str = "cn-hangzhou"
    lookback: timedelta = timedelta(hours=24)
    overlap: timedelta = timedelta(minutes=15)
    chunk: timedelta = timedelta(minutes=60)
    max_chunks: int = 24
    time_budget_seconds: float = 240.0
    digest_hour: int = 0
    denial_window_seconds: int = 300
    alerts_per_minute: int = 10
    max_recent_ids: int = 20_000  # event ids kept in the checkpoint for the overlap (cross-run dedupe)
    max_digest_days: int = 7  # a digest after a long outage covers at most this many days
    report_link_lifetime: timedelta = timedelta(days=7)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "AuditConfig":
        env = os.environ if environ is None else environ

        def number(name: str, default: float) -> float:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{name}: {raw!r} is not a number") from None

        hour = int(number("ROLEPACT_AUDIT_DIGEST_HOUR", 0))
        if not 0 <= hour <= 23:
            raise ValueError(f"ROLEPACT_AUDIT_DIGEST_HOUR: {hour} is not an hour of the day (0-23)")
        return cls(
            service_role_name=(env.get("ROLEPACT_SERVICE_ROLE_NAME") or "rolepact-fc-role").strip(),
            global_region=(env.get("ROLEPACT_AUDIT_GLOBAL_REGION") or "cn-hangzhou").strip(),
            lookback=timedelta(hours=max(1.0, number("ROLEPACT_AUDIT_LOOKBACK_HOURS", 24))),
            overlap=timedelta(minutes=max(0.0, number("ROLEPACT_AUDIT_OVERLAP_MINUTES", 15))),
            chunk=timedelta(minutes=max(1.0, number("ROLEPACT_AUDIT_CHUNK_MINUTES", 60))),
            max_chunks=max(1, int(number("ROLEPACT_AUDIT_MAX_CHUNKS", 24))),
            time_budget_seconds=max(1.0, number("ROLEPACT_AUDIT_TIME_BUDGET_SECONDS", 240)),
            digest_hour=hour,
            denial_window_seconds=max(1, int(number("ROLEPACT_AUDIT_DENIAL_WINDOW_SECONDS", 300))),
            alerts_per_minute=max(1, int(number("ROLEPACT_AUDIT_ALERTS_PER_MINUTE", 10))),
            report_link_lifetime=parse_link_lifetime(env.get("ROLEPACT_REPORT_LINK_LIFETIME")),
        )


MAX_LINK_LIFETIME = timedelta(days=7)  # OSS V4 presigned URLs: at most 7 days (docs/access-audit.md)
# A URL presigned with STS credentials stops working when the token expires (OSS: the shorter validity
# wins). FC's service-role credentials are valid 36 h and never expire during an invocation, which may
# last 24 h: so at least 24 h are left when the digest signs its link, minus the run so far. The link is
# signed for at most this long, so the expiry the DingTalk message states is the real one.
STS_LINK_CAP = timedelta(hours=23)
_LIFETIME = re.compile(r"^(\d+)([dhm])$")


def parse_link_lifetime(raw: str | None) -> timedelta:
    """`ROLEPACT_REPORT_LINK_LIFETIME`: `7d` (default), `36h`, `90m`; between 1 minute and 7 days."""
    value = (raw or "").strip() or "7d"
    match = _LIFETIME.match(value)
    if not match:
        raise ValueError(f"ROLEPACT_REPORT_LINK_LIFETIME: {raw!r} is not like 7d, 36h or 90m")
    lifetime = timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[match[2]]: int(match[1])})
    if not timedelta(minutes=1) <= lifetime <= MAX_LINK_LIFETIME:
        raise ValueError(f"ROLEPACT_REPORT_LINK_LIFETIME: {raw!r} is not between 1m and 7d "
                         f"(OSS presigned URLs last at most 7 days)")
    return lifetime


ENVIRONMENT_VARIABLES = (
    "ROLEPACT_SERVICE_ROLE_NAME", "ROLEPACT_AUDIT_GLOBAL_REGION", "ROLEPACT_AUDIT_LOOKBACK_HOURS",
    "ROLEPACT_AUDIT_OVERLAP_MINUTES", "ROLEPACT_AUDIT_CHUNK_MINUTES", "ROLEPACT_AUDIT_MAX_CHUNKS",
    "ROLEPACT_AUDIT_TIME_BUDGET_SECONDS", "ROLEPACT_AUDIT_DIGEST_HOUR", "ROLEPACT_AUDIT_DENIAL_WINDOW_SECONDS",
    "ROLEPACT_AUDIT_ALERTS_PER_MINUTE", "ROLEPACT_REPORT_LINK_LIFETIME",
)

_config: AuditConfig | None = None


def audit_config() -> AuditConfig:
    """Read once per instance (cold start), like `shared.runtime.base_settings`."""
    global _config
    if _config is None:
        _config = AuditConfig.from_env()
    return _config


def reset_config(config: AuditConfig | None = None) -> None:
    """Forget (or replace) the cached configuration: for tests and the local runtime."""
    global _config
    _config = config
