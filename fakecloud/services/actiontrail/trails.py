"""ActionTrail trails (CreateTrail, DescribeTrails, GetTrailStatus, Start/StopLogging, DeleteTrail).

State only: the fake's events are recorded whether or not a trail exists, as ActionTrail keeps
90 days of events for LookupEvents without one [D single-account-trail-overview]; a trail is what
delivers them for longer, and what `rolepact doctor` checks. Field names follow the SDK models
(alibabacloud-actiontrail20200706 2.6.0). Error codes: `TrailNotFoundException` [3P Terraform
alicloud provider], the rest [?].
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from fakecloud import clock
from fakecloud.errors import ServiceError

TRAIL_NAME = re.compile(r"^[a-z][a-z0-9_-]{5,35}$")  # 6-36 chars [M CreateTrail Name]
EVENT_RW = ("Write", "Read", "All")


@dataclass
class TrailSpec:
    name: str
    account_id: str
    home_region: str
    event_rw: str
    trail_region: str  # "All" or comma-separated region ids
    oss_bucket_name: str = ""
    oss_key_prefix: str = ""
    sls_project_arn: str = ""
    status: str = "Fresh"  # Fresh (created, never enabled) | Enable | Disable
    created: datetime = field(default_factory=clock.now)
    updated: datetime = field(default_factory=clock.now)
    start_logging: datetime | None = None
    stop_logging: datetime | None = None

    @property
    def arn(self) -> str:
        return f"acs:actiontrail:{self.home_region}:{self.account_id}:trail/{self.name}"

    def describe(self) -> dict:
        moment = lambda value: clock.iso(value) if value else ""  # noqa: E731
        return {"Name": self.name, "HomeRegion": self.home_region, "Region": self.home_region,
                "TrailRegion": self.trail_region, "EventRW": self.event_rw, "Status": self.status,
                "OssBucketName": self.oss_bucket_name, "OssKeyPrefix": self.oss_key_prefix,
                "OssBucketLocation": self.home_region if self.oss_bucket_name else "",
                "SlsProjectArn": self.sls_project_arn, "TrailArn": self.arn, "IsOrganizationTrail": False,
                "CreateTime": moment(self.created), "UpdateTime": moment(self.updated),
                "StartLoggingTime": moment(self.start_logging), "StopLoggingTime": moment(self.stop_logging)}

    def status_body(self) -> dict:
        moment = lambda value: clock.iso(value) if value else ""  # noqa: E731
        return {"IsLogging": self.status == "Enable", "StartLoggingTime": moment(self.start_logging),
                "StopLoggingTime": moment(self.stop_logging), "LatestDeliveryTime": "", "LatestDeliveryError": "",
                "OssBucketStatus": bool(self.oss_bucket_name), "SlsLogStoreStatus": bool(self.sls_project_arn)}


class Trails:
    """Every account's trails (names are unique per account)."""

    def __init__(self) -> None:
        self._trails: dict[str, dict[str, TrailSpec]] = {}

    def create(self, account_id: str, region: str, name: str | None, *, event_rw: str | None, trail_region: str | None,
               oss_bucket: str | None, oss_prefix: str | None, sls_project_arn: str | None) -> TrailSpec:
        if not name or not TRAIL_NAME.match(name):
            raise ServiceError("InvalidTrailNameException", "The trail name is invalid: 6 to 36 characters, a "
                               "lower-case letter first, then lower-case letters, digits, '-' or '_'.", 400)
        if event_rw is not None and event_rw not in EVENT_RW:
            raise ServiceError("InvalidParameter", "EventRW must be Write, Read or All.", 400)
        if not (oss_bucket or sls_project_arn):
            raise ServiceError("InsufficientDeliveryDestinationException", "Specify OssBucketName or SlsProjectArn.",
                               400)
        account = self._trails.setdefault(account_id, {})
        if name in account:
            raise ServiceError("TrailAlreadyExistsException", f"The trail {name} already exists.", 400)
        trail = TrailSpec(name, account_id, region, event_rw or "Write", trail_region or "All", oss_bucket or "",
                          oss_prefix or "", sls_project_arn or "")
        account[name] = trail
        return trail

    def get(self, account_id: str, name: str | None) -> TrailSpec:
        trail = self._trails.get(account_id, {}).get(name or "")
        if trail is None:
            raise ServiceError("TrailNotFoundException", f"The trail {name} does not exist.", 404)
        return trail

    def describe(self, account_id: str, names: str | None) -> list[TrailSpec]:
        trails = sorted(self._trails.get(account_id, {}).values(), key=lambda t: t.name)
        wanted = {n.strip() for n in (names or "").split(",") if n.strip()}
        return [t for t in trails if not wanted or t.name in wanted]

    def set_logging(self, account_id: str, name: str | None, on: bool) -> TrailSpec:
        trail = self.get(account_id, name)
        now = clock.now()
        trail.status = "Enable" if on else "Disable"
        trail.updated = now
        if on:
            trail.start_logging = now
        else:
            trail.stop_logging = now
        return trail

    def delete(self, account_id: str, name: str | None) -> None:
        self.get(account_id, name)
        del self._trails[account_id][name]
