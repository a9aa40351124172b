"""How much the fake adds to an SDK call: `GetRole` against fakecloud vs. a canned `responses` reply.

Both runs use the same RAM SDK client, so SDK work (request building, ACS3 signing, `requests`,
JSON parsing) is identical; the difference is what fakecloud does per call (routing, signature
verification, nonce and timestamp checks, caller resolution, policy evaluation, the state lock,
call log, ActionTrail event, JSON rendering).

    .venv/bin/python bench/fake_overhead.py [--calls 3000] [--repeat 5] [--caller root|user] [--profile]
    .venv/bin/python bench/fake_overhead.py --only fake|canned --calls N   # one side, for valgrind

Prints calls/s of both and the overhead in percent (fake time per call / canned time per call - 1),
from the median and from the best of the interleaved runs, in wall and in CPU time, and the
peak RSS of the process. Results are in docs/benchmarks.md ("Fake overhead").
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import responses  # noqa: E402
from alibabacloud_ram20150501 import models as ram_models  # noqa: E402
from alibabacloud_ram20150501.client import Client as RamClient  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402

from fakecloud import Credentials, FakeCloud, mock_cloud  # noqa: E402
from fakecloud.mock import _NoCalls  # noqa: E402

ACCOUNT = "1234567890123456"
TRUST = json.dumps({"Version": "1", "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                                   "Principal": {"RAM": ["acs:ram::1345678901234567:root"]}}]})


def client(creds: Credentials) -> RamClient:
    return RamClient(Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                            region_id="cn-hangzhou"))


def setup(caller: str) -> tuple[FakeCloud, RamClient, dict]:
    """A cloud with one role; the client that will call GetRole; a canned reply of the same shape."""
    cloud = FakeCloud()
    with mock_cloud(cloud):
        root = cloud.add_account(ACCOUNT, "bench")
        ram = client(root)
        ram.create_role(ram_models.CreateRoleRequest(role_name="bench-role", assume_role_policy_document=TRUST))
        if caller == "user":  # a RAM user: GetRole then goes through the policy evaluator
            ram.create_user(ram_models.CreateUserRequest(user_name="bench"))
            ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
                policy_type="System", policy_name="AliyunRAMReadOnlyAccess", user_name="bench"))
            key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="bench")).body.access_key
            ram = client(Credentials(key.access_key_id, key.access_key_secret))
        canned = ram.get_role(ram_models.GetRoleRequest(role_name="bench-role")).body.to_map()
    return cloud, ram, canned


def run(ram: RamClient, calls: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for `calls` GetRole calls.

    CPU time is reported next to wall time because benchmark machines are often shared:
    other processes stretch wall time but not this process's CPU time.
    """
    request = ram_models.GetRoleRequest(role_name="bench-role")
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        ram.get_role(request)
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_fake(cloud: FakeCloud, ram: RamClient, calls: int, warmup: int) -> tuple[float, float]:
    with mock_cloud(cloud):
        run(ram, warmup)
        return run(ram, calls)


def timed_canned(canned: dict, ram: RamClient, calls: int, warmup: int) -> tuple[float, float]:
    body = json.dumps(canned, separators=(",", ":")).encode()  # compact, as the fake (and Alibaba) send it
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock._calls = _NoCalls()  # same as mock_cloud: no per-call recording in either run
    mock.add(responses.POST, re.compile(r"https://ram\.aliyuncs\.com/.*"), body=body, status=200,
             content_type="application/json;charset=utf-8", headers={"x-acs-request-id": canned["RequestId"]})
    for registered in mock.registered():
        registered._calls = _NoCalls()
    with mock:
        run(ram, warmup)
        return run(ram, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--caller", choices=("root", "user"), default="root")
    parser.add_argument("--profile", action="store_true", help="cProfile one fake run and print the top entries")
    parser.add_argument("--only", choices=("fake", "canned"),
                        help="run just one side, silently (for instruction counts under valgrind, see docs)")
    args = parser.parse_args()

    cloud, ram, canned = setup(args.caller)
    cloud.calls.keep_records = False  # a long benchmark must not grow the call log
    if args.only:
        (timed_fake if args.only == "fake" else timed_canned)(cloud if args.only == "fake" else canned, ram,
                                                              args.calls, args.warmup)
        return
    if args.profile:
        profiler = cProfile.Profile()
        with mock_cloud(cloud):
            run(ram, args.warmup)
            profiler.enable()
            run(ram, args.calls)
            profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        return

    fake, plain = [], []
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits both alike
        fake.append(timed_fake(cloud, ram, args.calls, args.warmup))
        plain.append(timed_canned(canned, ram, args.calls, args.warmup))
    print(f"GetRole via the RAM SDK, caller={args.caller}, {args.calls} calls x {args.repeat} repetitions "
          f"(Python {sys.version.split()[0]})")
    for index, clock in ((0, "wall"), (1, "cpu")):
        for label, pick in (("median", statistics.median), ("best", min)):
            fake_s, plain_s = pick(r[index] for r in fake), pick(r[index] for r in plain)
            print(f"  [{clock:4s} {label:6s}] canned {args.calls / plain_s:5.0f} calls/s ({plain_s / args.calls * 1e6:4.0f} us)"
                  f" | fake {args.calls / fake_s:5.0f} calls/s ({fake_s / args.calls * 1e6:4.0f} us)"
                  f" | overhead {(fake_s / plain_s - 1) * 100:+5.1f} %")
        print(f"  [{clock:4s} runs  ] fake: {', '.join(f'{r[index]:.2f}' for r in fake)} s;"
              f" canned: {', '.join(f'{r[index]:.2f}' for r in plain)} s")
    print(f"  peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
