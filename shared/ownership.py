"""Which roles rolepact created: proved by its own records, never by a description or a tag.

A role's description and tags can be written by anyone with `ram:UpdateRole` / `ram:TagResources` on
it, so a `[rolepact:<id>]` mark proves nothing. What proves ownership is the role's **RoleId** —
immutable, assigned by RAM at CreateRole, and different for a role deleted and re-created under the
same name — recorded by rolepact when it created the role:

    state/roles/<role name, lowercased>.json
        {"roleName", "agreementId", "roleId", "intentAt", "createdAt", "migrated"}

The record is written in two steps around CreateRole: an *intent* (no RoleId yet; forbid-overwrite, so
two agreements cannot create the same role at once) just before the call, and the RoleId RAM returned
right after it. A run that died between the two adopts the role only if RAM created it within
ADOPT_WINDOW of the intent. After DeleteRole the record is removed.

Migration: status records written before this ledger existed have no RoleId. Such a role is adopted
once (`"migrated": true`) only if the status record of the agreement its description names is an
applied revision with exactly that role, and RAM created the role no later than that revision was
first applied and not more than MIGRATION_WINDOW before: a description forged on an older or newer
role never qualifies. Everything else is not rolepact's and is never modified.

These records live in the bucket next to the status records: like them, `state/` must be writable by
the FC service role only (docs/security.md).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shared.log import get_logger

log = get_logger("ownership")
ROLES = "state/roles/"
ADOPT_WINDOW = timedelta(minutes=15)  # CreateRole follows its intent within seconds; a crash is retried soon
CLOCK_SKEW = timedelta(minutes=1)  # between FC's clock and RAM's CreateDate
MIGRATION_WINDOW = timedelta(hours=1)  # a legacy first grant created its role shortly before it was recorded
LIVE_STATES = ("active", "scheduled")


@dataclass(frozen=True)
class RoleRecord:
    role_name: str
    agreement_id: str
    role_id: str | None  # None: an intent, CreateRole not confirmed yet
    intent_at: str | None = None
    created_at: str | None = None
    migrated: bool = False
    created_as: str | None = None  # role_fingerprint() of the CreateRole call the intent announced

    @classmethod
    def from_dict(cls, data: dict | None) -> "RoleRecord | None":
        if not isinstance(data, dict) or not isinstance(data.get("roleName"), str) \
                or not isinstance(data.get("agreementId"), str):
            return None
        role_id = data.get("roleId")
        return cls(data["roleName"], data["agreementId"], role_id if isinstance(role_id, str) and role_id else None,
                   _str(data.get("intentAt")), _str(data.get("createdAt")), data.get("migrated") is True,
                   _str(data.get("createdAs")))

    def to_dict(self) -> dict:
        return {"roleName": self.role_name, "agreementId": self.agreement_id, "roleId": self.role_id,
                "intentAt": self.intent_at, "createdAt": self.created_at, "migrated": self.migrated,
                "createdAs": self.created_as}


def role_fingerprint(trust: dict | None, description: str | None, max_session_duration: int | None) -> str:
    """What CreateRole was asked to create, as comparable with a role RAM returns (GetRole)."""
    text = json.dumps({"trust": trust, "description": description or "", "max": max_session_duration},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RoleLedger:
    """rolepact's record of the roles it created, in its bucket."""

    def __init__(self, store, clock, *, read_only: bool = False) -> None:
        self.store = store
        self.clock = clock  # () -> aware datetime (Settings.now)
        self.read_only = read_only  # `rolepact plan`: prove, but write nothing (no adoption recorded)

    @staticmethod
    def _path(role_name: str) -> str:
        return f"{ROLES}{role_name.lower()}.json"

    def get(self, role_name: str) -> RoleRecord | None:
        return RoleRecord.from_dict(self.store.get_json(self._path(role_name)))

    def records(self) -> list[RoleRecord]:
        found = []
        for key in self.store.iter_keys(ROLES):
            record = RoleRecord.from_dict(self.store.get_json(key))
            if record is not None:
                found.append(record)
        return found

    # -- writing around CreateRole / DeleteRole -----------------------------------------------------------
    def intend(self, role_name: str, agreement_id: str, created_as: str | None = None) -> str | None:
        """Before CreateRole (the role does not exist): note who is creating it, and what exactly
        (`created_as`, role_fingerprint). Returns the agreement that is creating it right now instead, or
        None. A record whose role is gone, or an old intent, is stale."""
        now = self.clock()
        entry = RoleRecord(role_name, agreement_id, None, _iso(now), created_as=created_as)
        if self.store.put_json(self._path(role_name), entry.to_dict(), forbid_overwrite=True):
            return None
        held = self.get(role_name)
        if held is not None and held.agreement_id != agreement_id and held.role_id is None \
                and held.intent_at and _parse(held.intent_at) > now - ADOPT_WINDOW:
            return held.agreement_id
        self.store.put_json(self._path(role_name), entry.to_dict())
        return None

    def record(self, role_name: str, agreement_id: str, role_id: str, *, migrated: bool = False) -> None:
        if self.read_only:
            return
        held = self.get(role_name)
        self.store.put_json(self._path(role_name), RoleRecord(
            role_name, agreement_id, role_id, held.intent_at if held else None, _iso(self.clock()),
            migrated).to_dict())

    def forget(self, role_name: str, role_id: str | None) -> None:
        """After DeleteRole: drop the record if it is about the role that was deleted."""
        held = self.get(role_name)
        if held is not None and (held.role_id is None or held.role_id == role_id):
            self.store.delete(self._path(role_name))

    # -- proof ----------------------------------------------------------------------------------------------
    def by_name(self) -> dict[str, RoleRecord]:
        """Every record by lower-cased role name: one listing for a run that looks at many roles."""
        return {record.role_name.lower(): record for record in self.records()}

    def owner(self, role, *, hints: tuple[str | None, ...] = (),
              known: dict[str, RoleRecord] | None = None) -> str | None:
        """The agreement that created `role` (a RoleSnapshot or RoleSummary), per these records; None if
        rolepact did not create it. `hints`: agreement ids whose status records may predate this ledger
        (the agreement being converged, the id in the role's description): only where to look for a
        legacy record to migrate from, never a proof. `known`: by_name() of this run, or None to read."""
        held = known.get(role.name.lower()) if known is not None else self.get(role.name)
        if held is not None:
            if held.role_id is not None:
                return held.agreement_id if held.role_id == role.role_id else None
            if self._created_after_intent(role, held):
                log.warning("role %s: adopting the role created for the intent of %s (a run stopped after "
                            "CreateRole)", role.name, held.agreement_id, extra={"agreementId": held.agreement_id})
                self.record(role.name, held.agreement_id, role.role_id)
                return held.agreement_id
            return None
        for hint in dict.fromkeys(h for h in hints if h):
            owner = self._migrate(role, hint)
            if owner is not None:
                return owner
        return None

    @staticmethod
    def _created_after_intent(role, held: RoleRecord) -> bool:
        """The role is the one the intent announced: created right after it, and exactly as asked. Anyone
        who may delete and create roles could put their own role under the name meanwhile (after a crash,
        within the window): it has the time right but not the trust policy, so it is never adopted. A role
        seen without its trust policy (a ListRoles row) cannot be proved yet."""
        created, intent = _parse(getattr(role, "create_date", None)), _parse(held.intent_at)
        if created is None or intent is None or not intent - CLOCK_SKEW <= created <= intent + ADOPT_WINDOW:
            return False
        if held.created_as is None:  # an intent written before fingerprints were recorded
            return True
        if not hasattr(role, "trust"):
            return False
        return role_fingerprint(role.trust, role.description, role.max_session_duration) == held.created_as

    def has_intent(self, role_name: str, known: dict[str, RoleRecord] | None = None) -> bool:
        """Whether an unconfirmed CreateRole intent is recorded for this name (provable only from GetRole)."""
        held = known.get(role_name.lower()) if known is not None else self.get(role_name)
        return held is not None and held.role_id is None

    def _migrate(self, role, agreement_id: str) -> str | None:
        from shared.reconcile import _applied_agreement

        status = self.store.get_json(f"status/{agreement_id}.json")
        applied = _applied_agreement(status)
        if applied is None or applied.role_name.lower() != role.name.lower():
            return None
        kept = status.get("state") in LIVE_STATES or (status.get("state") == "ended"
                                                      and status.get("onExpiry") == "remove-trust")
        first, created = _parse(status.get("firstAppliedAt") or status.get("appliedAt")), \
            _parse(getattr(role, "create_date", None))
        if not kept or first is None or created is None \
                or not first - MIGRATION_WINDOW <= created <= first + CLOCK_SKEW:
            return None
        log.warning("role %s: ownership migrated from the status record of %s (created %s, first applied %s)",
                    role.name, agreement_id, _iso(created), _iso(first), extra={"agreementId": agreement_id})
        self.record(role.name, agreement_id, role.role_id, migrated=True)
        return agreement_id


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
