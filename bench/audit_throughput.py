"""Access-audit throughput: N synthetic ActionTrail events (JSON lines) through the pipeline.

    .venv/bin/python bench/audit_throughput.py                 # 1 000 000 events, 3 rounds
    .venv/bin/python bench/audit_throughput.py --events 200000 --rounds 5 --cpu 1
    .venv/bin/python bench/audit_throughput.py --instructions 50000    # + instructions per event (valgrind)
    .venv/bin/python bench/audit_throughput.py --smoke         # 3 000 events, every mode once, results compared

What is measured, each mode in its own fresh subprocess (pinned to one core with --cpu),
streaming the same file line by line (the events are never all in memory):

    bare           for line in file: json.loads(line)                  -- the standard library's parse alone
    msgspec-bare   for line in file: msgspec.json.decode(line)         -- msgspec parsing every field
    event-bare     for line in file: load_event(line)                  -- the parser rolepact uses, alone:
                   shared.audit.normalize.load_event (msgspec with the fields the audit reads; the
                   rest of the record is skipped unread; anything else falls back to json.loads)
    pipeline       for line in file: pipeline.feed(load_event(line))   -- rolepact: parse, attribution,
                   rules, aggregates, plus the report's aggregates at the end (top actions, people, sessions)
    json-pipeline  the same with json.loads: rolepact where msgspec is not installed

Time is the loop's wall time (perf_counter) and CPU time (process_time) inside the child,
without interpreter start-up; peak RSS is the child's own ru_maxrss.

The events have ActionTrail's real shape (as fakecloud.trail.build_event records them) and a
realistic mix: ~60 % partner calls on ~50 managed roles (reads and writes, a few denials, a
few sensitive actions, a few from outside the agreed networks, from another account, after an
agreement ended), ~1 % duplicates (the two paths), ~35 % unrelated events (rolepact's own OSS
calls, root and RAM users, other roles), a few changes to managed roles; time-ordered over a day.

The machine may be shared: rounds alternate the modes; best and median are reported, with
the load average at the start and the end. Goals (issue #13): >= 150 000 events/s on one core,
peak RSS <= 64 MB for 1 000 000 events. Every run checks that both pipelines found the same.
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

from bench._common import banner, footer, load  # noqa: E402

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
MODES = ("bare", "msgspec-bare", "event-bare", "pipeline", "json-pipeline")
DEFAULT_MODES = ("bare", "event-bare", "pipeline")


def parser_of(mode: str):
    if mode == "bare" or mode == "json-pipeline":
        return json.loads
    if mode == "msgspec-bare":
        import msgspec

        return msgspec.json.Decoder().decode
    from shared.audit.normalize import load_event

    return load_event


def child(mode: str, path: str, cpu: int | None, limit: int | None = None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    loads = parser_of(mode)
    pipeline = None
    if mode.endswith("pipeline"):
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
        result["findings"] = sorted(f.finding_id for f in pipeline.findings)
    print(json.dumps(result))


def measure(mode: str, path: Path, cpu: int | None) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--data", str(path)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def instructions(path: Path, modes: list[str], count: int) -> dict[str, float]:
    """Instructions per event (valgrind cachegrind, no cache simulation): deterministic, unlike time.

    Each mode runs twice, over `count` events and over none (start-up, imports, set-up), and the
    difference is divided by `count`.
    """
    import shutil

    if not shutil.which("valgrind"):
        print("valgrind not found: no instruction counts")
        return {}
    per_event = {}
    for mode in modes:
        totals = []
        for limit in (0, count):
            done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                                   sys.executable, __file__, "--child", mode, "--data", str(path), "--limit", str(limit)],
                                  capture_output=True, text=True, check=True)
            line = next(line for line in done.stderr.splitlines() if "I" in line and "refs" in line)
            totals.append(int(line.rsplit(":", 1)[1].replace(",", "").strip()))
        per_event[mode] = (totals[1] - totals[0]) / count
        print(f"instructions per event {mode:16s} {per_event[mode]:10,.0f}", flush=True)
    for base in ("bare", "event-bare"):
        if "pipeline" in per_event and base in per_event:
            print(f"instruction ratio pipeline / {base}: {per_event['pipeline'] / per_event[base]:.2f}x")
    return per_event


def check_same_results(runs: dict[str, list[dict]]) -> list[str]:
    """Every pipeline run, whatever its parser, must count and find exactly the same."""
    results = [(mode, r["counts"], r["findings"]) for mode, rs in runs.items() for r in rs if "counts" in r]
    problems = []
    for mode, counts, findings in results[1:]:
        if (counts, findings) != results[0][1:]:
            problems.append(f"{mode} counted {counts} / {len(findings)} findings, {results[0][0]} "
                            f"{results[0][1]} / {len(results[0][2])}")
    for mode, counts, findings in results[:1]:
        if not (counts.get("attributed") and counts.get("duplicates") and counts.get("changes") and findings):
            problems.append(f"{mode}: implausible counts {counts} / {len(findings)} findings")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="pin each child to this core")
    parser.add_argument("--data", default=None, help="the JSON-lines file (generated once, then reused)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma-separated subset of {','.join(MODES)}")
    parser.add_argument("--instructions", type=int, default=0, metavar="N",
                        help="also count CPU instructions per event over N events with valgrind (noise-free)")
    parser.add_argument("--smoke", action="store_true", help="3 000 events, every mode once, no timing")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.data, args.cpu, args.limit)
        return 0
    modes = [m for m in args.modes.split(",") if m in MODES]
    if args.smoke:
        args.events, args.rounds, modes = 3_000, 1, list(MODES)
    banner(f"Access audit: {args.events:,} events, modes {', '.join(modes)}, {args.rounds} round(s)", smoke=args.smoke)
    with tempfile.TemporaryDirectory() as scratch:
        default = Path(scratch if args.smoke else tempfile.gettempdir()) / f"rolepact-audit-bench-{args.events}.jsonl"
        path = ensure_data(Path(args.data) if args.data else default, args.events)
        return run(args, modes, path)


def run(args, modes: list[str], path: Path) -> int:
    print(f"  pinned to core: {args.cpu}", flush=True)
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for round_number in range(args.rounds):
        for mode in modes:
            result = measure(mode, path, args.cpu)
            result["load"] = load()
            runs[mode].append(result)
            if not args.smoke:
                print(f"round {round_number + 1} {mode:14s} {result['seconds']:7.2f}s wall {result['cpu_seconds']:7.2f}s "
                      f"cpu {result['events'] / result['seconds']:>10,.0f} ev/s  peak RSS "
                      f"{result['maxrss_kb'] / 1024:6.1f} MB  (load {result['load']})", flush=True)
    problems = check_same_results(runs)
    pipeline_runs = next((rs for rs in runs.values() if rs and "counts" in rs[0]), None)
    if pipeline_runs:
        print(f"  pipeline counts: {pipeline_runs[0]['counts']}, findings: {len(pipeline_runs[0]['findings'])}")
    if args.smoke and args.rounds:
        done = ", ".join(f"{mode} ({results[0]['events']} events)" for mode, results in runs.items())
        print(f"  modes run: {done}")
    elif args.rounds:
        summarize(runs, args)
    if args.instructions:
        instructions(path, modes, args.instructions)
    footer()
    for problem in problems:
        print(f"  FAILED: {problem}")
    return 1 if problems else 0


def summarize(runs: dict[str, list[dict]], args) -> None:
    summary = {}
    for mode, results in runs.items():
        times = [r["seconds"] for r in results]
        cpus = [r["cpu_seconds"] for r in results]
        events = results[0]["events"]
        summary[mode] = {"best_s": min(times), "median_s": statistics.median(times),
                         "best_cpu_s": min(cpus), "median_cpu_s": statistics.median(cpus),
                         "best_eps": events / min(times), "median_eps": events / statistics.median(times),
                         "median_cpu_eps": events / statistics.median(cpus),
                         "peak_rss_mb": max(r["maxrss_kb"] for r in results) / 1024}
    print()
    print(f"{'mode':14s} {'best ev/s':>10s} {'median ev/s':>12s} {'median ev/s (cpu)':>18s} {'peak RSS MB':>12s}")
    for mode, s in summary.items():
        print(f"{mode:14s} {s['best_eps']:10,.0f} {s['median_eps']:12,.0f} {s['median_cpu_eps']:18,.0f} "
              f"{s['peak_rss_mb']:12.1f}")

    def paired(a: str, b: str) -> str:
        """Per round (the two modes ran back to back, so under similar load), CPU time."""
        ratios = sorted(x["cpu_seconds"] / y["cpu_seconds"] for x, y in zip(runs[a], runs[b]))
        return f"median {statistics.median(ratios):.2f}x (rounds {', '.join(f'{r:.2f}' for r in ratios)})"

    for base in ("bare", "event-bare"):
        if "pipeline" in summary and base in summary:
            print(f"pipeline time / {base} time, paired per round (CPU): {paired('pipeline', base)}")
    if "pipeline" in summary:
        s = summary["pipeline"]
        print(f"verdict: {s['median_eps']:,.0f} ev/s median wall (best {s['best_eps']:,.0f}) -> "
              f"{'MET' if s['median_eps'] >= 150_000 else 'MISSED'} >= 150 000 ev/s; peak RSS {s['peak_rss_mb']:.1f} MB "
              f"-> {'MET' if s['peak_rss_mb'] <= 64 else 'MISSED'} <= 64 MB")
    if args.json:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
