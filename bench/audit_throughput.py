"""Access-audit throughput: N synthetic ActionTrail events (JSON lines) through the pipeline.

    .venv/bin/python bench/audit_throughput.py                 # 1 000 000 events, 3 rounds
    .venv/bin/python bench/audit_throughput.py --events 200000 --rounds 5 --cpu 1

What is measured, each mode in its own fresh subprocess pinned to one core, streaming the
same file line by line (the events are never all in memory):

    bare       for line in file: json.loads(line)
    pipeline   for line in file: pipeline.feed(json.loads(line))   -- parse, attribute, rules, aggregate
               (+ the report's aggregates at the end: top actions, people, sessions)

and, if `orjson` is importable, the same two with orjson.loads instead of json.loads.
Time is the loop's wall time (perf_counter) inside the child, without interpreter start-up;
peak RSS is the child's own ru_maxrss (the parent cross-checks with RUSAGE_CHILDREN).

The events have ActionTrail's real shape (as fakecloud.trail.build_event records them) and a
realistic mix: ~60 % partner calls on ~50 managed roles (reads and writes, a few denials, a
few sensitive actions, a few from outside the agreed networks, from another account, after an
agreement ended), ~1 % duplicates (the two paths), ~35 % unrelated events (rolepact's own OSS
calls, root and RAM users, other roles), a few changes to managed roles; time-ordered over a day.

The machine may be shared: rounds alternate the modes; best and median are reported, with
the load average at the start and the end. Goals (issue #6): >= 50 000 events/s, pipeline
<= 1.5x the bare parse, peak RSS <= 128 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OWNER = "1234567890123456"
PARTNERS = [f"13456789{n:08d}" for n in range(10)]
OTHER = "1999999999999999"
ROLES = 50
START = datetime(2027, 3, 1, tzinfo=timezone.utc)
SPAN = timedelta(hours=24)
ECS_READS = ["DescribeInstances", "DescribeDisks", "DescribeSecurityGroups", "DescribeInstanceStatus",
             "DescribeImages", "DescribeSnapshots"]
ECS_WRITES = ["StopInstance", "StartInstance", "RebootInstance", "RunCommand", "CreateSnapshot"]
SENSITIVE = ["DeleteInstance", "ResetDisk", "DeleteSnapshot"]


# ================================================================================ the data
def agreement_views():
    from shared.audit.model import AgreementView
    import ipaddress

    views = []
    for n in range(ROLES):
        ends = "2027-03-01T18:00:00Z" if n % 10 == 0 else "2027-06-01T00:00:00Z"  # 5 agreements end mid-day
        views.append(AgreementView(
            agreement_id=f"agreement-{n:02d}", role_name=f"partner-role-{n:02d}",
            partner_account=PARTNERS[n % len(PARTNERS)], partner_alias=f"company-{n % len(PARTNERS)}",
            principals=("root",), starts_at="2027-01-01T00:00:00Z", ends_at=ends,
            ended_reason="expired" if n % 10 == 0 else None,
            networks=(ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("198.18.0.0/15")),
            policy_prefix=f"rp-{n:010d}-"))
    return views


def _event_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _sts_key(rng: random.Random) -> str:
    return "STS." + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(26))


def generate(count: int, seed: int = 6):
    """Yields JSON lines (str), time-ordered, of realistic ActionTrail events."""
    rng = random.Random(seed)
    step = SPAN / count
    sessions = [(n, f"user-{s}", _sts_key(rng)) for n in range(ROLES) for s in range(4)]
    previous = None
    for index in range(count):
        moment = START + step * index
        time_text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        roll = rng.random()
        if previous is not None and roll < 0.01:  # the same event again (EventBridge and LookupEvents)
            yield previous
            continue
        if roll < 0.62:
            role_n, session, key = rng.choice(sessions)
            role = f"partner-role-{role_n:02d}"
            player = PARTNERS[role_n % len(PARTNERS)] if rng.random() > 0.001 else OTHER
            ip = f"203.0.113.{rng.randrange(1, 250)}" if rng.random() > 0.003 else "192.0.2.66"
            kind = rng.random()
            if kind < 0.004:
                name, read = rng.choice(SENSITIVE), False
            elif kind < 0.7:
                name, read = rng.choice(ECS_READS), True
            else:
                name, read = rng.choice(ECS_WRITES), False
            error = "Forbidden.RAM" if rng.random() < 0.02 else ""
            event = {
                "eventId": _event_id(rng), "eventVersion": 1, "eventName": name, "eventSource": "ecs.aliyuncs.com",
                "eventTime": time_text, "eventType": "ApiCall", "eventRW": "Read" if read else "Write",
                "eventCategory": "Management", "serviceName": "Ecs", "acsRegion": "cn-hangzhou", "isGlobal": False,
                "requestId": _event_id(rng), "apiVersion": "2014-05-26", "sourceIpAddress": ip,
                "userAgent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
                "requestParameters": {"RegionId": "cn-hangzhou", "InstanceId": f"i-bp1{index % 977:017d}",
                                      "stsTokenPlayerUid": player,
                                      "stsTokenPrincipalName": f"{role}/{session}", "AcsHost": "ecs.aliyuncs.com"},
                "recipientAccountId": OWNER,
                "userIdentity": {"type": "assumed-role", "principalId": f"3{role_n:017d}:{session}",
                                 "accountId": OWNER, "userName": f"{role}:{session}", "accessKeyId": key,
                                 "sessionContext": {"attributes": {"creationDate": time_text,
                                                                   "mfaAuthenticated": "false"}}},
                "referencedResources": {"ACS::RAM::AccessKey": [key]},
                "additionalEventData": {"Scheme": "HTTPS"}, "resourceType": "ACS::ECS::Instance",
                "resourceName": f"i-bp1{index % 977:017d}", "errorCode": error,
                "errorMessage": "User not authorized to operate on the specified resource." if error else "",
            }
        elif roll < 0.625:  # a change to a managed role, by a human or by rolepact
            role_n = rng.randrange(ROLES)
            human = rng.random() < 0.2
            identity = ({"type": "ram-user", "principalId": "212345678901234567", "accountId": OWNER,
                         "userName": "it-admin", "accessKeyId": "LTAI5tAbCdEfGhIjKlMnOpQr"} if human else
                        {"type": "assumed-role", "principalId": "301776839211101268:fc-rolepact",
                         "accountId": OWNER, "userName": "rolepact-fc-role:fc-rolepact",
                         "accessKeyId": "STS.3iGl88hsueNCTiUUghSemvsmESL2"})
            event = {
                "eventId": _event_id(rng), "eventVersion": 1, "eventName": rng.choice(["UpdateRole", "AttachPolicyToRole"]),
                "eventSource": "ram.aliyuncs.com", "eventTime": time_text, "eventType": "ApiCall", "eventRW": "Write",
                "eventCategory": "Management", "serviceName": "Ram", "acsRegion": "cn-hangzhou", "isGlobal": True,
                "requestId": _event_id(rng), "apiVersion": "2015-05-01", "sourceIpAddress": "198.51.100.10",
                "userAgent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
                "requestParameters": {"RoleName": f"partner-role-{role_n:02d}", "NewDescription": "x",
                                      "AcsHost": "ram.aliyuncs.com"},
                "recipientAccountId": OWNER, "userIdentity": identity,
                "referencedResources": {"ACS::RAM::AccessKey": [identity["accessKeyId"]]},
                "additionalEventData": {"Scheme": "HTTPS"}, "resourceType": "ACS::RAM::Role",
                "resourceName": f"partner-role-{role_n:02d}", "errorCode": "", "errorMessage": "",
            }
        else:  # unrelated: rolepact's own OSS calls, people of A, other roles
            who = rng.random()
            if who < 0.6:
                identity = {"type": "assumed-role", "principalId": "301776839211101268:fc-rolepact",
                            "accountId": OWNER, "userName": "rolepact-fc-role:fc-rolepact",
                            "accessKeyId": "STS.3iGl88hsueNCTiUUghSemvsmESL2"}
                service, name, source = "Oss", rng.choice(["GetObject", "PutObject", "HeadObject"]), \
                    "oss-cn-hangzhou-internal.aliyuncs.com"
            elif who < 0.8:
                identity = {"type": "ram-user", "principalId": "212345678901234567", "accountId": OWNER,
                            "userName": "dev-ops", "accessKeyId": "LTAI5tAbCdEfGhIjKlMnOpQr"}
                service, name, source = "Ecs", rng.choice(ECS_READS + ECS_WRITES), "ecs.aliyuncs.com"
            else:
                identity = {"type": "assumed-role", "principalId": "311111111111111111:ci",
                            "accountId": OWNER, "userName": "ci-deployer:ci", "accessKeyId": _sts_key(rng)}
                service, name, source = "Ecs", rng.choice(ECS_READS + ECS_WRITES), "ecs.aliyuncs.com"
            event = {
                "eventId": _event_id(rng), "eventVersion": 1, "eventName": name, "eventSource": source,
                "eventTime": time_text, "eventType": "ApiCall", "eventRW": "Read" if name.startswith(("Get", "Head", "Describe")) else "Write",
                "eventCategory": "Management", "serviceName": service, "acsRegion": "cn-hangzhou", "isGlobal": False,
                "requestId": _event_id(rng), "apiVersion": "2019-05-17" if service == "Oss" else "2014-05-26",
                "sourceIpAddress": "10.0.0.8", "userAgent": "aliyun-sdk-python/2.18.4",
                "requestParameters": {"AcsHost": source}, "recipientAccountId": OWNER, "userIdentity": identity,
                "referencedResources": {"ACS::RAM::AccessKey": [identity["accessKeyId"]]},
                "additionalEventData": {"Scheme": "HTTPS"}, "errorCode": "", "errorMessage": "",
            }
        previous = json.dumps(event, separators=(",", ":")) + "\n"
        yield previous


def ensure_data(path: Path, count: int) -> Path:
    marker = path.with_suffix(".count")
    if path.exists() and marker.exists() and marker.read_text() == str(count):
        return path
    started = time.perf_counter()
    with open(path, "w", encoding="utf-8") as out:
        for line in generate(count):
            out.write(line)
    marker.write_text(str(count))
    print(f"generated {count:,} events ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s",
          flush=True)
    return path


# ================================================================================ one measurement (child)
def child(mode: str, path: str, cpu: int | None, limit: int | None = None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    parser, use = mode.split("-") if "-" in mode else ("json", mode)
    if parser == "orjson":
        import orjson

        loads = orjson.loads
    else:
        loads = json.loads
    pipeline = None
    if use == "pipeline":
        from shared.audit.pipeline import Pipeline
        from shared.settings import DEFAULT_SENSITIVE_ACTIONS

        pipeline = Pipeline(agreement_views(), sensitive_actions=DEFAULT_SENSITIVE_ACTIONS)
    count = 0
    with open(path, "rb") as source:
        if limit is not None:
            from itertools import islice

            source = islice(source, limit)
        started, cpu_started = time.perf_counter(), time.process_time()
        if pipeline is None:
            for line in source:
                loads(line)
                count += 1
        else:
            feed = pipeline.feed
            for line in source:
                feed(loads(line))
                count += 1
            for stats in pipeline.activity.values():  # the report's aggregates
                stats.top(stats.actions), stats.top(stats.people), stats.sessions
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    result = {"mode": mode, "events": count, "seconds": elapsed, "cpu_seconds": cpu,
              "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if pipeline is not None:
        result["counts"] = dict(pipeline.counts)
        result["findings"] = len(pipeline.findings)
    print(json.dumps(result))


def measure(mode: str, path: Path, cpu: int | None) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--data", str(path)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["children_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return result


def instructions(path: Path, modes: list[str], count: int) -> None:
    """Instructions per event (valgrind cachegrind, no cache simulation): deterministic, unlike time.

    Each mode runs twice, over `count` events and over none (start-up, imports, set-up), and the
    difference is divided by `count`.
    """
    import shutil

    if not shutil.which("valgrind"):
        print("valgrind not found: no instruction counts")
        return
    per_event = {}
    for mode in modes:
        totals = []
        for limit in (0, count):
            done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                                   sys.executable, __file__, "--child", mode, "--data", str(path), "--limit", str(limit)],
                                  capture_output=True, text=True, check=True)
            line = next(l for l in done.stderr.splitlines() if "I" in l and "refs" in l)
            totals.append(int(line.rsplit(":", 1)[1].replace(",", "").strip()))
        per_event[mode] = (totals[1] - totals[0]) / count
        print(f"instructions per event {mode:16s} {per_event[mode]:10,.0f}", flush=True)
    for parser_name in ("", "orjson-"):
        bare, pipe = per_event.get(f"{parser_name}bare"), per_event.get(f"{parser_name}pipeline")
        if bare and pipe:
            print(f"instruction ratio {parser_name}pipeline / {parser_name}bare: {pipe / bare:.2f}x")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="pin each child to this core")
    parser.add_argument("--data", default=None, help="the JSON-lines file (generated once, then reused)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--modes", default=None, help="comma-separated subset of bare,pipeline,orjson-bare,orjson-pipeline")
    parser.add_argument("--instructions", type=int, default=0, metavar="N",
                        help="also count CPU instructions per event over N events with valgrind (noise-free)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.cpu, args.limit)
        return 0

    path = Path(args.data or Path(tempfile.gettempdir()) / f"rolepact-audit-bench-{args.events}.jsonl")
    ensure_data(path, args.events)
    modes = ["bare", "pipeline"]
    try:
        import orjson  # noqa: F401

        modes += ["orjson-bare", "orjson-pipeline"]
    except ImportError:
        pass
    if args.modes:
        modes = [m for m in args.modes.split(",") if m in modes]
    print(f"load average at start: {load()}  (cores: {os.cpu_count()}, pinned: {args.cpu})", flush=True)
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for round_number in range(args.rounds):
        for mode in modes:
            result = measure(mode, path, args.cpu)
            runs[mode].append(result)
            print(f"round {round_number + 1} {mode:16s} {result['seconds']:7.2f}s wall {result['cpu_seconds']:7.2f}s cpu "
                  f"{result['events'] / result['seconds']:>10,.0f} ev/s  peak RSS {result['maxrss_kb'] / 1024:6.1f} MB",
                  flush=True)
    print(f"load average at end:   {load()}")
    summary = {}
    for mode, results in runs.items():
        times = [r["seconds"] for r in results]
        cpus = [r["cpu_seconds"] for r in results]
        events = results[0]["events"]
        summary[mode] = {"best_s": min(times), "median_s": statistics.median(times),
                         "best_cpu_s": min(cpus), "median_cpu_s": statistics.median(cpus),
                         "best_eps": events / min(times), "median_eps": events / statistics.median(times),
                         "best_cpu_eps": events / min(cpus),
                         "peak_rss_mb": max(r["maxrss_kb"] for r in results) / 1024,
                         "children_peak_rss_mb": max(r["children_maxrss_kb"] for r in results) / 1024}
    print()
    print(f"{'mode':16s} {'best s':>7s} {'median s':>9s} {'best cpu s':>11s} {'best ev/s':>10s} {'median ev/s':>12s} "
          f"{'ev/s (cpu)':>11s} {'peak RSS MB':>12s}")
    for mode, s in summary.items():
        print(f"{mode:16s} {s['best_s']:7.2f} {s['median_s']:9.2f} {s['best_cpu_s']:11.2f} {s['best_eps']:10,.0f} "
              f"{s['median_eps']:12,.0f} {s['best_cpu_eps']:11,.0f} {s['peak_rss_mb']:12.1f}")

    def ratio(a: str, b: str) -> str:
        x, y = summary[a], summary[b]
        return (f"best {x['best_s'] / y['best_s']:.2f}x, median {x['median_s'] / y['median_s']:.2f}x, "
                f"cpu {x['best_cpu_s'] / y['best_cpu_s']:.2f}x")

    def paired(a: str, b: str) -> str:
        """Per round (the two modes ran back to back, so under the same load), CPU time."""
        ratios = sorted(x["cpu_seconds"] / y["cpu_seconds"] for x, y in zip(runs[a], runs[b]))
        return f"per round {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f}x)"

    if "pipeline" in summary and "bare" in summary:
        print(f"ratio pipeline / bare (json.loads):           {ratio('pipeline', 'bare')}")
        print(f"      paired, cpu:                             {paired('pipeline', 'bare')}")
    if "orjson-pipeline" in summary and "orjson-bare" in summary and "bare" in summary:
        print(f"ratio orjson-pipeline / orjson-bare:          {ratio('orjson-pipeline', 'orjson-bare')}")
        print(f"      paired, cpu:                             {paired('orjson-pipeline', 'orjson-bare')}")
        print(f"ratio orjson-pipeline / bare (json.loads):    {ratio('orjson-pipeline', 'bare')}")
    if "pipeline" in runs:
        counts = runs["pipeline"][0].get("counts", {})
        print(f"pipeline counts: {counts}, findings: {runs['pipeline'][0].get('findings')}")
    if args.instructions:
        instructions(path, modes, args.instructions)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
