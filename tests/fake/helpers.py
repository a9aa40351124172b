"""Client factories shared by the fake's service tests (ECS, ActionTrail, DingTalk, ...).

`clients(creds)` builds every POP SDK client for one identity, the way product code does:
`Config(access_key_id, access_key_secret, security_token, region_id)`. RAM/STS identity
helpers (make_user, assume, api_error, trust, policy) live in `iam_support.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

from alibabacloud_actiontrail20200706 import models as trail_models
from alibabacloud_actiontrail20200706.client import Client as TrailClient
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.models import Config

from fakecloud import Credentials

__all__ = ["Clients", "clients", "sdk_config", "ecs_client", "trail_client", "lookup_events", "ecs_models",
           "trail_models"]


def sdk_config(creds: Credentials, region: str = "cn-hangzhou") -> Config:
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token, region_id=region)


def ecs_client(creds: Credentials, region: str = "cn-hangzhou") -> EcsClient:
    return EcsClient(sdk_config(creds, region))


def trail_client(creds: Credentials, region: str = "cn-hangzhou") -> TrailClient:
    return TrailClient(sdk_config(creds, region))


@dataclass
class Clients:
    ram: RamClient
    sts: StsClient
    ecs: EcsClient
    trail: TrailClient


def clients(creds: Credentials, region: str = "cn-hangzhou") -> Clients:
    """Every POP SDK client the fake serves, for one set of credentials."""
    config = lambda: sdk_config(creds, region)  # noqa: E731 - clients may mutate their Config
    return Clients(RamClient(config()), StsClient(config()), EcsClient(config()), TrailClient(config()))


def lookup_events(client: TrailClient, *attributes: tuple[str, str], **params):
    """LookupEvents with `(Key, Value)` attribute pairs and wire-named parameters
    (`MaxResults="5"`, `NextToken=...`; None values are left out); returns the response body."""
    wire = {k: v for k, v in params.items() if v is not None}
    if attributes:
        wire["LookupAttribute"] = [{"Key": k, "Value": v} for k, v in attributes]
    return client.lookup_events(trail_models.LookupEventsRequest().from_map(wire)).body
