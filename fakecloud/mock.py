"""In-process mode: every request the official SDKs send is answered by the fake via `responses`.

`responses` patches `requests`' HTTPAdapter, which the tea SDKs (RAM, STS, ECS,
ActionTrail), `oss2` and `fc2` all use. A request to a host the fake does not serve raises
`UnservedEndpoint` (a ConnectionError): nothing ever reaches the real network.
"""
from __future__ import annotations

import functools
import inspect
import re

import responses

from fakecloud.cloud import FakeCloud
from fakecloud.wire import Request

_ANY_URL = re.compile(r".*")
_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")
_current: list[FakeCloud] = []


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

    def __init__(self, cloud: FakeCloud | None = None, **options) -> None:
        if callable(cloud) and not isinstance(cloud, FakeCloud):  # used as bare @mock_cloud
            self._wrapped, cloud = cloud, None
        else:
            self._wrapped = None
        self._options = options
        self.cloud = cloud or FakeCloud(**options)
        self._mock: responses.RequestsMock | None = None
        if self._wrapped is not None:
            functools.update_wrapper(self, self._wrapped)

    def _callback(self, prepared):
        request = Request.build(prepared.method, prepared.url, prepared.headers, prepared.body)
        response = self.cloud.handle(request)
        return response.status, response.headers, response.body

    def start(self) -> FakeCloud:
        mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        mock._calls = _NoCalls()
        for method in _METHODS:
            mock.add_callback(method, _ANY_URL, callback=self._callback, content_type=None)
        for registered in mock.registered():
            registered._calls = _NoCalls()
        mock.start()
        self._mock = mock
        _current.append(self.cloud)
        return self.cloud

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None
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

        return wrapper

    def _run(self, fn, args, kwargs):
        """Each decorated call gets a fresh cloud, like moto's decorators."""
        with mock_cloud(**self._options) as cloud:
            if "cloud" in inspect.signature(fn).parameters and "cloud" not in kwargs:
                kwargs["cloud"] = cloud
            return fn(*args, **kwargs)
