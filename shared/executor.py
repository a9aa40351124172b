"""Applies planned actions through the RAM gateway until RAM matches the target.

Level-triggered: read RAM, plan, apply. An answer that means "someone already did this"
(the policy is already attached, the role is already gone) counts as success; an answer
that means "the world is not what I read" (the role already exists, a delete conflicts)
makes the executor read again and re-plan. So any number of runs — concurrent, repeated,
or after a crash — converge on the same state, with no extra writes when nothing changed.

RAM is eventually consistent: right after a detach, DeleteRole and DeletePolicy may still
answer DeleteConflict.* (Terraform's alicloud provider retries exactly these for that reason).
A delete conflict therefore waits before the re-read, with a bounded backoff (CONFLICT_WAITS,
through `Settings.sleep`), instead of giving up after a few instant rounds — but never past the
invocation's deadline (`Settings.deadline`, from the function's timeout): a function FC kills
mid-wait records no failure and sends no notice, while one that stops waiting in time leaves
the agreement due for a later run.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.actions import (Action, AttachPolicy, CreatePolicy, CreatePolicyVersion, CreateRole, DeletePolicy,
                            DeleteRole, DetachPolicy, TagRole, UpdateRole)
from shared.documents import TAG_AGREEMENT, TAG_DEPLOYMENT, marked_agreement, policy_prefix
from shared.errors import CloudError, NotConverged, Problem
from shared.log import get_logger
from shared.ownership import role_fingerprint
from shared.planner import plan
from shared.state import ActualState, DesiredRole, EndedRole, PolicySnapshot

log = get_logger("executor")

# Answers that mean the action's effect is already in place.
ALREADY_DONE = {
    "AttachPolicyToRole": {"EntityAlreadyExists.Role.Policy"},
    "DetachPolicyFromRole": {"EntityNotExist.Role.Policy", "EntityNotExist.Policy", "EntityNotExist.Role"},
    "DeletePolicy": {"EntityNotExist.Policy"},
    "DeleteRole": {"EntityNotExist.Role"},
}
# Answers that mean what we read is stale: read again and re-plan.
STALE = {"EntityAlreadyExists.Role", "EntityAlreadyExists.Policy", "EntityNotExist.Role", "EntityNotExist.Policy",
         "DeleteConflict.Role.Policy", "DeleteConflict.Policy.User", "DeleteConflict.Policy.Group",
         "DeleteConflict.Policy.Version"}
# Seconds to wait before re-reading after each delete conflict in one converge: 31 s at most, well
# inside every function's timeout (intake 120 s), and longer than the 3-5 s Terraform waits per retry.
CONFLICT_WAITS = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_ROUNDS = 4  # re-reads for other surprises (a concurrent run created or removed something)


@dataclass
class Convergence:
    applied: list[Action] = field(default_factory=list)
    refusal: Problem | None = None
    rounds: int = 0
    trust_drift: bool = False  # the role's trust policy was neither the target's nor `expected_trust` (by hand)


class Executor:
    def __init__(self, ram, ledger=None, deployment: str | None = None, sleep=None) -> None:
        """`ledger`: shared.ownership.RoleLedger, rolepact's record of the roles it created (without one, no
        existing role counts as rolepact's). `deployment`: this deployment's id (its bucket): policies
        tagged for another deployment are never taken for this one's. `sleep` defaults to the RAM
        gateway's `settings.sleep` (tests pass a virtual one)."""
        self.ram = ram
        self.ledger = ledger
        self.deployment = deployment
        self.settings = getattr(ram, "settings", None)
        self.sleep = sleep or getattr(self.settings, "sleep", None)
        self._role_id: dict[str, str] = {}  # role name -> RoleId as last read (for the ledger at DeleteRole)

    # -- reading -------------------------------------------------------------------------------------------
    def read(self, target: DesiredRole | EndedRole, *, thorough: bool = False) -> ActualState:
        """RAM's state for one agreement: its role and the custom policies it owns.

        Policies are found by the agreement's tag and by being attached with its name prefix;
        documents are read only when provisioning needs to compare them. `thorough` also
        probes the expected names directly (after a conflict says one exists untagged).
        """
        provisioning = isinstance(target, DesiredRole)
        role = self.ram.get_role(target.role_name)
        owner = None
        if role is not None:
            self._role_id[role.name.lower()] = role.role_id
            owner = self.ledger.owner(role, hints=(target.agreement_id, marked_agreement(role.description))) \
                if self.ledger is not None else None
            attached = self.ram.list_policies_for_role(target.role_name) if owner == target.agreement_id \
                else frozenset()
            tags = self.ram.role_tags(target.role_name) if provisioning and owner == target.agreement_id else {}
            role = replace(role, attached=attached, tags=tags)
        prefix = policy_prefix(target.agreement_id)
        listed = [p for p in self.ram.list_policies("Custom", tag=(TAG_AGREEMENT, target.agreement_id))
                  if p.name.startswith(prefix)]
        # the same agreement id in another rolepact deployment of the account: its policies, not ours
        elsewhere = {p.name for p in listed if p.tags.get(TAG_DEPLOYMENT) not in (None, self.deployment)}
        tagged = {p.name for p in listed} - elsewhere
        names = set(tagged)
        if role is not None:
            names |= {name for kind, name in role.attached if kind == "Custom" and name.startswith(prefix)}
        if thorough or (provisioning and role is None):  # a first provision: are its names free?
            names |= {target.guard_name} | (set(target.custom) if provisioning else set())
        policies, foreign = {}, set(elsewhere)
        for name in sorted(names - elsewhere):
            if provisioning or thorough or name not in tagged:
                snapshot = self.ram.get_policy(name, "Custom")
                if snapshot is None:
                    continue
                # ours: tagged with the agreement, or marked in the description rolepact wrote
                if name not in tagged and marked_agreement(snapshot.description) != target.agreement_id:
                    foreign.add(name)
                    continue
                policies[name] = snapshot
            else:
                policies[name] = PolicySnapshot(name, "Custom", None)
        return ActualState(role, policies, frozenset(foreign), owner)

    # -- writing ---------------------------------------------------------------------------------------------
    def apply(self, action: Action, agreement_id: str = "") -> Problem | None:
        """One RAM write; returns a refusal instead when another agreement is creating the same role."""
        ram = self.ram
        if isinstance(action, CreateRole):
            if self.ledger is not None:
                creating = self.ledger.intend(action.role, agreement_id, created_as=role_fingerprint(
                    action.trust, action.description, action.max_session_duration))
                if creating is not None:
                    return Problem("role.name", f"agreement '{creating}' is creating a role named '{action.role}' "
                                                f"right now; two agreements cannot share a role")
            created = ram.create_role(action.role, action.trust, action.description, action.max_session_duration,
                                      self._tags(action.tags))
            self._role_id[action.role.lower()] = created.role_id
            if self.ledger is not None:
                self.ledger.record(action.role, agreement_id, created.role_id)
        elif isinstance(action, UpdateRole):
            ram.update_role(action.role, trust=action.trust, max_session_duration=action.max_session_duration,
                            description=action.description)
        elif isinstance(action, TagRole):
            ram.tag_role(action.role, dict(action.tags))
        elif isinstance(action, DeleteRole):
            ram.delete_role(action.role)
            self._forget(action.role)
        elif isinstance(action, CreatePolicy):
            ram.create_policy(action.policy, action.document, action.description, self._tags(action.tags))
        elif isinstance(action, CreatePolicyVersion):
            ram.create_policy_version(action.policy, action.document)
        elif isinstance(action, DeletePolicy):
            ram.delete_policy(action.policy)
        elif isinstance(action, AttachPolicy):
            ram.attach_policy_to_role(action.role, action.policy_type, action.policy)
        elif isinstance(action, DetachPolicy):
            ram.detach_policy_from_role(action.role, action.policy_type, action.policy)
        else:
            raise TypeError(f"unknown action {action!r}")
        return None

    def _tags(self, tags) -> dict[str, str]:
        """The agreement's tags, plus which deployment created the resource (see `read`)."""
        return {**dict(tags), **({TAG_DEPLOYMENT: self.deployment} if self.deployment else {})}

    def _forget(self, role_name: str) -> None:
        if self.ledger is not None:
            self.ledger.forget(role_name, self._role_id.get(role_name.lower()))

    def _verified(self, target: DesiredRole | EndedRole, result: Convergence) -> Convergence:
        """RAM's role APIs take a name, so a role deleted and created again under it (by anyone who may) while
        this converge wrote would receive the writes meant for rolepact's. After granting, read the RoleId
        once more: if it is no longer the one rolepact recorded, take back every policy attached to that
        role in this run and refuse — it is not rolepact's, and never gets the agreement's permissions."""
        granted = [a for a in result.applied if isinstance(a, (CreateRole, AttachPolicy, UpdateRole, TagRole))]
        if not isinstance(target, DesiredRole) or not granted:
            return result
        role = self.ram.get_role(target.role_name)
        expected = self._role_id.get(target.role_name.lower())  # read (and proved) or created by this run
        if role is None or role.role_id == expected:
            return result  # gone (an ending ran meanwhile: its own business), or still the role it wrote to
        log.error("role %s was replaced while rolepact provisioned it (RoleId %s, expected %s): taking back what "
                  "was attached", target.role_name, role.role_id, expected)
        for action in granted:
            if isinstance(action, AttachPolicy):
                try:
                    self.ram.detach_policy_from_role(action.role, action.policy_type, action.policy)
                except CloudError as error:
                    if error.code not in ALREADY_DONE["DetachPolicyFromRole"]:
                        raise
        result.refusal = Problem("role.name", f"the role '{target.role_name}' was deleted and created again by "
                                              f"someone else while rolepact provisioned it; it is not rolepact's "
                                              f"role and was left without the agreement's permissions — find out "
                                              f"who replaced it (ActionTrail), delete it, and upload the file again")
        return result

    def converge(self, target: DesiredRole | EndedRole, *, on_applied=None, on_plan=None,
                 expected_trust: dict | None = None) -> Convergence:
        """Plan and apply until nothing is left to do; stop at a refusal.

        A round that applies every action without surprises is trusted (no re-read), so a
        clean run costs exactly the planned writes. `trust_drift` says whether the role's trust policy, as
        first read, was changed outside rolepact: neither the target's nor `expected_trust` (the one rolepact
        last wrote, when an amendment changes it) — sessions may have been issued through it.
        """
        result = Convergence()
        thorough = False
        conflicts = rounds = 0
        while True:
            result.rounds += 1
            state = self.read(target, thorough=thorough)
            if result.rounds == 1 and isinstance(target, DesiredRole) and state.role is not None \
                    and state.role_owner == target.agreement_id and state.role.trust not in (target.trust,
                                                                                             expected_trust):
                result.trust_drift = True
            current = plan(target, state)
            if current.refusal is not None:
                result.refusal = current.refusal
                return result
            if not current.actions:
                return result
            if on_plan is not None and result.rounds == 1:
                on_plan(current.actions)
            stale = None
            for action in current.actions:
                try:
                    refusal = self.apply(action, target.agreement_id)
                except CloudError as error:
                    if error.code in ALREADY_DONE.get(action.api, ()):
                        log.info("already done: %s (%s)", action.describe(), error.code)
                        if isinstance(action, DeleteRole):
                            self._forget(action.role)
                        continue
                    if error.code in STALE:
                        stale = error.code
                        thorough = True
                        break
                    raise
                if refusal is not None:
                    result.refusal = refusal
                    return result
                result.applied.append(action)
                if on_applied is not None:
                    on_applied(action)
            if stale is None:
                return self._verified(target, result)
            if stale.startswith("DeleteConflict."):  # RAM has not caught up with our detach yet: wait
                if conflicts >= len(CONFLICT_WAITS):
                    raise NotConverged(f"{target.role_name}: {stale} persisted after waiting "
                                       f"{sum(CONFLICT_WAITS):.0f} s")
                delay = CONFLICT_WAITS[conflicts]
                if self.settings is not None and not self.settings.may_wait(delay):
                    raise NotConverged(f"{target.role_name}: {stale} persisted; no time left in this run to wait "
                                       f"{delay:.0f} s more (a later run finishes it)")
                conflicts += 1
                log.info("%s answered %s; waiting %.0f s for RAM to catch up, then re-reading",
                         action.api, stale, delay)
                if self.sleep is not None:
                    self.sleep(delay)
            else:
                rounds += 1
                if rounds >= MAX_ROUNDS:
                    raise NotConverged(f"{target.role_name}: still changing after {MAX_ROUNDS} rounds")
                log.info("state changed under us: %s answered %s; re-reading", action.api, stale)
