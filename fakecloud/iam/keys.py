"""Access keys of every account: permanent (root, RAM user) and STS temporary keys."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from fakecloud import ids


@dataclass
class StsSession:
    """What an STS token stands for: a session of a role, assumed by some principal."""

    role_account_id: str
    role_name: str
    role_id: str
    session_name: str
    session_policy: dict | None
    assumer_account_id: str
    assumer_kind: str  # "ram-user" | "assumed-role" | "service" (a service role session, e.g. FC)
    assumer_name: str  # user name, or "<role>:<session>"
    assumer_uid: str  # ActionTrail stsTokenPlayerUid: the account id of whoever assumed the role
    mfa: bool
    created: datetime
    source_identity: str | None = None


@dataclass
class AccessKey:
    access_key_id: str
    secret: str
    account_id: str
    kind: str  # "root" | "ram-user" | "sts"
    user_name: str | None
    created: datetime
    status: str = "Active"
    security_token: str | None = None
    expiration: datetime | None = None
    session: StsSession | None = None
    parent_key_id: str | None = None  # for STS keys: the key that called AssumeRole
    # A console logon (FakeCloud.console_logon), not an AccessKey pair: only such a session can
    # carry MFA ("acs:MFAPresent is true only after an MFA logon"; AccessKey calls never do).
    console: bool = False
    console_mfa: bool = False


@dataclass(frozen=True)
class Credentials:
    """What `add_account` and tests hand out: enough to build any SDK client."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None = None
    account_id: str | None = None


@dataclass
class CallerContext:
    """Per-key network facts a test can set: where the call comes from.

    `vpc_id`: the calls come through a VPC endpoint (acs:SourceVpc); what acs:SourceIp they
    carry then is `FakeCloud.vpc_source_ip`'s choice (none, or `source_ip` as a private address).
    """

    source_ip: str | None = None
    vpc_id: str | None = None


class KeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, AccessKey] = {}
        self._context: dict[str, CallerContext] = {}
        self._lock = threading.RLock()

    def add(self, key: AccessKey) -> AccessKey:
        with self._lock:
            self._keys[key.access_key_id] = key
        return key

    def new_permanent(self, account_id: str, kind: str, user_name: str | None, now: datetime) -> AccessKey:
        return self.add(AccessKey(ids.access_key_id(), ids.access_key_secret(), account_id, kind, user_name, now))

    def get(self, access_key_id: str) -> AccessKey | None:
        return self._keys.get(access_key_id)

    def remove(self, access_key_id: str) -> None:
        with self._lock:
            self._keys.pop(access_key_id, None)

    def for_user(self, account_id: str, user_name: str) -> list[AccessKey]:
        wanted = user_name.lower()
        return [k for k in list(self._keys.values())
                if k.kind == "ram-user" and k.account_id == account_id and (k.user_name or "").lower() == wanted]

    def set_context(self, access_key_id: str, *, source_ip: str | None = None, vpc_id: str | None = None) -> None:
        with self._lock:
            ctx = self._context.setdefault(access_key_id, CallerContext())
            if source_ip is not None:
                ctx.source_ip = source_ip
            if vpc_id is not None:
                ctx.vpc_id = vpc_id or None  # "" = back to the public endpoint

    def context_of(self, key: AccessKey) -> CallerContext:
        """Context set on this key, falling back along the chain of keys that assumed it."""
        merged = CallerContext()
        current: AccessKey | None = key
        while current is not None:
            ctx = self._context.get(current.access_key_id)
            if ctx:
                if merged.source_ip is None and merged.vpc_id is None:  # the nearest key that says wins
                    merged.source_ip, merged.vpc_id = ctx.source_ip, ctx.vpc_id
            current = self._keys.get(current.parent_key_id) if current.parent_key_id else None
        return merged

    def purge_expired(self, now: datetime) -> None:
        with self._lock:
            for key_id in [k for k, v in self._keys.items() if v.expiration and v.expiration < now]:
                del self._keys[key_id]
