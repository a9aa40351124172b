"""Every hot path of the fake from 16 threads at once, through the real SDKs.

What the enforcer does in parallel (assume a role, act with the session, revoke, read the trail)
must leave the fake in exactly the state the calls imply: no lost update, no duplicate or missing
ActionTrail event, no call answered twice or with a 500, counters equal to what was sent.
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from helpers import ecs_client, ecs_models, lookup_events, trail_client
from iam_support import ACCOUNT_A, ACCOUNT_B, allow, assume, make_user, policy, ram_client, ram_models as M, trust
from oss_support import bucket

from fakecloud import mock_cloud

THREADS = 16
ROUNDS = 3


def test_sixteen_threads_on_sts_ecs_oss_ram_and_actiontrail_at_once():
    with mock_cloud(latency=0.001) as cloud:
        root_a = cloud.add_account(ACCOUNT_A, "company-a")
        root_b = cloud.add_account(ACCOUNT_B, "company-b")
        ram_a = ram_client(root_a)
        ram_a.create_role(M.CreateRoleRequest(role_name="ops", assume_role_policy_document=trust(
            f"acs:ram::{ACCOUNT_B}:root")))
        ram_a.create_policy(M.CreatePolicyRequest(policy_name="ops", policy_document=policy(
            allow(["ecs:*", "oss:*", "actiontrail:LookupEvents"]))))
        ram_a.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="Custom", policy_name="ops",
                                                                role_name="ops"))
        ram_a.create_policy(M.CreatePolicyRequest(policy_name="toggled", policy_document=policy(allow("ecs:Describe*"))))
        for i in range(THREADS):
            ram_a.create_role(M.CreateRoleRequest(role_name=f"worker-{i:02d}", assume_role_policy_document=trust(
                f"acs:ram::{ACCOUNT_B}:root")))
        bucket(root_a).create_bucket()
        alice = make_user(cloud, root_b, "alice", "AliyunSTSAssumeRoleAccess")
        instances = [cloud.backend("ecs").seed_instance(ACCOUNT_A, name=f"i{i:02d}") for i in range(THREADS)]
        notified = Counter()
        cloud.backend("oss").subscribe(lambda bucket_name, payload: notified.update([bucket_name]))
        cloud.calls.reset()

        def worker(i: int) -> list[str]:
            session, _ = assume(alice, f"acs:ram::{ACCOUNT_A}:role/ops", f"worker-{i:02d}")
            ecs, oss, ram, trail = ecs_client(session), bucket(session), ram_client(root_a), trail_client(session)
            seen_events = []
            for r in range(ROUNDS):
                ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=instances[i]))
                ecs.start_instance(ecs_models.StartInstanceRequest(instance_id=instances[i]))
                oss.put_object(f"w{i:02d}/{r}", f"{i}:{r}".encode())
                listed = [o.key for o in oss.list_objects_v2(prefix=f"w{i:02d}/").object_list]
                assert listed == [f"w{i:02d}/{n}" for n in range(r + 1)]
                ram.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="Custom", policy_name="toggled",
                                                                      role_name=f"worker-{i:02d}"))
                ram.detach_policy_from_role(M.DetachPolicyFromRoleRequest(policy_type="Custom", policy_name="toggled",
                                                                          role_name=f"worker-{i:02d}"))
                body = lookup_events(trail, ("ResourceName", instances[i]), MaxResults="50")
                seen_events += [e["eventId"] for e in body.events]
            return seen_events

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(worker, range(THREADS)))

        assert cloud.calls.count(ok=False) == 0
        for action in ("StopInstance", "StartInstance", "PutObject", "ListObjectsV2", "AttachPolicyToRole",
                       "DetachPolicyFromRole", "LookupEvents"):
            assert cloud.calls.count(action, ok=True) == THREADS * ROUNDS, action
        assert cloud.calls.count("AssumeRole", ok=True) == THREADS

        a_events, b_events = cloud.trail.events(ACCOUNT_A), cloud.trail.events(ACCOUNT_B)
        ids = [e["eventId"] for e in a_events + b_events]
        assert len(ids) == len(set(ids))
        by_name = Counter(e["eventName"] for e in a_events if not e.get("errorCode") and e.get("resourceName") != "ops")
        for action in ("StopInstance", "StartInstance", "PutObject", "AttachPolicyToRole", "DetachPolicyFromRole"):
            assert by_name[action] == THREADS * ROUNDS, action
        assert Counter(e["eventName"] for e in b_events)["AssumeRole"] == THREADS
        for i, instance in enumerate(instances):
            mine = [e for e in a_events if e.get("resourceName") == instance]
            assert {e["userIdentity"]["userName"] for e in mine} == {f"ops:worker-{i:02d}"}
            assert set(results[i]) <= {e["eventId"] for e in mine}  # each session saw only its own instance

        assert {cloud.backend("ecs").get(ACCOUNT_A, i).status for i in instances} == {"Running"}
        keys = cloud.backend("oss").keys_direct(ACCOUNT_A, "rolepact-data")
        assert keys == sorted(f"w{i:02d}/{r}" for i in range(THREADS) for r in range(ROUNDS))
        assert notified == Counter({"rolepact-data": THREADS * ROUNDS})
        entities = ram_a.list_entities_for_policy(M.ListEntitiesForPolicyRequest(policy_type="Custom",
                                                                                 policy_name="toggled")).body
        assert entities.roles.role == []
        assert ram_a.get_policy(M.GetPolicyRequest(policy_type="Custom", policy_name="toggled")).body \
            .policy.attachment_count == 0
