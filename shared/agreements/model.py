"""The agreement as rolepact understands it, after validation (`rolepact/v1`).

Only `parse.py` builds these; everything downstream can trust the values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

API_VERSION = "rolepact/v1"
ON_EXPIRY_DELETE_ROLE = "delete-role"
ON_EXPIRY_REMOVE_TRUST = "remove-trust"


@dataclass(frozen=True)
class Party:
    account_id: str
    alias: str | None = None

    @property
    def display(self) -> str:
        return self.alias or self.account_id


@dataclass(frozen=True)
class PolicyGrant:
    type: str  # "System" | "Custom"
    name: str
    document: dict | None = None  # Custom only


@dataclass(frozen=True)
class AccessConditions:
    external_id: str | None = None
    require_mfa: bool = False
    source_ip_ranges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    owner: Party
    partner: Party
    principals: tuple[str, ...]  # "root" | "user/<name>" | "role/<name>" of the partner account
    role_name: str
    role_description: str
    max_session_duration: int
    policies: tuple[PolicyGrant, ...]
    starts_at: datetime | None  # None: active from the first time rolepact applies it
    expires_at: datetime
    on_expiry: str
    conditions: AccessConditions = field(default_factory=AccessConditions)
    source_key: str = ""  # the OSS key it was read from
    digest: str = ""  # sha256 hex of the file's bytes

    def principal_arns(self) -> tuple[str, ...]:
        """RAM principal ARNs of the partner, as a trust policy names them."""
        return tuple(f"acs:ram::{self.partner.account_id}:{p}" for p in self.principals)

    @property
    def system_policies(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.policies if p.type == "System")

    @property
    def custom_policies(self) -> tuple[PolicyGrant, ...]:
        return tuple(p for p in self.policies if p.type == "Custom")
