"""Expiry at scale: 10 000 agreements, 2 000 of them expiring in the same minute, 50 ms per cloud call.

    .venv/bin/python bench/expiry_scale.py [--agreements 10000] [--due 2000] [--latency 0.05]
                                           [--fc-instances 16] [--batch-size 10] [--threshold 20]
                                           [--concurrency 8] [--sample 5] [--profile]
    .venv/bin/python bench/expiry_scale.py --smoke      # tiny sizes, no latency: the end state only

What it does (results and how to read them: docs/benchmarks.md, "Expiry at scale"):

1. Stands up rolepact on the fake exactly as the tests do (`build_stage`, s.yaml wiring, the
   least-privilege FC service role) with the intake, enforcer and worker functions.
2. Provisions every agreement through the product and the official SDKs: `--sample` of them
   the whole way (oss2 upload -> OSS trigger -> FC -> agreement_intake), the rest through the
   same `Reconciler.handle_object` in this process, over the real gateways (`Gateways.connect`:
   oss2 and the RAM SDK, answered by the fake) -- only the OSS-trigger-and-FC hop is skipped,
   with the OSS trigger detached while they are written. Provisioning is not what is measured.
3. Sets the fake's latency (`cloud.latency`: every call sleeps that long, outside the fake's
   lock, so concurrent calls overlap as real round trips do), starts `--fc-instances` FC worker
   threads (`fc.start_workers`: each runs one invocation at a time, like one FC instance), fires
   the enforcer's timer once and waits until FC's queue is idle. Everything in this phase is the
   real path: enforcer tick -> fc2 InvokeFunction (async) -> reconcile_worker -> planner ->
   executor -> RAM/OSS gateways -> the official SDKs -> the fake.
4. Prints the wall time, the RAM calls per revocation against the minimum, and checks the end
   state: every due agreement ended once with its role and policies gone, one enforcer tick,
   one worker invocation per batch, RAM calls within 1.05x the minimum, and every other
   agreement untouched (status record, schedule markers, role and policies as they were).

Concurrency model: one Python process. FC instances are threads of the fake's FC backend; each
worker invocation reconciles its batch on `--concurrency` threads (ROLEPACT_MAX_CONCURRENCY).
The GIL serialises the CPU work of the SDKs and of the fake itself, so the figures are an upper
bound for real FC, where instances are separate processes.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("LOG_LEVEL", "WARNING")  # the functions log every notice at INFO
import cProfile
import copy
import dataclasses
import json
import pstats
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import time_machine  # noqa: E402

from bench._common import banner, footer  # noqa: E402
from fakecloud import FakeCloud, Limits, mock_cloud  # noqa: E402
from shared.agreements.schema import EXAMPLE_AGREEMENT  # noqa: E402
from shared.documents import ended_role, iso  # noqa: E402
from shared.executor import Executor  # noqa: E402
from shared.gateways import Gateways  # noqa: E402
from shared.planner import plan  # noqa: E402
from shared.reconcile import Reconciler  # noqa: E402
from shared.runtime import reset_settings  # noqa: E402
from shared.settings import Credentials  # noqa: E402

OWNER, PARTNER = "1234567890123456", "1345678901234567"
FUNCTIONS = ["agreement_intake", "expiry_enforcer", "reconcile_worker"]
INTAKE = "agreement_intake"
EXPIRY = datetime(2027, 6, 1, 9, 0, 0, tzinfo=timezone.utc)  # the minute the due agreements expire in
PROVISIONED = EXPIRY - timedelta(hours=12)
GOAL_SECONDS, GOAL_CALLS = 60.0, 1.05


def agreement_doc(n: int, expires: datetime) -> dict:
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    agreement_id = f"bench-{n:05d}"
    doc["agreementId"] = agreement_id
    doc["role"] = {"name": agreement_id, "description": f"bench agreement {n}", "maxSessionDurationSeconds": 3600}
    doc.pop("startsAt", None)
    doc["expiresAt"] = iso(expires)
    return doc


def expiry_of(n: int, due: bool) -> datetime:
    """The due ones expire within one minute; the others over the next month, none of their
    markers (pre-expiry notices included) due in the measured tick."""
    if due:
        return EXPIRY + timedelta(seconds=n % 50)
    return EXPIRY + timedelta(days=8 + n % 30, minutes=1 + n % 997)


# ------------------------------------------------------------------------------ provisioning
def owner_settings(stage):
    """The functions' settings with the owner's credentials, without DingTalk (provisioning sends no notice)."""
    return dataclasses.replace(stage.settings, dingtalk_webhook=None).with_credentials(
        Credentials(stage.owner.access_key_id, stage.owner.access_key_secret))


def provision(cloud, stage, args) -> tuple[list[str], list[str]]:
    due_ids, later_ids = [], []
    # a sample the whole way: oss2 upload -> OSS trigger -> FC -> agreement_intake
    for n in range(args.sample):
        doc = agreement_doc(n, expiry_of(n, True))
        stage.upload(f"agreements/{doc['agreementId']}.json", doc)
        assert stage.status(doc["agreementId"])["state"] == "active", stage.status(doc["agreementId"])
        due_ids.append(doc["agreementId"])
    # the rest through the same Reconciler and the real gateways, without the OSS trigger's FC hop
    fc = stage.fc
    intake = next(f for f in stage.wiring.functions if f.name == INTAKE)
    oss_triggers = [t for t in intake.triggers if t["type"] == "oss"]
    for trigger in oss_triggers:
        fc.remove_trigger(OWNER, stage.wiring.service_name, INTAKE, trigger["name"], region=stage.region)
    try:
        gateways = Gateways.connect(owner_settings(stage))
        reconciler = Reconciler(gateways.settings, gateways)
        for n in range(args.sample, args.agreements):
            due = n < args.due
            doc = agreement_doc(n, expiry_of(n, due))
            key = f"agreements/{doc['agreementId']}.json"
            gateways.store.put(key, json.dumps(doc, indent=2).encode("utf-8"))
            outcome = reconciler.handle_object(key, uploader=OWNER)
            assert outcome.result == "applied", outcome
            (due_ids if due else later_ids).append(doc["agreementId"])
            if args.progress and (n + 1) % 1000 == 0:
                print(f"  ... {n + 1} agreements", flush=True)
    finally:
        for trigger in oss_triggers:
            fc.add_trigger(OWNER, stage.wiring.service_name, INTAKE, trigger["name"], trigger["type"],
                           trigger.get("config") or {}, region=stage.region)
    assert fc.pending == 0, "provisioning queued FC invocations"
    check_same_shape(cloud, stage, due_ids[0], due_ids[args.sample])
    return due_ids, later_ids


def check_same_shape(cloud, stage, real_id: str, fast_id: str) -> None:
    """An agreement provisioned in-process must look exactly like one provisioned through FC (but for
    its DingTalk notice claim: provisioning in-process sends no notice)."""
    real, fast = stage.status(real_id), stage.status(fast_id)
    assert sorted(real) == sorted(fast), set(real) ^ set(fast)
    assert [a["api"] for a in real["actions"]] == [a["api"] for a in fast["actions"]]
    ram = cloud.backend("ram")
    shape = lambda rid: (sorted(t for t, _ in ram.find_role(OWNER, rid).attachments),  # noqa: E731
                         sorted(ram.find_role(OWNER, rid).tags), ram.find_role(OWNER, rid).max_session_duration)
    assert shape(real_id) == shape(fast_id)
    keys = cloud.backend("oss").keys_direct(OWNER, stage.bucket)
    kinds = lambda aid: sorted(k.replace(aid, "<id>").split("/")[0] + "/" + k.rsplit("/", 1)[-1].split("%3A")[0]  # noqa: E731
                               .replace(aid, "<id>") for k in keys if f"/{aid}" in k and not k.startswith(("outbox/", "state/notices/")))
    assert kinds(real_id) == kinds(fast_id), (kinds(real_id), kinds(fast_id))


def fingerprints(cloud, stage, ids: list[str]) -> dict[str, tuple]:
    """What must not change for an agreement that is not due: its objects in the bucket (status
    record, schedule markers, claim), its role (trust, attachments, tags) and its policies."""
    oss, ram = cloud.backend("oss"), cloud.backend("ram")
    keys = oss.keys_direct(OWNER, stage.bucket)
    by_id: dict[str, list] = {i: [] for i in ids}
    for key in keys:
        for part in key.split("/")[1:]:
            agreement_id = part.removesuffix(".json")
            if agreement_id in by_id:
                by_id[agreement_id].append((key, oss.get_object_direct(OWNER, stage.bucket, key)))
                break
    owned_by: dict[str, list] = {}
    for policy in ram.accounts[OWNER].policies.values():
        owner = policy.tags.get("rolepact-agreement")
        if owner in by_id:
            owned_by.setdefault(owner, []).append((policy.name, policy.default_version, policy.default.document))
    result = {}
    for agreement_id, objects in by_id.items():
        role = ram.find_role(OWNER, agreement_id)
        owned = sorted(owned_by.get(agreement_id, ()))
        result[agreement_id] = (tuple(sorted(objects)), role is not None and (
            role.trust_document, tuple(sorted(role.attachments)), tuple(sorted(role.tags.items()))), tuple(owned))
    return result


def minimum_calls(stage, agreement_id: str, cloud) -> tuple[int, int]:
    """(reads, writes) one clean revocation of this agreement needs: the reads the executor makes
    to decide safely (ownership, attachments, leftover policies) and the writes the planner
    plans. Measured by reading (no write) before the run, with the fake's call log."""
    from shared.ownership import RoleLedger

    gateways = Gateways.connect(owner_settings(stage))
    target = ended_role(agreement_id, agreement_id, OWNER)
    ledger = RoleLedger(gateways.store, gateways.settings.now, read_only=True)
    cloud.calls.reset()
    actual = Executor(gateways.ram, ledger, gateways.settings.bucket).read(target)
    reads = cloud.calls.count(service="ram")
    writes = len(plan(target, actual).actions)
    cloud.calls.reset()
    return reads, writes


# ------------------------------------------------------------------------------ the run
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agreements", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per cloud call")
    parser.add_argument("--fc-instances", type=int, default=16, help="concurrent FC instances (worker threads)")
    parser.add_argument("--batch-size", type=int, default=10, help="ROLEPACT_FANOUT_BATCH_SIZE")
    parser.add_argument("--threshold", type=int, default=20, help="ROLEPACT_FANOUT_THRESHOLD")
    parser.add_argument("--concurrency", type=int, default=8, help="ROLEPACT_MAX_CONCURRENCY")
    parser.add_argument("--sample", type=int, default=5, help="agreements provisioned through FC and the SDKs")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured phase (one thread)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (60 agreements, 30 due, no latency, 4 instances): the end state only")
    args = parser.parse_args(argv)
    if args.smoke:
        args.agreements, args.due, args.latency, args.fc_instances, args.sample = 60, 30, 0.0, 4, 2
    args.progress = not args.smoke
    if not 0 < args.sample < args.due <= args.agreements:
        parser.error("need 0 < --sample < --due <= --agreements")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    banner(f"Expiry at scale: {args.agreements} agreements, {args.due} due in the same minute, "
           f"latency {args.latency * 1000:.0f} ms/call", smoke=args.smoke)
    limits = Limits(roles_per_account=args.agreements + 100, custom_policies_per_account=3 * args.agreements + 100)
    cloud = FakeCloud(limits=limits)
    cloud.calls.keep_records = True
    env = {"ROLEPACT_FANOUT_BATCH_SIZE": str(args.batch_size), "ROLEPACT_FANOUT_THRESHOLD": str(args.threshold),
           "ROLEPACT_MAX_CONCURRENCY": str(args.concurrency)}
    with mock_cloud(cloud):
        t = time.perf_counter()
        with time_machine.travel(PROVISIONED, tick=False):
            stage = build_stage(cloud, env)
            due_ids, later_ids = provision(cloud, stage, args)
            minimum = minimum_calls(stage, due_ids[-1], cloud)
        provisioned_in = time.perf_counter() - t
        print(f"  provisioned {args.agreements} agreements ({args.sample} through FC) in {provisioned_in:.1f} s; "
              f"{len(due_ids)} expire between {iso(EXPIRY)} and {iso(EXPIRY + timedelta(seconds=49))}", flush=True)
        before = fingerprints(cloud, stage, later_ids)

        with time_machine.travel(EXPIRY + timedelta(seconds=55), tick=True):
            reset_settings(stage.settings)
            fc = stage.fc
            cloud.calls.reset()
            first_invocation = len(fc.invocations)
            cloud.latency = args.latency
            cpu = None
            profiler = cProfile.Profile() if args.profile else None
            if profiler:  # one thread, so that the profile sees everything (cProfile is per thread)
                profiler.enable()
                t0 = time.perf_counter()
                fired = fc.fire_due_timers()
                fc.run_pending()
                idle = True
                wall = time.perf_counter() - t0
                profiler.disable()
            else:
                fc.start_workers(args.fc_instances, retry_delay=1.0, timer_interval=None)
                t0, cpu0 = time.perf_counter(), time.process_time()
                fired = fc.fire_due_timers()
                idle = fc.wait_idle(timeout=900)
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                fc.stop_workers()
            cloud.latency = 0.0
            assert fired == 1 and idle, (fired, idle)
            verdict = report(cloud, stage, args, due_ids, later_ids, fc.invocations[first_invocation:], wall, cpu,
                             minimum, before)
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    footer()
    return verdict


def build_stage(cloud, env):
    from shared.local.stage import build_stage as build

    return build(cloud, functions=FUNCTIONS, environment=env)


def report(cloud, stage, args, due_ids, later_ids, invocations, wall, cpu, minimum, before) -> int:
    records = cloud.calls.records
    ram_calls = [r for r in records if r.service == "ram"]
    writes = Counter(r.action for r in ram_calls if r.write)
    reads = Counter(r.action for r in ram_calls if not r.write)
    by_service = Counter(r.service for r in records)
    due = len(due_ids)
    enforcer = [i for i in invocations if i.function == "expiry_enforcer"]
    workers = [i for i in invocations if i.function == "reconcile_worker"]
    failed = [i for i in invocations if not i.ok]
    batches = -(-due // args.batch_size) if due > args.threshold else 0
    total_writes = sum(writes.values())
    min_reads, min_writes = minimum
    calls_ratio = len(ram_calls) / ((min_reads + min_writes) * due)
    writes_ratio = total_writes / (min_writes * due)

    print(f"  {args.fc_instances} FC instances, batches of {args.batch_size}, {args.concurrency} threads per "
          f"invocation")
    if not args.smoke:
        print(f"  wall time, timer fired -> all done : {wall:6.1f} s   (goal < {GOAL_SECONDS:.0f} s)")
        if cpu is not None:
            print(f"  process CPU during the run         : {cpu:6.1f} s on one interpreter (the GIL makes it the "
                  f"floor of the wall time here)")
        print(f"  enforcer tick (incl. fan-out)      : {max((i.duration for i in enforcer), default=0):6.1f} s")
        print(f"  slowest worker invocation          : {max((w.duration for w in workers), default=0):6.1f} s")
    print(f"  invocations                        : {len(enforcer)} enforcer, {len(workers)} worker "
          f"({batches} batches expected), failed attempts {len(failed)}")
    print(f"  RAM calls                          : {len(ram_calls)} = {len(ram_calls) / due:.2f} per revocation; "
          f"minimum {min_reads} reads + {min_writes} writes -> {calls_ratio:.3f}x   (goal <= {GOAL_CALLS}x)")
    print(f"      writes                         : {total_writes} = {writes_ratio:.3f}x the planned writes "
          f"{dict(sorted(writes.items()))}")
    print(f"      reads                          : {sum(reads.values())} {dict(sorted(reads.items()))}")
    print(f"  calls by service                   : {dict(sorted(by_service.items()))} "
          f"({sum(by_service.values()) / due:.1f} per revocation)")
    oss = Counter(r.action for r in records if r.service == "oss")
    print(f"      OSS by action                  : {dict(sorted(oss.items()))}")

    oss_backend, ram = cloud.backend("oss"), cloud.backend("ram")
    statuses = {i: json.loads(oss_backend.get_object_direct(OWNER, stage.bucket, f"status/{i}.json"))
                for i in due_ids}
    ended = [i for i in due_ids if statuses[i]["state"] == "ended"]
    deleted_ok = sum(1 for r in ram_calls if r.action == "DeleteRole" and r.ok)
    roles_left = [i for i in due_ids if ram.find_role(OWNER, i)]
    policies_left = [p.name for p in ram.accounts[OWNER].policies.values()
                     if p.tags.get("rolepact-agreement") in set(due_ids)]
    markers_left = [k for k in oss_backend.keys_direct(OWNER, stage.bucket)
                    if k.startswith("schedule/") and k.split("/")[2] in set(due_ids)]
    after = fingerprints(cloud, stage, later_ids)
    changed = [i for i in later_ids if before[i] != after[i]]
    outbox = [k for k in oss_backend.keys_direct(OWNER, stage.bucket) if k.startswith("outbox/")]
    print(f"  end state                          : {len(ended)}/{due} ended, {deleted_ok} DeleteRole, roles left "
          f"{len(roles_left)}, policies left {len(policies_left)}, expire markers left {len(markers_left)}; "
          f"others untouched {len(later_ids) - len(changed)}/{len(later_ids)}")
    print(f"  DingTalk                           : {len(stage.messages())} sent, {len(outbox)} in the outbox "
          f"(robot limit: 20 a minute)")
    problems = []
    if len(ended) != due or deleted_ok != due or roles_left or policies_left or markers_left:
        problems.append("not every due agreement ended exactly once, cleanly")
    if changed:
        problems.append(f"{len(changed)} agreements that were not due changed, e.g. {changed[:3]}")
    if len(enforcer) != 1 or len(workers) != batches or failed:
        problems.append("not one enforcer tick with one worker invocation per batch")
    if calls_ratio > GOAL_CALLS:
        problems.append(f"RAM calls {calls_ratio:.3f}x the minimum (goal <= {GOAL_CALLS}x)")
    if not args.smoke and not args.profile:
        met = wall < GOAL_SECONDS
        print(f"  verdict                            : {'MET' if met else 'MISSED'} < {GOAL_SECONDS:.0f} s; calls "
              f"{'MET' if calls_ratio <= GOAL_CALLS else 'MISSED'}")
    for invocation in failed[:5]:
        print(f"  failed invocation: {invocation.function} attempt {invocation.attempt}: {invocation.error_type}: "
              f"{(invocation.error or '')[:300]}")
    for problem in problems:
        print(f"  FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
