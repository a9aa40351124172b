"""Paging while other callers change what is being listed.

The contract every listing keeps (like the real services' cursors): an item that exists for the
whole listing is returned exactly once, nothing is returned twice, pages stay in order, and a
cursor never turns into an error because the item it pointed at changed. Writers run in other
threads through the same SDKs, as the enforcer's parallel revocations do.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import ecs_client, ecs_models, lookup_events, trail_client
from iam_support import ACCOUNT_A, ACCOUNT_B, allow, policy, ram_client, ram_models as M, trust
from iam_support import cloud, root_a  # noqa: F401 - shared fixtures
from oss_support import bucket


TRUST = trust(f"acs:ram::{ACCOUNT_B}:root")


class Churn:
    """Runs `step(i)` in a background thread until stopped: the concurrent modification."""

    def __init__(self, step) -> None:
        self.step, self.stop, self.rounds = step, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.step(self.rounds)
            self.rounds += 1

    def __enter__(self) -> "Churn":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def test_list_roles_and_policies_while_another_thread_creates_and_deletes(root_a):
    ram = ram_client(root_a)
    stable = [f"stable-{i:03d}" for i in range(60)]
    for name in stable:
        ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST))
        ram.create_policy(M.CreatePolicyRequest(policy_name=name, policy_document=policy(allow("ecs:Describe*"))))

    def churn(i: int) -> None:  # names sort between and around the stable ones
        writer = ram_client(root_a)
        name = f"stable-{i % 60:03d}-tmp"
        writer.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST))
        writer.create_policy(M.CreatePolicyRequest(policy_name=name, policy_document=policy(allow("ecs:*"))))
        writer.delete_role(M.DeleteRoleRequest(role_name=name))
        writer.delete_policy(M.DeletePolicyRequest(policy_name=name))

    with Churn(churn) as writer:
        roles, marker = [], None
        while True:
            body = ram.list_roles(M.ListRolesRequest(max_items=7, marker=marker)).body
            roles += [r.role_name for r in body.roles.role]
            if not body.is_truncated:
                break
            marker = body.marker
        policies, marker = [], None
        while True:
            body = ram.list_policies(M.ListPoliciesRequest(policy_type="Custom", max_items=7, marker=marker)).body
            policies += [p.policy_name for p in body.policies.policy]
            if not body.is_truncated:
                break
            marker = body.marker
    assert writer.rounds > 0
    for listed in (roles, policies):
        assert len(listed) == len(set(listed)) and listed == sorted(listed, key=str.lower)
        assert [n for n in listed if not n.endswith("-tmp")] == stable


def test_list_tag_resources_pages_stay_consistent_when_tags_change_between_pages(root_a):
    """NextToken used to be a row offset: a tag added before the cursor repeated a row, one
    removed before it skipped a row that never changed."""
    ram = ram_client(root_a)
    for name in ("r1", "r2", "r3"):
        ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST))
        ram.tag_resources(M.TagResourcesRequest(resource_type="role", resource_names=[name], tag=[
            M.TagResourcesRequestTag(key=f"k{i}", value=name) for i in range(3)]))

    def page(token=None):
        body = ram.list_tag_resources(M.ListTagResourcesRequest(resource_type="role", page_size=4,
                                                               next_token=token)).body
        return [(t.resource_name, t.tag_key) for t in body.tag_resources], body.next_token

    first, token = page()
    assert first == [("r1", "k0"), ("r1", "k1"), ("r1", "k2"), ("r2", "k0")]
    ram.untag_resources(M.UntagResourcesRequest(resource_type="role", resource_names=["r1"], tag_keys=["k0", "k1"]))
    ram.tag_resources(M.TagResourcesRequest(resource_type="role", resource_names=["r1"], tag=[
        M.TagResourcesRequestTag(key="k9", value="late")]))
    rest = []
    while token:
        rows, token = page(token)
        rest += rows
    assert rest == [("r2", "k1"), ("r2", "k2"), ("r3", "k0"), ("r3", "k1"), ("r3", "k2")]

    # With explicit ResourceNames the rows follow the order asked for, and paging keeps it.
    asked, token = [], None
    while True:
        body = ram.list_tag_resources(M.ListTagResourcesRequest(resource_type="role", resource_names=["r3", "r1"],
                                                               page_size=2, next_token=token)).body
        asked += [(t.resource_name, t.tag_key) for t in body.tag_resources]
        token = body.next_token
        if not token:
            break
    assert asked == [("r3", "k0"), ("r3", "k1"), ("r3", "k2"), ("r1", "k2"), ("r1", "k9")]


def test_describe_instances_token_survives_a_filtered_instance_changing_state(cloud, root_a):
    """Page 1 of the Running instances; the instance that would head page 2 is stopped before it
    is asked for. The real API keeps paging; the token used to become InvalidParameter.NextToken."""
    ecs = ecs_client(root_a)
    made = [cloud.backend("ecs").seed_instance(ACCOUNT_A, name=f"n{i:02d}") for i in range(25)]

    def running(token=None):
        body = ecs.describe_instances(ecs_models.DescribeInstancesRequest(
            region_id="cn-hangzhou", status="Running", max_results=10, next_token=token)).body
        return [i.instance_id for i in body.instances.instance], body.next_token

    first, token = running()
    assert first == made[:10]
    ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=made[10]))
    ecs.stop_instance(ecs_models.StopInstanceRequest(instance_id=made[3]))  # already listed
    second, token = running(token)
    assert second == made[11:21]
    third, token = running(token)
    assert third == made[21:] and token == ""


def test_list_objects_v2_while_objects_are_written_and_deleted(root_a):
    data = bucket(root_a)
    data.create_bucket()
    stable = [f"logs/{i:04d}.json" for i in range(300)]
    for key in stable:
        data.put_object(key, b"{}")

    def churn(i: int) -> None:
        writer = bucket(root_a)
        key = f"logs/{(i * 7) % 300:04d}.json.tmp"  # sorts right after a stable key
        writer.put_object(key, b"x")
        writer.delete_object(key)

    with Churn(churn) as writer:
        seen, token = [], ""
        while True:
            page = data.list_objects_v2(prefix="logs/", continuation_token=token, max_keys=17)
            seen += [o.key for o in page.object_list]
            if not page.is_truncated:
                break
            token = page.next_continuation_token
    assert writer.rounds > 0
    assert len(seen) == len(set(seen)) and seen == sorted(seen)
    assert [k for k in seen if not k.endswith(".tmp")] == stable


def test_lookup_events_backward_paging_is_a_snapshot_while_threads_keep_writing(cloud, root_a):
    ecs_admin = ecs_client(root_a)
    instance = cloud.backend("ecs").seed_instance(ACCOUNT_A, name="busy")
    for _ in range(15):
        ecs_admin.stop_instance(ecs_models.StopInstanceRequest(instance_id=instance))
        ecs_admin.start_instance(ecs_models.StartInstanceRequest(instance_id=instance))
    trail = trail_client(root_a)
    before = [e["eventId"] for e in cloud.trail.events(ACCOUNT_A) if e.get("resourceName") == instance]
    other = cloud.backend("ecs").seed_instance(ACCOUNT_A, name="other")

    def churn(i: int) -> None:  # more events on the same instance and others, from another client
        client = ecs_client(root_a)
        client.reboot_instance(ecs_models.RebootInstanceRequest(instance_id=other))
        client.describe_instances(ecs_models.DescribeInstancesRequest(region_id="cn-hangzhou",
                                                                      instance_ids=f'["{instance}"]'))

    with Churn(churn) as writer:
        seen, token = [], None
        while True:
            body = lookup_events(trail, ("ResourceName", instance), MaxResults="4", NextToken=token)
            seen += [e["eventId"] for e in body.events]
            token = body.next_token
            if not token:
                break
    assert writer.rounds > 0
    assert len(seen) == len(set(seen))
    assert seen[-len(before):] == before[::-1]  # everything there when paging began, newest first
