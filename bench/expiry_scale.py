"""Expiry at scale: 5 000 agreements, 1 000 of them expiring in the same minute, 50 ms per cloud call.

    .venv/bin/python bench/expiry_scale.py [--agreements 5000] [--due 1000] [--latency 0.05]
                                           [--fc-instances 32] [--batch-size 10] [--threshold 20]
                                           [--concurrency 8] [--sample 5] [--profile]

What it does (results and how to read them: docs/benchmarks.md, "Expiry at scale"):

1. Stands up rolepact on the fake exactly as the tests do (`build_stage`, s.yaml wiring, the
   least-privilege FC service role) with the intake, enforcer and worker functions.
2. Provisions `--sample` agreements through the real path (oss2 upload -> OSS trigger -> FC ->
   intake -> RAM SDK), then the rest through a fast path: the *same* `Reconciler.handle_object`
   (parse, guardrails, claim, planner, executor, status record, schedule markers) in-process,
   with two stand-in gateways that write straight into the fake's RAM and OSS backends instead
   of going through HTTP and the SDKs. A fast-path agreement is checked to look exactly like a
   real one (same status fields, same RAM shape). Provisioning is not what is measured.
3. Sets the fake's latency (`cloud.latency`: every call sleeps that long, outside the fake's
   lock, so concurrent calls overlap as real round trips do), starts `--fc-instances` FC worker
   threads (`fc.start_workers`: each runs one invocation at a time, like one FC instance), fires
   the enforcer's timer once and waits until FC's queue is idle. Everything in this phase is the
   real path: enforcer tick -> fc2 InvokeFunction (async) -> reconcile_worker -> planner ->
   executor -> RAM/OSS gateways -> the official SDKs -> the fake.
4. Prints the wall time, the RAM calls per revocation against the minimum, and checks the end
   state (every due agreement ended once, the others untouched).

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
import hashlib
import json
import pstats
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import time_machine  # noqa: E402

from fakecloud import FakeCloud, Limits, mock_cloud  # noqa: E402
from shared.agreements.schema import EXAMPLE_AGREEMENT  # noqa: E402
from shared.documents import canonical, ended_role, iso  # noqa: E402
from shared.gateways.oss import ObjectMeta, StoredObject  # noqa: E402
from shared.local.stage import build_stage  # noqa: E402
from shared.planner import plan  # noqa: E402
from shared.reconcile import Reconciler  # noqa: E402
from shared.runtime import reset_settings  # noqa: E402
from shared.state import PolicySnapshot, PolicySummary, RoleSnapshot  # noqa: E402

OWNER, PARTNER = "1234567890123456", "1345678901234567"
FUNCTIONS = ["agreement_intake", "expiry_enforcer", "reconcile_worker"]
EXPIRY = datetime(2027, 6, 1, 9, 0, 0, tzinfo=timezone.utc)  # the minute the due agreements expire in
PROVISIONED = EXPIRY - timedelta(hours=12)


def agreement_doc(n: int, expires: datetime) -> dict:
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    agreement_id = f"bench-{n:05d}"
    doc["agreementId"] = agreement_id
    doc["role"] = {"name": agreement_id, "description": f"bench agreement {n}", "maxSessionDurationSeconds": 3600}
    doc.pop("startsAt", None)
    doc["expiresAt"] = iso(expires)
    return doc


# ------------------------------------------------------------------------------ fast-path gateways
class DirectStore:
    """ObjectStore's interface over the fake OSS backend's test-setup API (no HTTP, no events)."""

    def __init__(self, cloud, bucket: str) -> None:
        self.oss, self.bucket = cloud.backend("oss"), bucket

    def get(self, key):
        return self.oss.get_object_direct(OWNER, self.bucket, key)

    def get_with_meta(self, key):
        data = self.get(key)
        if data is None:
            return None
        return StoredObject(data, hashlib.md5(data).hexdigest().upper(), datetime.now(timezone.utc), len(data))

    def delete(self, key) -> None:
        with self.oss.cloud.lock:
            bucket = self.oss._owned_bucket(OWNER, self.bucket)
            bucket.objects.pop(key, None)

    def get_json(self, key):
        data = self.get(key)
        return None if data is None else json.loads(data)

    def head(self, key):
        data = self.get(key)
        return None if data is None else ObjectMeta("", datetime.now(timezone.utc), len(data), "application/json")

    def put(self, key, data, *, content_type="application/json", forbid_overwrite=False) -> bool:
        if forbid_overwrite and self.get(key) is not None:
            return False
        self.oss.put_object_direct(OWNER, self.bucket, key, data, content_type=content_type)
        return True

    def put_json(self, key, obj, *, forbid_overwrite=False) -> bool:
        data = json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
        return self.put(key, data, forbid_overwrite=forbid_overwrite)

    def iter_keys(self, prefix, **_):
        return iter([k for k in self.oss.keys_direct(OWNER, self.bucket) if k.startswith(prefix)])


class DirectRam:
    """The RamGateway calls a first provision makes, applied to the fake RAM backend directly."""

    def __init__(self, cloud) -> None:
        self.cloud, self.ram = cloud, cloud.backend("ram")
        self.by_tag: dict[tuple[str, str], set[str]] = {}

    def get_role(self, name, *, with_details=False):
        role = self.ram.find_role(OWNER, name)
        if role is None:
            return None
        return RoleSnapshot(role.name, role.arn, role.role_id, role.description, json.loads(role.trust_document),
                            role.max_session_duration, create_date=role.create_date.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def list_policies_for_role(self, name):
        role = self.ram.find_role(OWNER, name)
        return frozenset((a.policy_type, a.policy_name) for a in role.attachments.values())

    def role_tags(self, name):
        return dict(self.ram.find_role(OWNER, name).tags)

    def list_policies(self, policy_type="Custom", tag=None):
        names = self.by_tag.get(tuple(tag), set()) if tag else set()
        policies = [self.ram.find_policy(OWNER, "Custom", n) for n in sorted(names)]
        return [PolicySummary(p.name, p.policy_type, p.description, p.default_version, 0, dict(p.tags))
                for p in policies if p is not None]

    def get_policy(self, name, policy_type="Custom"):
        policy = self.ram.find_policy(OWNER, policy_type, name)
        if policy is None:
            return None
        return PolicySnapshot(policy.name, policy.policy_type, json.loads(policy.versions[policy.default_version]
                                                                          .document), policy.description)

    def create_role(self, name, trust, description, max_session_duration, tags=()):
        with self.cloud.lock:
            self.ram.create_role(OWNER, name, canonical(trust), description, max_session_duration,
                                 [{"Key": k, "Value": v} for k, v in dict(tags).items()])
        return self.get_role(name)  # the executor records its RoleId (shared.ownership)

    def create_policy(self, name, document, description, tags=()):
        with self.cloud.lock:
            self.ram.create_policy(OWNER, name, canonical(document), description,
                                   [{"Key": k, "Value": v} for k, v in dict(tags).items()])
        for item in dict(tags).items():
            self.by_tag.setdefault(item, set()).add(name)

    def attach_policy_to_role(self, role, policy_type, policy_name):
        with self.cloud.lock:
            self.ram.attach_policy_to_role(OWNER, policy_type, policy_name, role)


# ------------------------------------------------------------------------------ the fake's scans
def index_fake_ram(cloud) -> None:
    """Give the fake RAM the indexes real RAM has (harness only; answers are unchanged).

    The fake answers ListPolicies by sorting and filtering every policy of the account, and
    counts a policy's attachments (DeletePolicy, every ListPolicies row) by scanning every role:
    O(agreements) of CPU per call under the fake's global lock. With 5 000 agreements that is
    ~140 ms of CPU per revocation spent inside the test double -- more than rolepact and the SDKs
    together -- which real RAM does not cost its caller. These wrappers keep two indexes (policies
    by tag; roles by attached policy) next to the fake's state and answer from them; the results
    are those of the original code. `--no-index` measures without them.
    """
    from collections import defaultdict

    from fakecloud.services.ram import responses as ram_responses

    service = cloud.services["ram"]
    backend = service.backend
    by_tag: dict = defaultdict(set)  # (account, key, value) -> lower-case custom policy names
    holders: dict = defaultdict(set)  # (account, policy type, lower name) -> lower-case role names

    def index_policy(account_id, policy, add=True):
        for item in policy.tags.items():
            (by_tag[(account_id, *item)].add if add else by_tag[(account_id, *item)].discard)(policy.name.lower())

    for account_id, account in backend.accounts.items():
        for policy in account.policies.values():
            index_policy(account_id, policy)
        for role in account.roles.values():
            for key in role.attachments:
                holders[(account_id, *key)].add(role.name.lower())

    def wrap(name, after):
        original = getattr(backend, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            after(result, *args, **kwargs)
            return result
        setattr(backend, name, wrapper)

    wrap("create_policy", lambda policy, account_id, *a, **k: index_policy(account_id, policy))
    original_delete = backend.delete_policy

    def delete_policy(account_id, name, cascading):
        policy = backend.find_policy(account_id, "Custom", name or "")
        original_delete(account_id, name, cascading)
        if policy is not None:
            index_policy(account_id, policy, add=False)
    backend.delete_policy = delete_policy

    def retag(original_name):
        original = getattr(backend, original_name)

        def wrapper(account_id, resource_type, names, *args):
            policies = [backend.find_policy(account_id, "Custom", str(n)) for n in names or []] \
                if resource_type == "policy" else []
            for policy in filter(None, policies):
                index_policy(account_id, policy, add=False)
            try:
                return original(account_id, resource_type, names, *args)
            finally:
                for policy in filter(None, policies):
                    index_policy(account_id, policy)
        setattr(backend, original_name, wrapper)

    retag("tag_resources")
    retag("untag_resources")
    original_attach, original_detach = backend._attach, backend._detach

    def attach(account_id, holder, holder_kind, policy_type, policy_name):
        original_attach(account_id, holder, holder_kind, policy_type, policy_name)
        if holder_kind == "Role":
            policy = backend.get_policy(account_id, policy_type, policy_name)
            holders[(account_id, policy.policy_type, policy.name.lower())].add(holder.name.lower())

    def detach(account_id, holder, holder_kind, policy_type, policy_name):
        original_detach(account_id, holder, holder_kind, policy_type, policy_name)
        if holder_kind == "Role":
            policy = backend.get_policy(account_id, policy_type, policy_name)
            holders[(account_id, policy.policy_type, policy.name.lower())].discard(holder.name.lower())
    backend._attach, backend._detach = attach, detach

    def entities_for_policy(account_id, policy_type, name):
        key = (policy_type, name.lower())
        account = backend.accounts[account_id]
        roles = [account.roles[n] for n in sorted(holders.get((account_id, *key), ())) if n in account.roles]
        roles = [(r, r.attachments[key]) for r in roles if key in r.attachments]
        users = [(u, u.attachments[key]) for u in account.users.values() if key in u.attachments]
        return roles, users
    backend.entities_for_policy = entities_for_policy

    original_list, read = service.actions["ListPolicies"]

    def list_policies(self, call):
        wanted = {t["Key"]: t.get("Value") for t in (call.json("Tag") or []) if isinstance(t, dict) and "Key" in t}
        if not wanted or any(v is None for v in wanted.values()) or call.str("PolicyType") not in ("Custom", None, ""):
            return original_list(self, call)
        call.authorize("ram:ListPolicies", self.arn(call, "policy", "*"))
        names = set.intersection(*(by_tag.get((call.account_id, k, v), set()) for k, v in wanted.items()))
        policies = sorted((backend.accounts[call.account_id].policies[n] for n in names),
                          key=lambda p: p.name.lower())
        page, meta = ram_responses.paginate(call, policies, lambda p: f"{p.policy_type}:{p.name.lower()}")
        return {**meta, "Policies": {"Policy": [self.policy_body(call, p, tags=True) for p in page]}}
    service.actions["ListPolicies"] = (list_policies, read)


# ------------------------------------------------------------------------------ the run
def provision(cloud, stage, args) -> tuple[list[str], list[str]]:
    due_ids, later_ids = [], []
    # a sample through the real path
    for n in range(args.sample):
        doc = agreement_doc(n, EXPIRY + timedelta(seconds=n % 50))
        stage.upload(f"agreements/{doc['agreementId']}.json", doc)
        assert stage.status(doc["agreementId"])["state"] == "active", stage.status(doc["agreementId"])
        due_ids.append(doc["agreementId"])
    # the rest through the same Reconciler with direct gateways
    settings = dataclasses.replace(stage.settings, dingtalk_webhook=None, credentials=None)
    ram = DirectRam(cloud)
    for name, policy in cloud.backend("ram").accounts[OWNER].policies.items():
        for item in policy.tags.items():
            ram.by_tag.setdefault(item, set()).add(policy.name)
    gateways = SimpleNamespace(store=DirectStore(cloud, stage.bucket), ram=ram, dingtalk=None)
    reconciler = Reconciler(settings, gateways)
    for n in range(args.sample, args.agreements):
        due = n < args.due
        # the others expire over the next month, none of their markers (notices included) due in the measured tick
        expires = (EXPIRY + timedelta(seconds=n % 50) if due
                   else EXPIRY + timedelta(days=8 + n % 30, minutes=1 + n % 997))
        doc = agreement_doc(n, expires)
        key = f"agreements/{doc['agreementId']}.json"
        gateways.store.put(key, json.dumps(doc, indent=2).encode("utf-8"))
        outcome = reconciler.handle_object(key, uploader=OWNER)
        assert outcome.result == "applied", outcome
        (due_ids if due else later_ids).append(doc["agreementId"])
    check_fast_path(cloud, stage, gateways, due_ids[0], due_ids[args.sample])
    return due_ids, later_ids


def check_fast_path(cloud, stage, gateways, real_id: str, fast_id: str) -> None:
    """A fast-path agreement must look exactly like one provisioned through FC and the SDKs."""
    real, fast = stage.status(real_id), gateways.store.get_json(f"status/{fast_id}.json")
    assert sorted(real) == sorted(fast), set(real) ^ set(fast)
    assert [a["api"] for a in real["actions"]] == [a["api"] for a in fast["actions"]]
    ram = cloud.backend("ram")
    shape = lambda rid: (sorted(t for t, _ in ram.find_role(OWNER, rid).attachments),  # noqa: E731
                         sorted(ram.find_role(OWNER, rid).tags), ram.find_role(OWNER, rid).max_session_duration)
    assert shape(real_id) == shape(fast_id)
    keys = cloud.backend("oss").keys_direct(OWNER, stage.bucket)
    kinds = lambda aid: sorted(k.replace(aid, "<id>").split("/")[0] + "/" + k.rsplit("/", 1)[-1].split("%3A")[0]  # noqa: E731
                               .replace(aid, "<id>") for k in keys if f"/{aid}" in k)
    assert kinds(real_id) == kinds(fast_id), (kinds(real_id), kinds(fast_id))


def minimum_writes(stage, agreement_id: str) -> int:
    """The writes the planner must make to end this agreement (read as A, with no latency, before the run)."""
    from shared.executor import Executor
    from shared.gateways import Gateways
    from shared.ownership import RoleLedger
    from shared.settings import Credentials

    settings = stage.settings.with_credentials(Credentials(stage.owner.access_key_id, stage.owner.access_key_secret))
    gateways = Gateways.connect(settings)
    target = ended_role(agreement_id, agreement_id, OWNER)
    ledger = RoleLedger(gateways.store, settings.now, read_only=True)
    return len(plan(target, Executor(gateways.ram, ledger, settings.bucket).read(target)).actions)


def main() -> int:
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the functions log every notice at INFO
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agreements", type=int, default=5000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per cloud call")
    parser.add_argument("--fc-instances", type=int, default=16, help="concurrent FC instances (worker threads)")
    parser.add_argument("--batch-size", type=int, default=10, help="ROLEPACT_FANOUT_BATCH_SIZE")
    parser.add_argument("--threshold", type=int, default=20, help="ROLEPACT_FANOUT_THRESHOLD")
    parser.add_argument("--concurrency", type=int, default=8, help="ROLEPACT_MAX_CONCURRENCY")
    parser.add_argument("--sample", type=int, default=5, help="agreements provisioned through FC and the SDKs")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured phase (one thread)")
    parser.add_argument("--no-index", action="store_true", help="leave the fake's O(n) RAM scans as they are")
    args = parser.parse_args()
    assert args.sample < args.due <= args.agreements

    limits = Limits(roles_per_account=args.agreements + 100, custom_policies_per_account=3 * args.agreements + 100)
    cloud = FakeCloud(limits=limits)
    cloud.calls.keep_records = True
    env = {"ROLEPACT_FANOUT_BATCH_SIZE": str(args.batch_size), "ROLEPACT_FANOUT_THRESHOLD": str(args.threshold),
           "ROLEPACT_MAX_CONCURRENCY": str(args.concurrency)}
    with mock_cloud(cloud):
        t = time.perf_counter()
        with time_machine.travel(PROVISIONED, tick=False):
            stage = build_stage(cloud, functions=FUNCTIONS, environment=env)
            if not args.no_index:
                index_fake_ram(cloud)
            due_ids, later_ids = provision(cloud, stage, args)
            minimum = minimum_writes(stage, due_ids[-1])
        provisioned_in = time.perf_counter() - t
        print(f"provisioned {args.agreements} agreements ({args.sample} through FC + SDKs) in {provisioned_in:.1f} s; "
              f"{len(due_ids)} expire between {iso(EXPIRY)} and {iso(EXPIRY + timedelta(seconds=49))}")

        with time_machine.travel(EXPIRY + timedelta(seconds=55), tick=True):
            reset_settings(stage.settings)
            fc = stage.fc
            cloud.calls.reset()
            first_invocation = len(fc.invocations)
            cloud.latency = args.latency
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
                print(f"  (process CPU during the run: {cpu:.1f} s on one interpreter -- the GIL makes it the floor "
                      f"of the wall time here)")
            cloud.latency = 0.0
            assert fired == 1 and idle, (fired, idle)
            report(cloud, stage, args, due_ids, later_ids, fc.invocations[first_invocation:], wall, minimum)
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


def report(cloud, stage, args, due_ids, later_ids, invocations, wall, minimum) -> None:
    records = cloud.calls.records
    ram_calls = [r for r in records if r.service == "ram"]
    writes = Counter(r.action for r in ram_calls if r.write)
    reads = Counter(r.action for r in ram_calls if not r.write)
    by_service = Counter(r.service for r in records)
    due = len(due_ids)
    enforcer = [i for i in invocations if i.function == "expiry_enforcer"]
    workers = [i for i in invocations if i.function == "reconcile_worker"]
    failed = [i for i in invocations if not i.ok]
    total_writes = sum(writes.values())

    print(f"\nExpiry at scale: {args.agreements} agreements, {due} due in the same minute, "
          f"latency {args.latency * 1000:.0f} ms/call, {args.fc_instances} FC instances, batches of "
          f"{args.batch_size}, {args.concurrency} threads per invocation")
    print(f"  wall time, timer fired -> all done : {wall:6.1f} s   (goal < 60 s)")
    print(f"  enforcer tick (incl. fan-out)      : {max(i.duration for i in enforcer):6.1f} s, "
          f"{len(enforcer)} invocation(s)")
    print(f"  worker invocations                 : {len(workers)} ({len([w for w in workers if w.attempt == 1])} "
          f"batches), slowest {max(w.duration for w in workers):.1f} s, failed attempts {len(failed)}")
    print(f"  RAM writes                         : {total_writes} = {total_writes / due:.2f} per revocation; "
          f"minimum {minimum} per revocation -> {total_writes / (minimum * due):.3f}x   (goal <= 1.05x)")
    print(f"      by action                      : {dict(sorted(writes.items()))}")
    print(f"  RAM reads                          : {sum(reads.values())} = {sum(reads.values()) / due:.2f} per "
          f"revocation {dict(sorted(reads.items()))}")
    print(f"  all RAM calls / minimum writes     : {len(ram_calls) / (minimum * due):.3f}x")
    print(f"  calls by service                   : {dict(sorted(by_service.items()))} "
          f"({sum(by_service.values()) / due:.1f} per revocation)")
    oss = Counter(r.action for r in records if r.service == "oss")
    print(f"      OSS by action                  : {dict(sorted(oss.items()))}")

    statuses = {i: json.loads(cloud.backend("oss").get_object_direct(OWNER, stage.bucket, f"status/{i}.json"))
                for i in due_ids + later_ids}
    ended = [i for i in due_ids if statuses[i]["state"] == "ended"]
    ram = cloud.backend("ram")
    deleted_ok = sum(1 for r in ram_calls if r.action == "DeleteRole" and r.ok)
    leftover_policies = [p for p in ram.accounts[OWNER].policies.values()
                         if p.tags.get("rolepact-agreement") in set(due_ids)]
    print(f"  end state                          : {len(ended)}/{due} ended, {deleted_ok} DeleteRole "
          f"(each role once: {deleted_ok == due}), due roles left "
          f"{sum(1 for i in due_ids if ram.find_role(OWNER, i))}, their policies left {len(leftover_policies)}, "
          f"others still active {sum(1 for i in later_ids if statuses[i]['state'] == 'active')}/{len(later_ids)} "
          f"with roles {sum(1 for i in later_ids if ram.find_role(OWNER, i))}")
    outbox = [k for k in cloud.backend("oss").keys_direct(OWNER, stage.bucket) if k.startswith("outbox/")]
    print(f"  DingTalk                           : {len(stage.messages())} sent, {len(outbox)} in the outbox "
          f"(robot limit: 20 a minute)")
    assert len(ended) == due and deleted_ok == due and not leftover_policies


if __name__ == "__main__":
    sys.exit(main())
