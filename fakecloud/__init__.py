"""fakecloud: a stateful fake of Alibaba Cloud (RAM, STS, ECS, ActionTrail, OSS, FC, DingTalk).

Reached through the real SDKs, in-process (`mock_cloud`, via `responses`) or over HTTP
(`python -m fakecloud --port PORT`). See docs/fakecloud.md.
"""
from fakecloud.cloud import FakeCloud
from fakecloud.errors import FakeCrash, ServiceError, UnservedEndpoint
from fakecloud.iam.keys import Credentials
from fakecloud.limits import Limits

__all__ = ["FakeCloud", "mock_cloud", "current_cloud", "Credentials", "Limits", "FakeCrash", "ServiceError",
           "UnservedEndpoint"]


def __getattr__(name):  # keep `responses` (a test/local dependency) off the import path of FakeCloud users
    if name in ("mock_cloud", "current_cloud"):
        from fakecloud import mock

        return getattr(mock, name)
    raise AttributeError(name)
