"""The HTML access report's cost: what the charts library adds to a cold start (nothing, by design) and
to the one run a day that renders the digest page.

Each figure comes from a fresh interpreter (median of --repeat runs):
- `handler imports pygal`: whether `import functions.access_audit` (or any handler) loads pygal —
  it must not: the library is imported lazily where a page is rendered;
- `import pygal`: what the digest run pays once for the library;
- `render N agreements`: import + rendering a page for N agreements with a week of hourly activity
  each (the largest digest window), and the page's size.

    python bench/report_render.py [--repeat 5] [--agreements 1,20,100]
    python bench/report_render.py --smoke      # one tiny run of each (make test)
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ("agreement_intake", "expiry_enforcer", "reconcile_worker", "role_auditor", "access_audit")

RENDER = '''
import time, random
from datetime import datetime, timedelta, timezone
t0 = time.perf_counter()
from shared.audit.html import render_html
n, hours = {agreements}, {hours}
since = datetime(2027, 3, 1, tzinfo=timezone.utc)
iso = lambda m: m.strftime("%Y-%m-%dT%H:%M:%SZ")
rng = random.Random(7)
agreements = []
for i in range(n):
    calls = [[iso(since + timedelta(hours=h)), rng.randint(0, 40), rng.randint(0, 3)] for h in range(hours)
             if rng.random() < 0.4]
    events, denials = sum(c[1] + c[2] for c in calls), sum(c[2] for c in calls)
    findings = [dict(id=f"f{{j}}", rule="source-ip-outside-ranges", severity="high", message="m", eventId=f"e{{j}}",
                     eventTime=iso(since), session="alice", sourceIp="198.51.100.9", action="ecs:StopInstance")
                for j in range(rng.randint(0, 5))]
    agreements.append(dict(agreementId=f"agreement-{{i:03d}}", role=f"role-{{i}}",
        partner=dict(accountId="1345678901234567", alias="company-b"), principals=["root"], state="active",
        startsAt=iso(since - timedelta(days=30)), endsAt=iso(since + timedelta(days=5)), endedReason=None,
        daysToExpiry=5.0, events=events, reads=events // 2, writes=events - events // 2, denials=denials,
        sessions=3, sessionNames=["alice"], people=[dict(accountId="1345678901234567", session="alice",
        display="company-b/alice", isPartner=True, events=events)],
        topActions=[["ecs:DescribeInstances", events]], sourceIps=[["203.0.113.7", events]],
        first=iso(since), last=iso(since), findings=dict(high=len(findings), medium=0, low=0),
        changes=dict(rolepact=0, others=0), callsPerHour=calls, findingList=findings))
data = dict(since=iso(since), until=iso(since + timedelta(hours=hours)), generatedAt=iso(since), agreementFilter=None,
            totals=dict(agreements=n, events=sum(a["events"] for a in agreements), reads=0, writes=0,
                        denials=sum(a["denials"] for a in agreements), sessions=3 * n,
                        findings=dict(high=sum(a["findings"]["high"] for a in agreements), medium=0, low=0),
                        changesByOthers=0),
            input=dict(storedEvents=0, duplicates=0, malformed=0), agreements=agreements)
page = render_html(data)
print(time.perf_counter() - t0, len(page.encode()))
'''


def run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.split()


def median(code: str, repeat: int, index: int = 0) -> float:
    return statistics.median(float(run(code)[index]) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--agreements", default="1,20,100")
    parser.add_argument("--smoke", action="store_true", help="one tiny run of each figure")
    args = parser.parse_args(argv)
    repeat, sizes, hours = (1, [2], 24) if args.smoke else (args.repeat, [int(n) for n in args.agreements.split(",")],
                                                           7 * 24)
    loaders = [name for name in HANDLERS
               if run(f"import sys, functions.{name}; print('pygal' in sys.modules)")[0] == "True"]
    print(f"handlers that import pygal when loaded: {', '.join(loaders) or 'none'}")
    imported = median("import time; t = time.perf_counter(); import pygal; print(time.perf_counter() - t)", repeat)
    print(f"import pygal: {imported * 1000:.0f} ms")
    for n in sizes:
        code = RENDER.format(agreements=n, hours=hours)
        seconds = median(code, repeat)
        size = int(run(code)[1])
        print(f"render {n} agreement(s), {hours} h each (import included): {seconds * 1000:.0f} ms, "
              f"page {size / 1024:.0f} KiB")
    return 1 if loaders else 0


if __name__ == "__main__":
    sys.exit(main())
