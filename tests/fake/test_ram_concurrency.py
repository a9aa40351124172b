"""Concurrent RAM traffic, fault injection and call accounting, all through the official SDK."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from fakecloud import FakeCrash, mock_cloud
from iam_support import (ACCOUNT_A, ACCOUNT_B, api_error, cloud, policy, allow, ram_a, ram_client,  # noqa: F401
                         ram_models as M, root_a, sts_client, trust)

TRUST = trust(f"acs:ram::{ACCOUNT_B}:root")
THREADS = 16


def create_role(ram, name: str):
    return ram.create_role(M.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST))


def role_names(ram) -> list[str]:
    names, marker = [], None
    while True:
        body = ram.list_roles(M.ListRolesRequest(max_items=7, marker=marker)).body
        names += [r.role_name for r in body.roles.role]
        if not body.is_truncated:
            return names
        marker = body.marker


def test_sixteen_threads_create_attach_and_delete_distinct_roles():
    with mock_cloud(latency=0.002) as cloud:
        root = cloud.add_account(ACCOUNT_A)
        ram_client(root).create_policy(M.CreatePolicyRequest(policy_name="shared", policy_document=policy(
            allow("ecs:Describe*"))))

        def worker(i: int) -> None:
            ram = ram_client(root)  # one client per thread, like separate FC instances
            for j in range(4):
                name = f"w{i:02d}-r{j}"
                create_role(ram, name)
                ram.attach_policy_to_role(M.AttachPolicyToRoleRequest(policy_type="Custom", policy_name="shared",
                                                                      role_name=name))
                ram.attach_policy_to_role(M.AttachPolicyToRoleRequest(
                    policy_type="System", policy_name="AliyunECSReadOnlyAccess", role_name=name))
                if j % 2:  # every odd role is torn down again
                    for policy_type, policy_name in (("Custom", "shared"), ("System", "AliyunECSReadOnlyAccess")):
                        ram.detach_policy_from_role(M.DetachPolicyFromRoleRequest(
                            policy_type=policy_type, policy_name=policy_name, role_name=name))
                    ram.delete_role(M.DeleteRoleRequest(role_name=name))

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, range(THREADS)))

        ram = ram_client(root)
        expected = sorted(f"w{i:02d}-r{j}" for i in range(THREADS) for j in (0, 2))
        assert role_names(ram) == expected
        entities = ram.list_entities_for_policy(M.ListEntitiesForPolicyRequest(policy_name="shared",
                                                                               policy_type="Custom")).body
        assert sorted(r.role_name for r in entities.roles.role) == expected
        got = ram.get_policy(M.GetPolicyRequest(policy_name="shared", policy_type="Custom")).body
        assert got.policy.attachment_count == len(expected)
        for name in expected:
            attached = ram.list_policies_for_role(M.ListPoliciesForRoleRequest(role_name=name)).body.policies.policy
            assert sorted(p.policy_name for p in attached) == ["AliyunECSReadOnlyAccess", "shared"]
        assert cloud.calls.count("CreateRole") == THREADS * 4
        assert cloud.calls.count("DeleteRole", ok=True) == THREADS * 2
        assert cloud.calls.count(service="ram", ok=False) == 0


def test_racing_creates_of_one_name_have_exactly_one_winner(cloud, root_a):
    def attempt(_):
        try:
            create_role(ram_client(root_a), "contested")
            return "created"
        except AlibabaCloudException as error:
            return error.code

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(attempt, range(THREADS)))
    assert sorted(outcomes) == ["EntityAlreadyExists.Role"] * (THREADS - 1) + ["created"]
    assert cloud.calls.count("CreateRole", ok=True) == 1


# --------------------------------------------------------------------------- fault injection


def test_fail_nth_call_before_the_change(cloud, ram_a):
    cloud.faults.fail("CreateRole", nth=2, code="Throttling.User")
    create_role(ram_a, "first")
    with api_error("Throttling.User", 400) as throttled:
        create_role(ram_a, "second")
    assert "Request was denied due to user flow control." in throttled.value.message
    with api_error("EntityNotExist.Role", 404):
        ram_a.get_role(M.GetRoleRequest(role_name="second"))  # nothing changed
    create_role(ram_a, "second")  # the retry succeeds
    assert cloud.calls.count("CreateRole") == 3
    assert cloud.calls.count("CreateRole", ok=False) == 1


def test_fail_after_the_change(cloud, ram_a):
    cloud.faults.fail("CreateRole", code="InternalError", after=True)
    with api_error("InternalError", 500):
        create_role(ram_a, "applied")
    assert ram_a.get_role(M.GetRoleRequest(role_name="applied")).body.role.role_name == "applied"
    with api_error("EntityAlreadyExists.Role", 409):
        create_role(ram_a, "applied")  # a naive retry now conflicts


def test_fail_several_times_and_only_for_one_service(cloud, ram_a, root_a):
    cloud.faults.fail(service="sts", code="ServiceUnavailable", times=2)
    create_role(ram_a, "ram-unaffected")
    for _ in range(2):
        with api_error("ServiceUnavailable", 503):
            sts_client(root_a).get_caller_identity()
    assert sts_client(root_a).get_caller_identity().body.account_id == ACCOUNT_A


def test_crash_after_applies_the_change_then_kills_the_caller(cloud, ram_a):
    cloud.faults.crash_after("CreateRole")
    with pytest.raises(FakeCrash):
        create_role(ram_a, "half-done")
    assert ram_a.get_role(M.GetRoleRequest(role_name="half-done")).body.role.role_name == "half-done"
    assert cloud.calls.count("CreateRole") == 1


def test_chaos_is_reproducible_with_a_seed(cloud, ram_a):
    def run(seed: int) -> list[bool]:
        cloud.faults.clear()
        cloud.faults.chaos(0.5, action="GetAccountAlias", seed=seed)
        results = []
        for _ in range(20):
            try:
                ram_a.get_account_alias()
                results.append(True)
            except AlibabaCloudException as error:
                assert (error.code, error.status_code) == ("Throttling.User", 400)
                results.append(False)
        return results

    first = run(7)
    assert run(7) == first and 0 < first.count(False) < 20


def test_call_counting_by_account_and_kind(cloud, root_a, ram_a):
    ram_b = ram_client(cloud.add_account(ACCOUNT_B))
    create_role(ram_a, "a1")
    create_role(ram_b, "b1")
    ram_a.list_roles(M.ListRolesRequest())
    with api_error("EntityNotExist.Role", 404):
        ram_a.get_role(M.GetRoleRequest(role_name="nope"))
    sts_client(root_a).get_caller_identity()
    assert cloud.calls.count("CreateRole") == 2
    assert cloud.calls.count("CreateRole", account_id=ACCOUNT_A) == 1
    assert cloud.calls.count(service="ram", write=True) == 2
    assert cloud.calls.count(service="ram", write=False) == 2
    assert cloud.calls.count(service="sts") == 1
    assert cloud.calls.count("GetRole", ok=False) == 1
