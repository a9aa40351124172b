"""Issue 11 item 5: right after a detach, may DeleteRole still answer DeleteConflict.Role.Policy, and
for how long? Terraform's alicloud provider retries exactly that; rolepact's executor waits 1-16 s
(31 s in all) before re-reading. The fake lags only when told to (RamBackend.propagation_delay)."""
from __future__ import annotations

from datetime import timedelta

from .conformance_kit import delete_role, error_code, trust_policy
from shared.executor import CONFLICT_WAITS

SOURCE = "terraform-provider-alicloud resource_alicloud_ram_role.go (retries DeleteConflict.Role.Policy) [3P]"


def test_delete_role_right_after_detach_converges_within_the_executors_waits(owner, build, observe, wait, fake):
    from alibabacloud_ram20150501 import models

    if fake is not None:
        fake.backend("ram").propagation_delay = timedelta(seconds=1)
    role = build.role(owner, "lag", trust_policy(f"acs:ram::{owner.account_id}:root"),
                      system_policies=("AliyunECSReadOnlyAccess",))
    owner.ram.detach_policy_from_role(models.DetachPolicyFromRoleRequest(
        policy_type="System", policy_name="AliyunECSReadOnlyAccess", role_name=role))
    first = "deleted"
    try:
        owner.ram.delete_role(models.DeleteRoleRequest(role_name=role))
    except Exception as problem:  # noqa: BLE001 - the code is the observation
        first = error_code(problem)
    observe("DeleteRole at once after the detach", first, SOURCE)
    assert first in ("deleted", "DeleteConflict.Role.Policy")
    if first != "deleted":
        _, seconds = wait(lambda: delete_role(owner, role) or True, what="DeleteRole after the detach")
        observe("seconds until DeleteRole succeeded", round(seconds, 1), SOURCE)
        assert seconds <= sum(CONFLICT_WAITS)
