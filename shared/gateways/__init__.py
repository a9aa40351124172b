"""The only code that talks to Alibaba Cloud: one gateway per service over the official SDKs.

`Gateways.connect(settings)` returns a bundle whose gateways are built on first use:
each SDK costs a few hundred milliseconds to import, and an FC cold start that only reads
OSS must not pay for RAM, ActionTrail and fc2 as well. Every gateway takes its credentials
and endpoints from `Settings`, maps SDK failures to `CloudError` and retries what may
succeed later (`shared.gateways.retry`).

Endpoints: an override in `settings.endpoints` (host[:port], or a URL with its scheme) wins,
e.g. the fake's server mode or OSS's `-internal` endpoint inside FC; otherwise the public
endpoint of `settings.region` is used (RAM is global: `ram.aliyuncs.com`).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from shared.errors import RolepactError

if TYPE_CHECKING:  # imported lazily at run time (cold start)
    from shared.gateways.actiontrail import TrailGateway
    from shared.gateways.dingtalk import DingTalkGateway
    from shared.gateways.fc import FunctionGateway
    from shared.gateways.oss import ObjectStore
    from shared.gateways.ram import RamGateway
    from shared.gateways.sts import StsGateway
    from shared.settings import Credentials, Settings

__all__ = ["Gateways", "split_endpoint", "tea_config", "credentials_of"]

CONNECT_TIMEOUT = 5  # seconds
READ_TIMEOUT = 10  # seconds, POP APIs (RAM, STS, ActionTrail)


class _lazy:
    """A per-instance attribute built once on first access, thread-safe (worker threads share a bundle)."""

    def __init__(self, build) -> None:
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with instance._lock:
            if self.name not in instance.__dict__:
                instance.__dict__[self.name] = self.build(instance)
        return instance.__dict__[self.name]


class Gateways:
    """All gateways of one process, from one `Settings`. Attributes are created on first access."""

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings
        self._lock = threading.RLock()

    @classmethod
    def connect(cls, settings: "Settings") -> "Gateways":
        return cls(settings)

    @_lazy
    def ram(self) -> "RamGateway":
        from shared.gateways.ram import RamGateway

        return RamGateway(self.settings)

    @_lazy
    def sts(self) -> "StsGateway":
        from shared.gateways.sts import StsGateway

        return StsGateway(self.settings)

    @_lazy
    def store(self) -> "ObjectStore":
        """The bucket `settings.bucket`."""
        from shared.gateways.oss import ObjectStore

        return ObjectStore(self.settings)

    @_lazy
    def fc(self) -> "FunctionGateway":
        from shared.gateways.fc import FunctionGateway

        return FunctionGateway(self.settings)

    @_lazy
    def trail(self) -> "TrailGateway":
        from shared.gateways.actiontrail import TrailGateway

        return TrailGateway(self.settings)

    @_lazy
    def dingtalk(self) -> "DingTalkGateway | None":
        """None when no robot is configured (notifications are then only logged by the caller)."""
        if not self.settings.dingtalk_webhook:
            return None
        from shared.gateways.dingtalk import DingTalkGateway

        return DingTalkGateway(self.settings.dingtalk_webhook, self.settings.dingtalk_secret, settings=self.settings)


# -- plumbing shared by the gateways ------------------------------------------------------------------

def split_endpoint(endpoint: str, default_protocol: str = "https") -> tuple[str, str]:
    """`"http://127.0.0.1:9000"` -> ("http", "127.0.0.1:9000"); a bare host keeps `default_protocol`."""
    endpoint = endpoint.strip().rstrip("/")
    if "://" in endpoint:
        protocol, _, host = endpoint.partition("://")
        return protocol.lower(), host
    return default_protocol, endpoint


def endpoint_url(override: str | None, default_url: str, protocol: str) -> str:
    """A full URL (for oss2 and fc2): the override with its protocol, else the default."""
    if not override:
        return default_url
    scheme, host = split_endpoint(override, protocol)
    return f"{scheme}://{host}"


def credentials_of(settings: "Settings") -> "Credentials":
    """Gateways never fall back to reading the environment themselves: Settings.from_env did that."""
    if settings.credentials is None:
        raise RolepactError("no cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET "
                            "(FC sets them from the service role) or pass Settings(credentials=...)")
    return settings.credentials


def tea_config(settings: "Settings", override: str | None, default_host: str, region: str | None = None):
    """tea-openapi Config for RAM/STS/ActionTrail. Built without the SDK's own retries (ours wrap it)."""
    from alibabacloud_tea_openapi.utils_models import Config

    creds = credentials_of(settings)
    protocol, host = split_endpoint(override, settings.endpoints.protocol) if override else ("https", default_host)
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token or None, region_id=region or settings.region,
                  endpoint=host, protocol=protocol, connect_timeout=CONNECT_TIMEOUT * 1000,
                  read_timeout=READ_TIMEOUT * 1000)
