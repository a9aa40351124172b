"""ECS wire layer: RPC parameters in, JSON shaped as `alibabacloud_ecs20140526` models read it.

Authorization is per call on the instance ARN (`acs:ecs:<region>:<account>:instance/<id>`,
`instance/*` for DescribeInstances); a denial is ECS's `Forbidden.RAM`, not RAM's NoPermission.
"""
from __future__ import annotations

import base64
import json

from fakecloud.clock import iso
from fakecloud.errors import ServiceError
from fakecloud.services.ecs.models import EcsBackend, Instance, check_region, instance_size
from fakecloud.services.pop import PopCall, PopService, action

RESOURCE_TYPE = "ACS::ECS::Instance"
FORBIDDEN_MESSAGE = "User not authorized to operate on the specified resource, or this API doesn't support RAM."


def _minute_iso(moment) -> str:
    """ECS shows CreationTime/StartTime to the minute: `2026-12-01T08:00Z`."""
    return iso(moment)[:16] + "Z"


def instance_body(instance: Instance) -> dict:
    cpus, memory = instance_size(instance.instance_type)
    return {
        "InstanceId": instance.instance_id,
        "InstanceName": instance.name,
        "HostName": f"iZ{instance.instance_id[2:]}Z",
        "Description": "",
        "Status": instance.status,
        "StoppedMode": instance.stopped_mode,
        "RegionId": instance.region,
        "ZoneId": instance.zone,
        "InstanceType": instance.instance_type,
        "InstanceTypeFamily": ".".join(instance.instance_type.split(".")[:2]),
        "Cpu": cpus,
        "Memory": memory,
        "ImageId": instance.image_id,
        "OSName": "Alibaba Cloud Linux  3.2104 LTS 64位",
        "OSNameEn": "Alibaba Cloud Linux  3.2104 LTS 64 bit",
        "OSType": "linux",
        "CreationTime": _minute_iso(instance.creation_time),
        "StartTime": _minute_iso(instance.start_time) if instance.start_time else "",
        "ExpiredTime": "2099-12-31T15:59Z",
        "InstanceChargeType": "PostPaid",
        "InternetChargeType": "PayByTraffic",
        "InternetMaxBandwidthIn": 100,
        "InternetMaxBandwidthOut": 0,
        "InstanceNetworkType": "vpc",
        "IoOptimized": True,
        "DeletionProtection": False,
        "DeviceAvailable": True,
        "Recyclable": False,
        "SerialNumber": instance.instance_id[2:] + "-serial",
        "ResourceGroupId": "",
        "KeyPairName": "",
        "SpotStrategy": "NoSpot",
        "VpcAttributes": {
            "VpcId": instance.vpc_id,
            "VSwitchId": instance.vswitch_id,
            "NatIpAddress": "",
            "PrivateIpAddress": {"IpAddress": [instance.private_ip]},
        },
        "PublicIpAddress": {"IpAddress": []},
        "InnerIpAddress": {"IpAddress": []},
        "EipAddress": {"AllocationId": "", "IpAddress": "", "InternetChargeType": ""},
        "SecurityGroupIds": {"SecurityGroupId": [instance.security_group_id]},
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in instance.tags.items()]},
        "OperationLocks": {"LockReason": []},
    }


def _encode_token(instance_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"next": instance_id}).encode()).decode()


def _bad_token() -> ServiceError:
    return ServiceError("InvalidParameter.NextToken", "The specified parameter NextToken is not valid.", 400)


def _decode_token(token: str) -> str:
    """The id of the first instance of the page a NextToken asks for."""
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()).decode())["next"]
    except Exception:
        raise _bad_token()


class EcsService(PopService):
    name = "ecs"
    api_version = "2014-05-26"
    trail_service_name = "Ecs"
    event_source = "ecs.aliyuncs.com"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.backend = EcsBackend(cloud)

    def denied(self, call: PopCall, ram_action: str, decision: str) -> ServiceError:
        """ECS answers a RAM denial with Forbidden.RAM (same AccessDeniedDetail as RAM)."""
        error = super().denied(call, ram_action, decision)
        return ServiceError("Forbidden.RAM", FORBIDDEN_MESSAGE, 403, **error.extra)

    @staticmethod
    def arn(region: str, account_id: str, instance_id: str = "*") -> str:
        return f"acs:ecs:{region}:{account_id}:instance/{instance_id}"

    # -- DescribeInstances ---------------------------------------------------------------------
    @action("DescribeInstances")
    def describe_instances(self, call: PopCall) -> dict:
        region = check_region(call.str("RegionId", required=True))
        call.authorize("ecs:DescribeInstances", self.arn(region, call.account_id))
        call.trail_resource_type = RESOURCE_TYPE
        ids = self._instance_ids(call)
        if ids:
            call.trail_resource_name = ",".join(ids)  # one type: commas (types apart: semicolons)
        tags = {t["Key"]: t.get("Value") for t in call.repeat_list("Tag") if t.get("Key")}
        found = self.backend.describe(
            call.account_id, region, instance_ids=ids, name=call.str("InstanceName"), status=call.str("Status"),
            zone=call.str("ZoneId"), instance_type=call.str("InstanceType"), tags=tags)
        if call.bool("DryRun"):
            raise ServiceError("DryRunOperation", "Request validation has been passed with DryRun flag set.", 400)
        if call.str("NextToken") is not None or call.str("MaxResults") is not None:
            return self._token_page(call, found, list(self.backend.instances.get(call.account_id, {})))
        page_number = call.int("PageNumber", default=1, minimum=1, maximum=10**9)
        page_size = call.int("PageSize", default=10, minimum=1, maximum=100)
        start = (page_number - 1) * page_size
        page = found[start:start + page_size]
        return {"TotalCount": len(found), "PageNumber": page_number, "PageSize": page_size, "NextToken": "",
                "Instances": {"Instance": [instance_body(i) for i in page]}}

    @staticmethod
    def _instance_ids(call: PopCall) -> list[str] | None:
        raw = call.str("InstanceIds")
        if raw is None:
            return None
        try:
            ids = json.loads(raw)
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 100:
            raise ServiceError("InvalidInstanceIds.Malformed", "The specified parameter InstanceIds is not valid.", 400)
        return ids

    @staticmethod
    def _token_page(call: PopCall, found: list[Instance], order: list[str]) -> dict:
        """NextToken paging: MaxResults is clamped to 10..100 like the real API.

        The token names the first instance of the next page; the page starts at it, or at the
        next one in creation order (`order`, every instance of the account) if it no longer
        matches the filters, so an instance changing state between pages breaks nothing.
        """
        max_results = call.int("MaxResults", default=10)
        max_results = min(max(max_results, 10), 100)
        start = 0
        token = call.str("NextToken")
        if token:
            after = _decode_token(token)
            if after not in order:
                raise _bad_token()
            position = {instance_id: n for n, instance_id in enumerate(order)}
            start = next((n for n, i in enumerate(found) if position[i.instance_id] >= position[after]), len(found))
        page, rest = found[start:start + max_results], found[start + max_results:]
        return {"TotalCount": len(found), "NextToken": _encode_token(rest[0].instance_id) if rest else "",
                "Instances": {"Instance": [instance_body(i) for i in page]}}

    # -- lifecycle --------------------------------------------------------------------------------------
    def _instance_call(self, call: PopCall, ram_action: str) -> str:
        """Authorize a call on one instance; the event's acsRegion is the instance's region."""
        instance_id = call.str("InstanceId", required=True)
        instance = self.backend.get(call.account_id, instance_id)
        if instance is not None:
            call.region = instance.region
        call.trail_resource_type, call.trail_resource_name = RESOURCE_TYPE, instance_id
        call.authorize(ram_action, self.arn(call.region, call.account_id, instance_id))
        return instance_id

    @action("StartInstance", read=False)
    def start_instance(self, call: PopCall) -> dict:
        instance_id = self._instance_call(call, "ecs:StartInstance")
        self.backend.start(call.account_id, instance_id, dry_run=call.bool("DryRun"))
        return {}

    @action("StopInstance", read=False)
    def stop_instance(self, call: PopCall) -> dict:
        instance_id = self._instance_call(call, "ecs:StopInstance")
        self.backend.stop(call.account_id, instance_id, force=call.bool("ForceStop"),
                          stopped_mode=call.str("StoppedMode"), dry_run=call.bool("DryRun"))
        return {}

    @action("RebootInstance", read=False)
    def reboot_instance(self, call: PopCall) -> dict:
        instance_id = self._instance_call(call, "ecs:RebootInstance")
        self.backend.reboot(call.account_id, instance_id, force=call.bool("ForceStop"), dry_run=call.bool("DryRun"))
        return {}
