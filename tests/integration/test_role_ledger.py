"""The role ledger (shared.ownership) on the real OSS and RAM gateways against fakecloud: who created a
role is decided by the RoleId rolepact recorded, with an intent that keeps two agreements from creating
one role at once and lets a run that died after CreateRole adopt what it created — and nothing else."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gateway_support import cloud, owner, trust  # noqa: F401

from shared.ownership import ADOPT_WINDOW, RoleLedger


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def create(gateways, name: str):
    return gateways.ram.create_role(name, trust("acs:ram::1345678901234567:root"), "hand-made", 3600)


def test_the_recorded_role_id_proves_ownership_and_nothing_else_does(owner):
    _, _, gateways = owner
    ledger = RoleLedger(gateways.store, Clock())
    assert ledger.intend("ecs-admin", "a") is None
    role = create(gateways, "ecs-admin")
    ledger.record("ecs-admin", "a", role.role_id)
    assert ledger.owner(gateways.ram.get_role("ecs-admin")) == "a"
    assert ledger.owner(gateways.ram.get_role("ecs-admin"), hints=("b",)) == "a"  # hints never override
    gateways.ram.delete_role("ecs-admin")
    create(gateways, "ecs-admin")  # re-created by hand: another RoleId
    assert ledger.owner(gateways.ram.get_role("ecs-admin")) is None
    ledger.forget("ecs-admin", role.role_id)
    assert ledger.get("ecs-admin") is None


def test_two_agreements_cannot_create_one_role_at_once_but_a_stale_intent_expires(owner):
    _, _, gateways = owner
    clock = Clock()
    ledger = RoleLedger(gateways.store, clock)
    assert ledger.intend("shared", "a") is None
    assert ledger.intend("shared", "b") == "a"  # a is creating it right now
    assert ledger.intend("shared", "a") is None  # a's own retry
    clock.now += ADOPT_WINDOW + timedelta(seconds=1)
    assert ledger.intend("shared", "b") is None  # a's intent is stale (a never created it)
    assert ledger.get("shared").agreement_id == "b"


def test_a_run_that_died_after_create_role_adopts_it_only_within_the_window(owner):
    _, _, gateways = owner
    clock = Clock()
    ledger = RoleLedger(gateways.store, clock)
    ledger.intend("crashed", "a")
    create(gateways, "crashed")  # ... and the run died before recording the RoleId
    assert ledger.owner(gateways.ram.get_role("crashed")) == "a"
    assert ledger.get("crashed").role_id == gateways.ram.get_role("crashed").role_id

    clock.now -= 2 * ADOPT_WINDOW  # an intent long before the role appeared: someone else made it
    ledger.intend("later", "a")
    create(gateways, "later")
    assert ledger.owner(gateways.ram.get_role("later")) is None
    assert ledger.get("later").role_id is None


def test_read_only_ledger_proves_but_writes_nothing(owner):
    _, _, gateways = owner
    clock = Clock()
    RoleLedger(gateways.store, clock).intend("planned", "a")
    create(gateways, "planned")
    reader = RoleLedger(gateways.store, clock, read_only=True)
    assert reader.owner(gateways.ram.get_role("planned")) == "a"
    assert reader.get("planned").role_id is None  # `rolepact plan` recorded nothing


def test_an_intent_adopts_only_the_role_it_announced_and_only_from_its_trust_policy(owner):
    """The intent records what CreateRole was asked to create: a role someone else created in the window (other
    trust policy) is not adopted, and a ListRoles row (no trust policy) proves nothing until GetRole shows it."""
    from shared.ownership import role_fingerprint

    _, _, gateways = owner
    ledger = RoleLedger(gateways.store, Clock())
    asked = role_fingerprint(trust("acs:ram::1345678901234567:root"), "hand-made", 3600)
    ledger.intend("announced", "a", created_as=asked)
    create(gateways, "announced")
    [row] = [r for r in gateways.ram.iter_roles() if r.name == "announced"]
    assert ledger.owner(row) is None and ledger.has_intent("announced")  # a ListRoles row: not provable
    assert ledger.owner(gateways.ram.get_role("announced")) == "a"

    ledger.intend("swapped", "a", created_as=asked)
    gateways.ram.create_role("swapped", trust("acs:ram::1456789012345678:root"), "hand-made", 3600)
    assert ledger.owner(gateways.ram.get_role("swapped")) is None
    assert ledger.get("swapped").role_id is None
