"""How much the fake adds to an SDK call: `GetRole` against fakecloud vs. a canned `responses` reply.

Both runs use the same RAM SDK client, so SDK work (request building, ACS3 signing, `requests`,
JSON parsing) is identical; the difference is what fakecloud does per call (routing, signature
verification, nonce and timestamp checks, caller resolution, policy evaluation, the state lock,
call log, ActionTrail event, JSON rendering).

    .venv/bin/python bench/fake_overhead.py [--calls 3000] [--repeat 5] [--caller root|user] [--profile]
    .venv/bin/python bench/fake_overhead.py --instructions 800   # + instructions per call (valgrind, load-proof)
    .venv/bin/python bench/fake_overhead.py --only fake|canned --calls N   # one side, for valgrind
    .venv/bin/python bench/fake_overhead.py --smoke   # a few calls; the fake's checks are shown to bite

Prints calls/s of both and the overhead in percent (fake time per call / canned time per call - 1),
from the median and from the best of the interleaved runs, in wall and in CPU time, and the
peak RSS of the process. Goal (issue #13): at most +30 % (median). Every run first checks that
the fake still makes its checks: the same reply as the canned side, a wrong secret refused with
SignatureDoesNotMatch, a replayed request refused with SignatureNonceUsed, a caller without
the permission refused with NoPermission by the policy evaluator. Results: docs/benchmarks.md
("Fake overhead").
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import responses  # noqa: E402
from alibabacloud_ram20150501 import models as ram_models  # noqa: E402
from alibabacloud_ram20150501.client import Client as RamClient  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402

from bench._common import banner, footer, load  # noqa: E402
from fakecloud import Credentials, FakeCloud, mock_cloud  # noqa: E402
from fakecloud.mock import _NoCalls  # noqa: E402

ACCOUNT = "1234567890123456"
TRUST = json.dumps({"Version": "1", "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                                   "Principal": {"RAM": ["acs:ram::1345678901234567:root"]}}]})


def client(creds: Credentials) -> RamClient:
    return RamClient(Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                            region_id="cn-hangzhou"))


def setup(caller: str) -> tuple[FakeCloud, RamClient, dict, Credentials]:
    """A cloud with one role; the client that will call GetRole, its credentials; a canned reply of the same shape."""
    cloud = FakeCloud()
    with mock_cloud(cloud):
        root = creds = cloud.add_account(ACCOUNT, "bench")
        ram = client(root)
        ram.create_role(ram_models.CreateRoleRequest(role_name="bench-role", assume_role_policy_document=TRUST))
        if caller == "user":  # a RAM user: GetRole then goes through the policy evaluator
            ram.create_user(ram_models.CreateUserRequest(user_name="bench"))
            ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
                policy_type="System", policy_name="AliyunRAMReadOnlyAccess", user_name="bench"))
            key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name="bench")).body.access_key
            creds = Credentials(key.access_key_id, key.access_key_secret)
            ram = client(creds)
        canned = ram.get_role(ram_models.GetRoleRequest(role_name="bench-role")).body.to_map()
    return cloud, ram, canned, creds


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


def error_code(call) -> str | None:
    try:
        call()
    except Exception as error:  # the tea SDK raises TeaException with the cloud's code
        return getattr(error, "code", None) or type(error).__name__
    return None


def check_the_fake_checks(cloud: FakeCloud, ram: RamClient, canned: dict, creds: Credentials, caller: str) -> list[str]:
    """What makes the fake worth its overhead, shown to bite: a faster fake must not drop a check."""
    problems = []
    request = ram_models.GetRoleRequest(role_name="bench-role")
    with mock_cloud(cloud):
        answer = ram.get_role(request).body.to_map()
        if {k for k in answer if k != "RequestId"} != {k for k in canned if k != "RequestId"} or \
                answer["Role"] != canned["Role"]:
            problems.append("the fake's GetRole reply differs from the canned one")
        forged = client(Credentials(creds.access_key_id, "not-the-secret"))
        if error_code(lambda: forged.get_role(request)) != "SignatureDoesNotMatch":
            problems.append("a request signed with the wrong secret was not refused with SignatureDoesNotMatch")
        replayed = replay_last_request(cloud, ram, request)
        if replayed != "SignatureNonceUsed":
            problems.append(f"a replayed request was answered {replayed!r}, not SignatureNonceUsed")
        if caller == "user":
            denied = error_code(lambda: ram.delete_role(ram_models.DeleteRoleRequest(role_name="bench-role")))
            if denied != "NoPermission":
                problems.append(f"a RAM user without ram:DeleteRole got {denied!r}, not NoPermission")
        else:  # `ram` is the root's client; a RAM user with no policy at all may not even read the role
            user = client(new_user_without_policies(ram))
            denied = error_code(lambda: user.get_role(request))
            if denied != "NoPermission":
                problems.append(f"a RAM user without any policy got {denied!r} from GetRole, not NoPermission")
    return problems


def new_user_without_policies(root: RamClient) -> Credentials:
    root.create_user(ram_models.CreateUserRequest(user_name="nobody"))
    key = root.create_access_key(ram_models.CreateAccessKeyRequest(user_name="nobody")).body.access_key
    return Credentials(key.access_key_id, key.access_key_secret)


def replay_last_request(cloud: FakeCloud, ram: RamClient, request) -> str | None:
    """Send the exact bytes of a signed GetRole twice: the second must be refused (nonce seen)."""
    import requests

    sent = []
    session_send = requests.Session.send

    def capture(session, prepared, **kwargs):
        sent.append(prepared.copy())
        return session_send(session, prepared, **kwargs)

    requests.Session.send = capture
    try:
        ram.get_role(request)
    finally:
        requests.Session.send = session_send
    reply = requests.Session().send(sent[-1])
    try:
        return reply.json().get("Code")
    except ValueError:
        return f"HTTP {reply.status_code}"


def instructions(calls: int, warmup: int, caller: str) -> dict[str, float]:
    """Instructions per call of each side (valgrind cachegrind, no cache simulation): the same
    count whatever else the machine runs. Each side runs with `calls` and with none after its
    warm-up; the difference over `calls` cancels start-up and set-up."""
    per_call = {}
    for side in ("canned", "fake"):
        totals = []
        for n in (0, calls):
            done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                                   sys.executable, __file__, "--only", side, "--calls", str(n), "--warmup",
                                   str(warmup), "--caller", caller], capture_output=True, text=True, check=True)
            line = next(line for line in done.stderr.splitlines() if "I" in line and "refs" in line)
            totals.append(int(line.rsplit(":", 1)[1].replace(",", "").strip()))
        per_call[side] = (totals[1] - totals[0]) / calls
        print(f"  instructions per call, {side:6s}: {per_call[side] / 1e6:.3f} M", flush=True)
    print(f"  overhead in instructions: {(per_call['fake'] / per_call['canned'] - 1) * 100:+.1f} %")
    return per_call


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--caller", choices=("root", "user"), default="root")
    parser.add_argument("--profile", action="store_true", help="cProfile one fake run and print the top entries")
    parser.add_argument("--instructions", type=int, default=0, metavar="N",
                        help="also count instructions per call over N calls per side with valgrind")
    parser.add_argument("--only", choices=("fake", "canned"),
                        help="run just one side, silently (for instruction counts under valgrind, see docs)")
    parser.add_argument("--smoke", action="store_true", help="a few calls per side, the fake's checks verified")
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls, args.repeat, args.warmup = 20, 1, 5

    cloud, ram, canned, creds = setup(args.caller)
    cloud.calls.keep_records = False  # a long benchmark must not grow the call log
    if args.only:
        (timed_fake if args.only == "fake" else timed_canned)(cloud if args.only == "fake" else canned, ram,
                                                              args.calls, args.warmup)
        return 0
    banner(f"GetRole via the RAM SDK, caller={args.caller}, {args.calls} calls x {args.repeat} runs per side",
           smoke=args.smoke)
    problems = check_the_fake_checks(cloud, ram, canned, creds, args.caller)
    if args.profile:
        profiler = cProfile.Profile()
        with mock_cloud(cloud):
            run(ram, args.warmup)
            profiler.enable()
            run(ram, args.calls)
            profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        return 1 if problems else 0

    fake, plain, loads = [], [], []
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits both alike
        fake.append(timed_fake(cloud, ram, args.calls, args.warmup))
        plain.append(timed_canned(canned, ram, args.calls, args.warmup))
        loads.append(load().split()[0])
    if not args.smoke:
        for index, clock in ((0, "wall"), (1, "cpu")):
            for label, pick in (("median", statistics.median), ("best", min)):
                fake_s, plain_s = pick(r[index] for r in fake), pick(r[index] for r in plain)
                print(f"  [{clock:4s} {label:6s}] canned {args.calls / plain_s:5.0f} calls/s "
                      f"({plain_s / args.calls * 1e6:4.0f} us) | fake {args.calls / fake_s:5.0f} calls/s "
                      f"({fake_s / args.calls * 1e6:4.0f} us) | overhead {(fake_s / plain_s - 1) * 100:+5.1f} %")
            print(f"  [{clock:4s} runs  ] fake: {', '.join(f'{r[index]:.2f}' for r in fake)} s;"
                  f" canned: {', '.join(f'{r[index]:.2f}' for r in plain)} s")
        print(f"  1-minute load after each pair of runs: {', '.join(loads)}")
        median = statistics.median(r[0] for r in fake) / statistics.median(r[0] for r in plain) - 1
        print(f"  verdict: {median * 100:+.1f} % median wall -> {'MET' if median <= 0.30 else 'MISSED'} <= +30 %")
        print(f"  peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    else:
        print(f"  {args.calls} calls per side answered; the fake's checks: "
              f"{'all refused what they must' if not problems else 'BROKEN'}")
    if args.instructions:
        instructions(args.instructions, 50, args.caller)
    footer()
    for problem in problems:
        print(f"  FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
