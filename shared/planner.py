"""The pure planner: (target, actual RAM state) -> the ordered RAM writes that close the gap.

Same function for create, amend, early end and expiry, so every path converges the same
way. Ordering is chosen so that no intermediate state grants more than the agreement:

- provision: CreateRole, then the guard policy is created and attached *before* any
  permission, then custom and system policies;
- amend: the guard is updated first, removed permissions are detached before anything is
  added;
- end: permissions are detached first (live sessions lose access at once), then policies
  and the role (delete-role) or the partner's trust (remove-trust) are removed.

A role that exists but that rolepact's records do not show as created for this agreement (its
RoleId, shared.ownership) is never touched: the plan is refused instead. Descriptions and tags
prove nothing: anyone with ram:UpdateRole can write them.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.actions import (Action, AttachPolicy, CreatePolicy, CreatePolicyVersion, CreateRole, DeletePolicy,
                            DeleteRole, DetachPolicy, TagRole, UpdateRole)
from shared.agreements.model import ON_EXPIRY_REMOVE_TRUST
from shared.errors import Problem
from shared.state import ActualState, DesiredRole, EndedRole

CUSTOM, SYSTEM = "Custom", "System"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    refusal: Problem | None = None

    @property
    def empty(self) -> bool:
        return not self.actions and self.refusal is None


def plan(target: DesiredRole | EndedRole, actual: ActualState) -> Plan:
    role = actual.role
    if role is not None and actual.role_owner != target.agreement_id:
        if isinstance(target, EndedRole):  # not ours (any more): only our leftover policies may go
            return Plan(tuple(DeletePolicy(name) for name in sorted(actual.policies)))
        return Plan(refusal=_clash(target.role_name, actual.role_owner))
    if isinstance(target, DesiredRole):
        taken = sorted(({target.guard_name} | set(target.custom)) & actual.foreign)
        if taken:
            return Plan(refusal=Problem("policies", f"a RAM policy named '{taken[0]}' already exists and was not "
                                                    f"created by rolepact; rolepact never takes over policies it "
                                                    f"did not create — rename or delete that policy"))
        return Plan(tuple(_provision(target, actual)))
    return Plan(tuple(_end(target, actual)))


def _clash(role_name: str, owner: str | None) -> Problem:
    if owner is None:
        message = (f"a role named '{role_name}' already exists and was not created by rolepact; "
                   f"rolepact never takes over roles it did not create — choose another role.name")
    else:
        message = (f"role '{role_name}' belongs to agreement '{owner}'; two agreements cannot share a role "
                   f"(to extend an agreement, edit expiresAt in its own file)")
    return Problem("role.name", message)


def _provision(want: DesiredRole, actual: ActualState) -> list[Action]:
    role = actual.role
    actions: list[Action] = []
    tags = tuple(sorted(want.tags.items()))
    if role is None:
        actions.append(CreateRole(want.role_name, want.trust, want.description, want.max_session_duration, tags))
        attached: frozenset = frozenset()
    else:
        attached = role.attached
    attached_keys = {_key(p) for p in attached}  # RAM compares policy names case-insensitively

    def is_attached(policy: tuple[str, str]) -> bool:
        return _key(policy) in attached_keys

    # 1. the guard, before any permission exists or changes
    actions += _ensure_policy(want.guard_name, want.guard_document, want, actual)
    if not is_attached((CUSTOM, want.guard_name)):
        actions.append(AttachPolicy(want.role_name, CUSTOM, want.guard_name))
    # 2. take away what the agreement no longer grants (or someone added by hand)
    wanted = {(CUSTOM, want.guard_name)} | {(CUSTOM, n) for n in want.custom} | {(SYSTEM, n) for n in want.system}
    wanted_keys = {_key(p) for p in wanted}
    for policy_type, name in sorted(attached):
        if _key((policy_type, name)) not in wanted_keys:
            actions.append(DetachPolicy(want.role_name, policy_type, name))
    # 3. role properties
    if role is not None:
        update = UpdateRole(
            want.role_name,
            trust=want.trust if role.trust != want.trust else None,
            max_session_duration=want.max_session_duration if role.max_session_duration != want.max_session_duration else None,
            description=want.description if role.description != want.description else None,
        )
        if (update.trust, update.max_session_duration, update.description) != (None, None, None):
            actions.append(update)
        if any(role.tags.get(k) != v for k, v in want.tags.items()):
            actions.append(TagRole(want.role_name, tags))
    # 4. grant what the agreement grants
    for name in sorted(want.custom):
        actions += _ensure_policy(name, want.custom[name], want, actual)
        if not is_attached((CUSTOM, name)):
            actions.append(AttachPolicy(want.role_name, CUSTOM, name))
    for name in sorted(want.system):
        if not is_attached((SYSTEM, name)):
            actions.append(AttachPolicy(want.role_name, SYSTEM, name))
    # 5. our custom policies that nothing wants any more
    for name in sorted(set(actual.policies) - set(want.custom) - {want.guard_name}):
        actions.append(DeletePolicy(name))
    return actions


def _key(policy: tuple[str, str]) -> tuple[str, str]:
    return policy[0], policy[1].lower()


def _ensure_policy(name: str, document: dict, want: DesiredRole, actual: ActualState) -> list[Action]:
    existing = actual.policies.get(name)
    if existing is None:
        return [CreatePolicy(name, document, want.policy_description, tuple(sorted(want.tags.items())))]
    if existing.document != document:
        return [CreatePolicyVersion(name, document)]
    return []


def _end(target: EndedRole, actual: ActualState) -> list[Action]:
    role = actual.role
    actions: list[Action] = []
    if role is None:
        return [DeletePolicy(name) for name in sorted(actual.policies)]
    keep_guard = target.mode == ON_EXPIRY_REMOVE_TRUST
    guard = (CUSTOM, target.guard_name)
    # 1. permissions first: live sessions lose access now
    for policy_type, name in sorted(role.attached - {guard}):
        actions.append(DetachPolicy(role.name, policy_type, name))
    if keep_guard:
        if role.trust != target.closed_trust:
            actions.append(UpdateRole(role.name, trust=target.closed_trust))
        actions += [DeletePolicy(n) for n in sorted(actual.policies) if n != target.guard_name]
        return actions
    actions += [DeletePolicy(n) for n in sorted(actual.policies) if n != target.guard_name]
    if guard in role.attached:
        actions.append(DetachPolicy(role.name, CUSTOM, target.guard_name))
    if target.guard_name in actual.policies:
        actions.append(DeletePolicy(target.guard_name))
    actions.append(DeleteRole(role.name))
    return actions
