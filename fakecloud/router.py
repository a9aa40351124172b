"""Which fake service answers a request.

Alibaba endpoints are recognised by host (`ram.aliyuncs.com`, `sts.cn-hangzhou.aliyuncs.com`,
`ecs-cn-hangzhou.aliyuncs.com`, `<bucket>.oss-cn-hangzhou.aliyuncs.com`,
`<uid>.cn-hangzhou.fc.aliyuncs.com` and FC 3.0's `fcv3.cn-hangzhou.aliyuncs.com`,
`oapi.dingtalk.com`). Requests to any other host (the server mode on 127.0.0.1) are routed
by what they carry: `x-acs-version`/`Version` for POP APIs, the `/2016-08-15/` (FC 2.0) and
`/2023-03-30/` (FC 3.0) paths for Function Compute, `/robot/send` for DingTalk, `/_fakecloud/`
for the admin API, and everything else is OSS in path style.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fakecloud.errors import UnservedEndpoint
from fakecloud.wire import Request

POP_VERSIONS = {
    "2015-05-01": "ram",
    "2015-04-01": "sts",
    "2014-05-26": "ecs",
    "2020-07-06": "actiontrail",
}
POP_PRODUCTS = set(POP_VERSIONS.values())

_OSS_HOST = re.compile(
    r"^(?:(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.)?oss-(?P<region>[a-z0-9-]+?)(?P<internal>-internal)?\.aliyuncs\.com$"
)
_FC_HOST = re.compile(r"^(?P<account>\d+)\.(?P<region>[a-z0-9-]+?)(?P<internal>-internal)?\.fc\.aliyuncs\.com$")
_FC3_HOST = re.compile(r"^fcv3\.(?P<region>[a-z0-9-]+?)(?P<internal>-internal)?\.aliyuncs\.com$")
_POP_HOST = re.compile(r"^(?P<product>[a-z]+)(?:-(?P<suffix>[a-z0-9-]+))?(?:\.(?P<region>[a-z0-9-]+))?\.aliyuncs\.com$")
_REGION = re.compile(r"^[a-z]{2,4}-[a-z]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Route:
    service: str
    region: str | None = None
    bucket: str | None = None  # OSS virtual-hosted bucket
    account_id: str | None = None  # FC endpoint account
    internal: bool = False
    by_host: bool = True  # False in server mode (routed by content)


# An Alibaba host always maps to the same route (`_resolve_alibaba_host` reads only the host),
# so each host's route is worked out once instead of on every request.
_HOST_ROUTES: dict[str, Route] = {}


def resolve(request: Request, default_region: str) -> Route:
    host = request.host
    if host.endswith(".aliyuncs.com"):
        route = _HOST_ROUTES.get(host)
        if route is None:
            route = _resolve_alibaba_host(host, request)
            if len(_HOST_ROUTES) < 10_000:
                _HOST_ROUTES[host] = route
        return route
    if host == "oapi.dingtalk.com":
        return Route("dingtalk")
    if _is_local(host):
        return _resolve_by_content(request, default_region)
    raise UnservedEndpoint(f"fakecloud does not serve host {host!r} ({request.method} {request.url})")


def _is_local(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0") or host.startswith("127.")


def _resolve_alibaba_host(host: str, request: Request) -> Route:
    if m := _OSS_HOST.match(host):
        return Route("oss", m["region"], bucket=m["bucket"], internal=bool(m["internal"]))
    if m := _FC_HOST.match(host):
        return Route("fc", m["region"], account_id=m["account"], internal=bool(m["internal"]))
    if m := _FC3_HOST.match(host):  # the FC 3.0 SDK's default endpoint: the account is the caller's
        return Route("fc", m["region"], internal=bool(m["internal"]))
    if (m := _POP_HOST.match(host)) and m["product"] in POP_PRODUCTS:
        region = m["region"]
        suffix = m["suffix"] or ""
        if region is None and _REGION.match(suffix):
            region = suffix
        return Route(m["product"], region)
    raise UnservedEndpoint(f"fakecloud does not serve host {host!r} ({request.method} {request.url})")


def _resolve_by_content(request: Request, default_region: str) -> Route:
    path = request.path
    if path.startswith("/_fakecloud/"):
        return Route("admin", default_region, by_host=False)
    if path.startswith(("/2016-08-15/", "/2023-03-30/")):
        return Route("fc", default_region, by_host=False)
    if path.startswith("/robot/send"):
        return Route("dingtalk", by_host=False)
    version = request.headers.get("x-acs-version") or request.query.get("Version")
    if version is None and request.body and "Version=" in request.body.decode("latin-1"):
        from fakecloud.auth.pop import request_params

        version = request_params(request).get("Version")
    if version:
        product = POP_VERSIONS.get(version)
        if product is None:
            raise UnservedEndpoint(f"fakecloud serves no POP API of version {version!r}")
        return Route(product, None, by_host=False)
    return Route("oss", default_region, by_host=False)
