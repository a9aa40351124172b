"""`python -m fakecloud --port 8765 --account 1234567890123456:company-a`

Serves the fake cloud on 127.0.0.1 and prints one JSON line with the endpoint and the root
credentials of the accounts it created, then serves until interrupted. Function Compute's
async queue and timers run in background threads, so functions created over the FC 3.0 API
(their `handler` imported in this process) are invoked as FC would. What such a function sends
to Alibaba's endpoint names (`oss-cn-hangzhou-internal.aliyuncs.com`, …) is answered by this
same fake, as a function in FC reaches Alibaba Cloud; requests to other hosts go out unchanged.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import timedelta

from fakecloud.cloud import FakeCloud
from fakecloud.mock import mock_cloud
from fakecloud.server import FakeCloudServer


def _account(spec: str) -> tuple[str, str | None, str | None, str | None]:
    parts = spec.split(":")
    if len(parts) not in (1, 2, 4) or not parts[0].isdigit():
        raise argparse.ArgumentTypeError("use ACCOUNT_ID[:ALIAS[:ACCESS_KEY_ID:ACCESS_KEY_SECRET]]")
    parts += [None] * (4 - len(parts))
    return parts[0], parts[1] or None, parts[2], parts[3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakecloud", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--region", default="cn-hangzhou", help="region for requests that name none")
    parser.add_argument("--account", action="append", type=_account, default=[],
                        help="ACCOUNT_ID[:ALIAS[:ACCESS_KEY_ID:ACCESS_KEY_SECRET]] (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    parser.add_argument("--clock-offset", type=float, default=0.0,
                        help="seconds the fake's clock runs ahead (negative: behind) of this machine's")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    cloud = FakeCloud(default_region=args.region, latency=args.latency)
    cloud.clock_offset = timedelta(seconds=args.clock_offset)
    credentials = {}
    for account_id, alias, key_id, secret in args.account:
        creds = cloud.add_account(account_id, alias, access_key_id=key_id, access_key_secret=secret)
        credentials[account_id] = {"alias": alias, "accessKeyId": creds.access_key_id,
                                   "accessKeySecret": creds.access_key_secret}
    server = FakeCloudServer(cloud, args.host, args.port)
    functions_reach_this_cloud = mock_cloud(cloud, cloud_hosts_only=True)
    functions_reach_this_cloud.start()
    cloud.backend("fc").start_workers(n=2, retry_delay=1.0, timer_interval=1.0)
    print(json.dumps({"fakecloud": f"http://{args.host}:{server.port}", "accounts": credentials}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        cloud.backend("fc").stop_workers()
        functions_reach_this_cloud.stop()
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
