"""Snapshots of RAM as it is (read by the gateway) and as an agreement wants it (pure)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RoleSnapshot:
    name: str
    arn: str
    role_id: str
    description: str
    trust: dict | None  # parsed trust policy; None if RAM returned something unparseable
    max_session_duration: int
    tags: Mapping[str, str] = field(default_factory=dict)
    attached: frozenset[tuple[str, str]] = frozenset()  # (PolicyType, PolicyName)
    create_date: str = ""  # RAM's CreateDate (ISO 8601)


@dataclass(frozen=True)
class RoleSummary:
    """A ListRoles row: no trust policy (RAM does not list it)."""

    name: str
    arn: str
    role_id: str
    description: str
    max_session_duration: int
    tags: Mapping[str, str] = field(default_factory=dict)
    create_date: str = ""


@dataclass(frozen=True)
class PolicySnapshot:
    name: str
    policy_type: str
    document: dict | None  # default version; None when not read
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicySummary:
    name: str
    policy_type: str
    description: str
    default_version: str
    attachment_count: int
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActualState:
    """What RAM holds for one agreement: its role (if any) and the custom policies it owns."""

    role: RoleSnapshot | None
    policies: Mapping[str, PolicySnapshot] = field(default_factory=dict)  # by RAM policy name
    # policies with this agreement's names (`rp-<hash>-...`) that rolepact did not create: never
    # versioned or deleted (a plan that needs one of these names is refused)
    foreign: frozenset[str] = frozenset()
    # the agreement that created `role`, per rolepact's records (shared.ownership: its RoleId); None when
    # rolepact did not create it, whatever its description or tags say
    role_owner: str | None = None


@dataclass(frozen=True)
class DesiredRole:
    """The role an active (or scheduled) agreement should have, exactly."""

    agreement_id: str
    role_name: str
    description: str
    trust: dict
    max_session_duration: int
    tags: Mapping[str, str]
    guard_name: str
    guard_document: dict
    custom: Mapping[str, dict]  # RAM policy name -> document (without the guard)
    system: frozenset[str]
    policy_description: str = ""


@dataclass(frozen=True)
class EndedRole:
    """What is left of an agreement's role once it ended: nothing, or a role no partner can assume."""

    agreement_id: str
    role_name: str
    mode: str  # delete-role | remove-trust
    closed_trust: dict  # trust policy naming only the owner account (remove-trust)
    guard_name: str
