"""In-process mode: every request the official SDKs send is answered by the fake via `responses`.

`responses` patches `requests`' HTTPAdapter, which the tea SDKs (RAM, STS, ECS,
ActionTrail), `oss2` and `fc2` all use. The classic `aliyun-python-sdk-core` ships its own
vendored copy of `requests`, which `responses` does not see, so its adapter is patched too.
A request to a host the fake does not serve raises `UnservedEndpoint` (a ConnectionError):
nothing ever reaches the real network.

Server mode (`python -m fakecloud`) uses the same interception with `cloud_hosts_only=True`:
the functions it runs in its own process reach it at Alibaba's endpoint names, as a function
in FC reaches Alibaba Cloud, while a request to any other host (the server's own URL on
127.0.0.1, say) goes out unchanged.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import re
from unittest import mock as std_mock
from urllib.parse import urlsplit

import responses
from responses.registries import FirstMatchRegistry

from fakecloud.cloud import FakeCloud
from fakecloud.wire import Request

_ANY_URL = re.compile(r".*")
_current: list[FakeCloud] = []
_VENDORED_REQUESTS = "aliyunsdkcore.vendored.requests"


class _AllTraffic(FirstMatchRegistry):
    """Registry holding the one fake callback, which answers every method and URL.

    `responses` otherwise tries each registered response in turn on every request.
    """

    def find(self, request):
        return (self.registered[0], []) if self.registered else (None, [])


def is_cloud_host(url: str) -> bool:
    """Does `url` name an endpoint of Alibaba Cloud (or DingTalk) that the fake answers by host?"""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(".aliyuncs.com") or host == "oapi.dingtalk.com"


class _CloudHostsOnly(_AllTraffic):
    """The one callback for Alibaba's hosts; anything else is no match (and passes through)."""

    def find(self, request):
        return super().find(request) if is_cloud_host(str(request.url)) else (None, [])


class _NoCalls(responses.CallList):
    """`responses` keeps every call by default; long scale runs must not grow memory."""

    def add(self, request, response) -> None:  # noqa: D401 - same signature as CallList.add
        pass

    def add_call(self, call) -> None:
        pass


def current_cloud() -> FakeCloud:
    """The cloud of the innermost active `mock_cloud` (for decorated tests)."""
    if not _current:
        raise RuntimeError("no mock_cloud is active")
    return _current[-1]


class mock_cloud:  # noqa: N801 - named like moto's mock_aws, used the same way
    """Context manager and decorator that routes SDK traffic into a `FakeCloud`.

        with mock_cloud() as cloud:
            creds = cloud.add_account("1234567890123456", "company-a")

        @mock_cloud
        def test_x(cloud): ...          # gets the cloud if it asks for a `cloud` argument
    """

    def __init__(self, cloud: FakeCloud | None = None, *, cloud_hosts_only: bool = False, **options) -> None:
        """`cloud_hosts_only`: answer only requests to Alibaba's (and DingTalk's) hosts and let every
        other request through to the network (server mode); by default every request is answered."""
        self._cloud_hosts_only = cloud_hosts_only
        if callable(cloud) and not isinstance(cloud, FakeCloud):  # used as bare @mock_cloud
            self._wrapped, cloud = cloud, None
        else:
            self._wrapped = None
        self._options = options
        # A bare decorator makes a fresh cloud per call (see _run); it needs none of its own.
        self.cloud = cloud if cloud is not None else (None if self._wrapped else FakeCloud(**options))
        self._mock: responses.RequestsMock | None = None
        self._vendored = None
        if self._wrapped is not None:
            functools.update_wrapper(self, self._wrapped)
            _hide_injected_cloud(self, self._wrapped)

    def _callback(self, prepared):
        request = Request.build(prepared.method, prepared.url, prepared.headers, prepared.body)
        response = self.cloud.handle(request)
        return response.status, response.headers, response.body

    def _vendored_patch(self):
        """Patch aliyun-python-sdk-core's vendored requests adapter (None if not installed)."""
        try:
            models = importlib.import_module(f"{_VENDORED_REQUESTS}.models")
            structures = importlib.import_module(f"{_VENDORED_REQUESTS}.structures")
        except ImportError:
            return None
        cloud = self.cloud
        original = importlib.import_module(f"{_VENDORED_REQUESTS}.adapters").HTTPAdapter.send
        cloud_hosts_only = self._cloud_hosts_only

        def send(adapter, prepared, **kwargs):
            if cloud_hosts_only and not is_cloud_host(str(prepared.url)):
                return original(adapter, prepared, **kwargs)
            reply = cloud.handle(Request.build(prepared.method, prepared.url, prepared.headers, prepared.body))
            response = models.Response()
            response.status_code = reply.status
            response.headers = structures.CaseInsensitiveDict(reply.headers)
            response._content = reply.body
            response.url = prepared.url
            response.request = prepared
            response.connection = adapter
            return response

        return std_mock.patch(f"{_VENDORED_REQUESTS}.adapters.HTTPAdapter.send", new=send)

    def start(self) -> FakeCloud:
        mock = responses.RequestsMock(assert_all_requests_are_fired=False,
                                      registry=_CloudHostsOnly if self._cloud_hosts_only else _AllTraffic)
        if self._cloud_hosts_only:
            mock.add_passthru(_ANY_URL)
        mock._calls = _NoCalls()
        # Registered once; `_AllTraffic` hands it every request whatever its method.
        mock.add_callback(responses.POST, _ANY_URL, callback=self._callback, content_type=None)
        for registered in mock.registered():
            registered._calls = _NoCalls()
        mock.start()
        self._mock = mock
        self._vendored = self._vendored_patch()
        if self._vendored is not None:
            self._vendored.start()
        _current.append(self.cloud)
        return self.cloud

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None
            if self._vendored is not None:
                self._vendored.stop()
                self._vendored = None
            _current.remove(self.cloud)

    def __enter__(self) -> FakeCloud:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __call__(self, *args, **kwargs):
        if self._wrapped is not None:  # @mock_cloud without parentheses
            return self._run(self._wrapped, args, kwargs)
        fn = args[0]

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            return self._run(fn, a, kw)

        _hide_injected_cloud(wrapper, fn)
        return wrapper

    def _run(self, fn, args, kwargs):
        """Each decorated call gets a fresh cloud, like moto's decorators."""
        with mock_cloud(**self._options) as cloud:
            if "cloud" in inspect.signature(fn).parameters and "cloud" not in kwargs:
                kwargs["cloud"] = cloud
            return fn(*args, **kwargs)


def _hide_injected_cloud(wrapper, fn) -> None:
    """Drop `cloud` from the signature callers see: the decorator supplies it.

    Without this, pytest reads the wrapped test's signature and looks for a `cloud` fixture
    (failing, or worse, passing some other cloud that is not the one receiving traffic).
    """
    signature = inspect.signature(fn)
    if "cloud" in signature.parameters:
        wrapper.__signature__ = signature.replace(
            parameters=[p for p in signature.parameters.values() if p.name != "cloud"])
