"""Service limits the fake enforces (real defaults; adjustable for scale tests)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    roles_per_account: int = 1000
    users_per_account: int = 1000
    custom_policies_per_account: int = 1500
    custom_policies_per_role: int = 10
    system_policies_per_role: int = 20
    custom_policies_per_user: int = 10
    system_policies_per_user: int = 20
    versions_per_policy: int = 5
    policy_document_chars: int = 6144
    trust_document_chars: int = 2048
    session_policy_chars: int = 2048
    access_keys_per_user: int = 2
    tags_per_resource: int = 20
    oss_object_bytes: int = 5 * 1024 ** 3
    oss_buckets_per_account: int = 100
