"""Approved uploaders, enforced by OSS itself instead of taken from the trigger event.

An OSS trigger event's `userIdentity.principalId` says who uploaded — but anyone allowed to
invoke the intake function can send an event naming whoever they like. So with
`ROLEPACT_APPROVED_UPLOADERS` set, rolepact accepts what `agreements/` holds only while the
bucket policy makes it impossible for anyone else to have written it (the *lock*), and it
checks that lock itself, on every event, from what OSS and RAM answer:

- every RAM user of the owner account that is not approved is denied `oss:PutObject`,
  `oss:DeleteObject` and `oss:DeleteObjectVersion` (a versioned bucket) on `agreements/*` by a
  bucket-policy Deny that names its UID;
- every role session is denied the same (`arn:sts::*:*/*/*`): a session cannot be singled
  out in a bucket policy, so approved uploaders are RAM users (their UID) or the root account;
- no bucket-policy Allow grants those writes to anyone else (another account, `*`).

Only unconditional Deny statements count: OSS evaluates the documented Principal forms
(account and RAM-user UIDs, `arn:sts::…` session patterns) but accepts condition keys it
does not enforce (`acs:PrincipalArn` in a bucket policy is accepted and ignored), so a
Deny "for everyone except …" written with a condition proves nothing. The owner's root
account is exempt from every such Deny (OSS: a `*` or UID statement without Condition never
binds the bucket owner) — it is the account's administrator anyway. RAM principals of
other accounts get nothing on the bucket unless its policy allows it (checked above).
Sources: docs/fake-fidelity.md, "OSS bucket policy".
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from shared.errors import CloudError
from shared.records import AGREEMENTS

WRITE_ACTIONS = ("oss:PutObject", "oss:DeleteObject", "oss:DeleteObjectVersion")  # every way to change what intake reads
ALL_SESSIONS = "arn:sts::*:*/*/*"
# Role sessions with unusual names: a Deny pattern must match them all to cover every session.
_SESSION_PROBES = ("arn:sts::{account}:assumed-role/a/b", "arn:sts::{account}:assumed-role/Ops.Admin-1/x@y.z-9")


LOCK_SEEN = "state/uploader-lock.json"  # since when rolepact has seen this very lock in place


@dataclass(frozen=True)
class LockCheck:
    enforced: bool
    problems: tuple[str, ...] = ()
    fingerprint: str = ""  # the policy, users, approved uploaders and ACL the judgement was made on
    since: datetime | None = None  # enforced: first seen (unchanged) at; older content is not vouched for


def lock_statements(settings, user_ids: list[str]) -> list[dict]:
    """The bucket-policy statements that make ROLEPACT_APPROVED_UPLOADERS true for these RAM users."""
    approved = settings.guardrails.approved_uploaders or frozenset()
    resource = f"acs:oss:*:{settings.account_id}:{settings.bucket}/{AGREEMENTS}*"
    statements = []
    denied = sorted(uid for uid in user_ids if uid not in approved)
    if denied:
        statements.append({"Effect": "Deny", "Action": list(WRITE_ACTIONS), "Principal": denied,
                           "Resource": [resource]})
    statements.append({"Effect": "Deny", "Action": list(WRITE_ACTIONS), "Principal": [ALL_SESSIONS],
                       "Resource": [resource]})
    return statements


def lock_policy(settings, user_ids: list[str]) -> dict:
    return {"Version": "1", "Statement": lock_statements(settings, user_ids)}


def check_lock(settings, gateways) -> LockCheck:
    """Does the bucket, as OSS holds it now, enforce the approved uploaders — and since when has rolepact
    seen it so? What cannot be read (permissions) counts as not enforced; throttling and 5xx are raised,
    so FC retries."""
    try:
        check = judge_lock(settings, gateways.store.get_bucket_policy(), list(gateways.ram.iter_users()),
                           gateways.store.bucket_acl())
    except CloudError as error:
        if error.retryable:
            raise
        return LockCheck(False, (f"cannot read the bucket policy, its ACL and the RAM users: {error.code} (the "
                                 f"service role needs oss:GetBucketPolicy, oss:GetBucketAcl and ram:ListUsers)",))
    return _observed(settings, gateways.store, check)


def _observed(settings, store, check: LockCheck) -> LockCheck:
    """The lock vouches only for content written while it held. Rolepact cannot ask OSS since when a bucket
    policy is in place, so it records when it first saw this lock (policy, users, approved uploaders and
    ACL unchanged, `LOCK_SEEN`), rounded up to the next second (OSS's Last-Modified has whole seconds);
    content older than that was written when anyone may have been able to write it. Any change starts
    over; a lock seen missing forgets the record."""
    seen = store.get_json(LOCK_SEEN)
    if not check.enforced:
        if seen is not None:
            _quietly(lambda: store.delete(LOCK_SEEN))
        return check
    try:
        since = datetime.strptime(str((seen or {}).get("since")), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        since = None
    if since is None or seen.get("fingerprint") != check.fingerprint:
        now = settings.now().astimezone(timezone.utc)
        since = now.replace(microsecond=0) + (timedelta(seconds=1) if now.microsecond else timedelta(0))
        _quietly(lambda: store.put_json(LOCK_SEEN, {"fingerprint": check.fingerprint,
                                                    "since": since.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    return replace(check, since=since)


def _quietly(write) -> None:
    """A record write that may fail (a read-only caller, e.g. `rolepact bucket-policy` without rights to
    state/): the lock is then judged again, from a later moment, by the next run."""
    try:
        write()
    except CloudError:
        pass


def judge_lock(settings, policy: dict | None, users: list[tuple[str, str]], acl: str | None = None) -> LockCheck:
    """Pure: does `policy` (the bucket policy, any shape) enforce the approved uploaders for `users`
    ((name, UID) of every RAM user of the account), on a bucket whose ACL is `acl`?"""
    approved = settings.guardrails.approved_uploaders or frozenset()
    fingerprint = hashlib.sha256(json.dumps({"policy": policy, "users": sorted(uid for _, uid in users),
                                             "approved": sorted(approved), "acl": acl}, sort_keys=True,
                                            default=str).encode("utf-8")).hexdigest()
    if acl == "public-read-write":
        return LockCheck(False, ("the bucket's ACL is public-read-write: anyone, anonymous callers included, can "
                                 f"write {AGREEMENTS}, and a bucket-policy Deny that names RAM users and role "
                                 "sessions does not bind them; set the ACL to private",), fingerprint)
    if not isinstance(policy, dict):
        return LockCheck(False, ("the bucket has no bucket policy",), fingerprint)
    statements = [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]
    # The resource OSS matches a request against: its docs write the region as `*`, a policy may name it.
    # A Deny counts only if it matches every form, letter case included (object keys are case-sensitive);
    # an Allow counts against the lock if it matches any form in any case.
    probes = [f"acs:oss:{region}:{settings.account_id}:{settings.bucket}/{AGREEMENTS}probe.json"
              for region in ("*", settings.region)]
    denies = [s for s in statements if s.get("Effect") == "Deny" and "Condition" not in s
              and _covers(s.get("Action"), WRITE_ACTIONS)
              and all(_matches_any(s.get("Resource"), probe, exact=True) for probe in probes)]
    problems = []
    for name, uid in users:
        if uid not in approved and not any(_names(s.get("Principal"), uid) for s in denies):
            problems.append(f"RAM user {name} ({uid}) is not approved but no unconditional bucket-policy Deny keeps "
                            f"it from writing {AGREEMENTS}")
    sessions = [p.format(account=settings.account_id) for p in _SESSION_PROBES]
    if not any(all(_names(s.get("Principal"), probe_arn) for probe_arn in sessions) for s in denies):
        problems.append(f"no unconditional bucket-policy Deny keeps role sessions ({ALL_SESSIONS}) from writing "
                        f"{AGREEMENTS}")
    for statement in statements:
        if statement.get("Effect") == "Allow" and any(_grants_write(statement, probe) for probe in probes) and \
                not all(isinstance(p, str) and p in approved for p in _as_list(statement.get("Principal")) or ["*"]):
            problems.append(f"a bucket-policy Allow lets {json.dumps(statement.get('Principal'))} write {AGREEMENTS}")
    known = {uid for _, uid in users} | {settings.account_id}
    for uploader in sorted(approved - known):
        problems.append(f"approved uploader {uploader!r} is neither a RAM user UID nor the account {settings.account_id}"
                        f" (role sessions cannot be singled out in a bucket policy)")
    return LockCheck(not problems, tuple(problems), fingerprint)


def _grants_write(statement: dict, probe: str) -> bool:
    actions = _as_list(statement.get("Action"))
    return any(_match(pattern, action) for pattern in actions for action in WRITE_ACTIONS) and \
        _matches_any(statement.get("Resource"), probe)


def _covers(patterns, actions: tuple[str, ...]) -> bool:
    """A Deny's actions cover these, spelled exactly so (conservative: OSS documents them in this case)."""
    return all(any(_match(p, action, exact=True) for p in _as_list(patterns)) for action in actions)


def _matches_any(patterns, value: str, *, exact: bool = False) -> bool:
    return any(_match(p, value, exact=exact) for p in _as_list(patterns))


def _names(principals, who: str) -> bool:
    """Whether a Deny's principals name `who` (exactly: a pattern in another case may not bind)."""
    items = _as_list(principals)
    if principals == [] or "*" in items:
        return True
    return any(isinstance(p, str) and (p == who or (p.startswith("arn:sts::") and _match(p, who, exact=True)))
               for p in items)


def _match(pattern, value: str, *, exact: bool = False) -> bool:
    """OSS wildcards (`*`, `?`); case-insensitive unless `exact` (what can only widen an Allow)."""
    if not isinstance(pattern, str):
        return False
    pattern = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(value, pattern) if exact else fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
