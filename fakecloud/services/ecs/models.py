"""ECS instance state and the rules of the lifecycle calls (no wire format here).

Only what "company-b manages company-a's instances" needs: instances are seeded by tests
(`seed_instance`), then listed, started, stopped and rebooted through the SDK. Transitions
are immediate (Running -> Stopped at once, no Stopping phase) but validated like the real
API: an operation the current status does not allow fails with IncorrectInstanceStatus.
"""
from __future__ import annotations

import fnmatch
import random
import string
import threading
from dataclasses import dataclass, field
from datetime import datetime

from fakecloud.errors import ServiceError

STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")
STOPPED_MODES = ("KeepCharging", "StopCharging")

# Public region ids of Alibaba Cloud; anything else is InvalidRegionId.NotFound.
REGIONS = frozenset({
    "cn-qingdao", "cn-beijing", "cn-zhangjiakou", "cn-huhehaote", "cn-wulanchabu", "cn-hangzhou",
    "cn-shanghai", "cn-nanjing", "cn-fuzhou", "cn-wuhan-lr", "cn-shenzhen", "cn-heyuan", "cn-guangzhou",
    "cn-chengdu", "cn-hongkong", "cn-beijing-finance-1", "cn-shanghai-finance-1", "cn-shenzhen-finance-1",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "us-east-1", "us-west-1", "na-south-1", "eu-west-1",
    "eu-central-1", "me-east-1", "me-central-1",
})

def _incorrect_status() -> ServiceError:
    return ServiceError("IncorrectInstanceStatus",
                        "The current status of the resource does not support this operation.", 403)


def _not_found() -> ServiceError:
    return ServiceError("InvalidInstanceId.NotFound", "The specified InstanceId does not exist.", 404)


def check_region(region: str | None) -> str:
    if region not in REGIONS:
        raise ServiceError("InvalidRegionId.NotFound", "The specified RegionId does not exist.", 404)
    return region


def instance_size(instance_type: str) -> tuple[int, int]:
    """(vCPUs, memory MiB) of an instance type like `ecs.g7.large`: enough realism for listings."""
    parts = instance_type.split(".")
    family, size = (parts[1], parts[2]) if len(parts) >= 3 else ("g7", "large")
    if size in ("small", "medium"):
        cpus = 1
    elif size == "large":
        cpus = 2
    elif size.endswith("xlarge"):
        factor = size[:-len("xlarge")]
        cpus = 4 * (int(factor) if factor.isdigit() else 1)
    else:
        cpus = 2
    gib_per_cpu = {"c": 2, "g": 4, "r": 8}.get(family[:1], 4)
    return cpus, cpus * gib_per_cpu * 1024


@dataclass
class Instance:
    instance_id: str
    account_id: str
    region: str
    zone: str
    name: str
    status: str
    instance_type: str
    creation_time: datetime
    tags: dict[str, str] = field(default_factory=dict)
    stopped_mode: str = "Not-applicable"
    start_time: datetime | None = None
    private_ip: str = "172.16.0.1"
    vpc_id: str = ""
    vswitch_id: str = ""
    security_group_id: str = ""
    image_id: str = "aliyun_3_x64_20G_alibase_20240819.vhd"


class EcsBackend:
    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.instances: dict[str, dict[str, Instance]] = {}  # account -> id -> instance (creation order)
        self._rng = random.Random(20140526)
        self._lock = threading.Lock()

    def _id(self, prefix: str, n: int) -> str:
        with self._lock:
            return prefix + "".join(self._rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))

    # -- test helper --------------------------------------------------------------------------
    def seed_instance(self, account_id: str, region: str = "cn-hangzhou", *, name: str | None = None,
                      status: str = "Running", instance_type: str = "ecs.g7.large", zone: str | None = None,
                      tags: dict[str, str] | None = None) -> str:
        """Create an instance directly in the fake (no API call, no ActionTrail event)."""
        if account_id not in self.cloud.accounts:
            raise ValueError(f"unknown account {account_id}")
        if region not in REGIONS:
            raise ValueError(f"unknown region {region}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        instance_id = self._id("i-bp1", 17)
        now = self.cloud.now()
        n = sum(len(v) for v in self.instances.values()) + 1
        instance = Instance(
            instance_id=instance_id, account_id=account_id, region=region,
            zone=zone or f"{region}-{'h' if region == 'cn-hangzhou' else 'a'}",
            name=name or f"launch-advisor-{now:%Y%m%d}", status=status, instance_type=instance_type,
            creation_time=now, tags=dict(tags or {}), private_ip=f"172.16.{n // 250}.{n % 250 + 2}",
            vpc_id=self._id("vpc-bp1", 17), vswitch_id=self._id("vsw-bp1", 17),
            security_group_id=self._id("sg-bp1", 17),
            start_time=now if status == "Running" else None,
            stopped_mode="KeepCharging" if status == "Stopped" else "Not-applicable",
        )
        with self.cloud.lock:
            self.instances.setdefault(account_id, {})[instance_id] = instance
        return instance_id

    def get(self, account_id: str, instance_id: str) -> Instance | None:
        return self.instances.get(account_id, {}).get(instance_id)

    # -- queries ---------------------------------------------------------------------------------
    def describe(self, account_id: str, region: str, *, instance_ids: list[str] | None = None,
                 name: str | None = None, status: str | None = None, zone: str | None = None,
                 instance_type: str | None = None, tags: dict[str, str | None] | None = None) -> list[Instance]:
        """Instances of one account and region matching every given filter, in creation order.

        `name` accepts `*` wildcards like the real InstanceName filter; unknown ids in
        `instance_ids` simply match nothing (the real API does not fail on them).
        """
        if status is not None and status not in STATUSES:
            raise ServiceError("InvalidStatus.ValueNotSupported", "The specified parameter Status is not valid.", 400)
        wanted = set(instance_ids) if instance_ids is not None else None
        found = []
        for instance in self.instances.get(account_id, {}).values():
            if instance.region != region:
                continue
            if wanted is not None and instance.instance_id not in wanted:
                continue
            if name is not None and not (fnmatch.fnmatchcase(instance.name, name) if "*" in name
                                         else instance.name == name):
                continue
            if status is not None and instance.status != status:
                continue
            if zone is not None and instance.zone != zone:
                continue
            if instance_type is not None and instance.instance_type != instance_type:
                continue
            if tags and any(k not in instance.tags or (v is not None and instance.tags[k] != v)
                            for k, v in tags.items()):
                continue
            found.append(instance)
        return found

    # -- lifecycle ----------------------------------------------------------------------------------
    def _require(self, account_id: str, instance_id: str) -> Instance:
        instance = self.get(account_id, instance_id)
        if instance is None:
            raise _not_found()
        return instance

    def start(self, account_id: str, instance_id: str, *, dry_run: bool = False) -> Instance:
        instance = self._require(account_id, instance_id)
        if instance.status != "Stopped":
            raise _incorrect_status()
        _dry_run(dry_run)
        instance.status = "Running"
        instance.stopped_mode = "Not-applicable"
        instance.start_time = self.cloud.now()
        return instance

    def stop(self, account_id: str, instance_id: str, *, force: bool = False, stopped_mode: str | None = None,
             dry_run: bool = False) -> Instance:
        """Running -> Stopped. `force` (ForceStop) changes nothing here: there is no guest OS to wait for."""
        if stopped_mode is not None and stopped_mode not in STOPPED_MODES:
            raise ServiceError("InvalidParameter.StoppedMode", "The specified parameter StoppedMode is not valid.", 400)
        instance = self._require(account_id, instance_id)
        if instance.status != "Running":
            raise _incorrect_status()
        _dry_run(dry_run)
        instance.status = "Stopped"
        instance.stopped_mode = stopped_mode or "KeepCharging"
        return instance

    def reboot(self, account_id: str, instance_id: str, *, force: bool = False, dry_run: bool = False) -> Instance:
        instance = self._require(account_id, instance_id)
        if instance.status != "Running":
            raise _incorrect_status()
        _dry_run(dry_run)
        instance.start_time = self.cloud.now()
        return instance


def _dry_run(dry_run: bool) -> None:
    """A DryRun call that passes every check answers this error instead of acting (real ECS behaviour)."""
    if dry_run:
        raise ServiceError("DryRunOperation", "Request validation has been passed with DryRun flag set.", 400)
