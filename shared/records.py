"""rolepact's own records in the bucket, all outside `agreements/` so they never re-trigger intake.

    status/<agreementId>.json       what happened to an agreement (state, applied revision, actions, errors)
    status/_files/<key>.json        rejections that cannot be filed under an agreement (no id, duplicate id)
    state/claims/<agreementId>.json which file owns an agreement id (first writer wins: OSS forbid-overwrite)
    state/keys/<sha>.json           file key -> agreement id (a deleted file's event only names the key)
    state/notices/<id>/<notice>     a notice was sent (forbid-overwrite marker: each notice at most once)
    schedule/<UTC time>/<id>/<kind> wake-up hints for the expiry enforcer, listed in time order
    outbox/<time>-<id>.json         DingTalk messages waiting for a free slot (rate limit) or a working robot
    control/revoke-partner/<uid>    the kill switch
    proposals/<agreementId>.json    right-sized agreement proposed at renewal (never applied by itself)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from shared.log import get_logger

log = get_logger("records")

AGREEMENTS = "agreements/"
STATUS = "status/"
STATUS_FILES = "status/_files/"
CLAIMS = "state/claims/"
KEY_INDEX = "state/keys/"
NOTICES = "state/notices/"
SCHEDULE = "schedule/"
OUTBOX = "outbox/"
URGENT = "0-"  # outbox/0-<time>-<hash>.json: listed before outbox/<time>-... (times start with 2)
CONTROL_REVOKE = "control/revoke-partner/"
OWN_PREFIXES = ("status/", "state/", "schedule/", "outbox/", "audit/", "reports/", "control/", "proposals/")


def stamp(moment: datetime) -> str:
    """Sortable UTC time used in keys: 20270601T000000Z."""
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def is_agreement_key(key: str) -> bool:
    return key.startswith(AGREEMENTS) and key.endswith(".json") and len(key) > len(AGREEMENTS) + len(".json")


@dataclass(frozen=True)
class ScheduleEntry:
    marker: str
    at: datetime
    agreement_id: str
    kind: str


class Records:
    def __init__(self, store) -> None:
        self.store = store

    # -- status -----------------------------------------------------------------------------------------
    def status(self, agreement_id: str) -> dict | None:
        return self.store.get_json(f"{STATUS}{agreement_id}.json")

    def put_status(self, agreement_id: str, record: dict) -> None:
        self.store.put_json(f"{STATUS}{agreement_id}.json", record)

    def file_status_key(self, key: str) -> str:
        safe = quote(key, safe="")
        if len(safe) > 900:  # an escaped key can be three times as long as OSS allows
            safe = f"{safe[:200]}-{hashlib.sha256(key.encode('utf-8')).hexdigest()}"
        return f"{STATUS_FILES}{safe}.json"

    def put_file_status(self, key: str, record: dict) -> None:
        self.store.put_json(self.file_status_key(key), record)

    def iter_status_ids(self):
        for key in self.store.iter_keys(STATUS):
            if key.startswith(STATUS_FILES) or not key.endswith(".json"):
                continue
            yield key[len(STATUS):-len(".json")]

    # -- claims: one file per agreement id ----------------------------------------------------------------
    def claim(self, agreement_id: str, key: str) -> str | None:
        """Claim `agreement_id` for `key`; returns the *other* live file holding it, or None."""
        path = f"{CLAIMS}{agreement_id}.json"
        if self.store.put_json(path, {"agreementId": agreement_id, "sourceKey": key}, forbid_overwrite=True):
            return None
        holder = (self.store.get_json(path) or {}).get("sourceKey")
        if holder in (None, key):
            return None
        if self.store.head(holder) is not None:
            return holder
        self.store.put_json(path, {"agreementId": agreement_id, "sourceKey": key})  # stale claim: take it over
        return None

    def claim_holder(self, agreement_id: str) -> str | None:
        return (self.store.get_json(f"{CLAIMS}{agreement_id}.json") or {}).get("sourceKey")

    def release(self, agreement_id: str) -> None:
        self.store.delete(f"{CLAIMS}{agreement_id}.json")

    # -- key index -----------------------------------------------------------------------------------------
    def _index_path(self, key: str) -> str:
        return f"{KEY_INDEX}{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}.json"

    def remember_key(self, key: str, agreement_id: str, pending: dict | None = None) -> None:
        """`pending`: {"roleName", "onExpiry"} of a first grant about to touch RAM, kept until it is
        recorded, so that a grant that never completed (a crash, retries exhausted) can be ended."""
        path = self._index_path(key)
        entry = {"key": key, "agreementId": agreement_id, **({"pending": pending} if pending else {})}
        if (self.store.get_json(path) or {}) != entry:
            self.store.put_json(path, entry)

    def key_entry(self, key: str) -> dict:
        return self.store.get_json(self._index_path(key)) or {}

    def agreement_for_key(self, key: str) -> str | None:
        return self.key_entry(key).get("agreementId")

    def forget_key(self, key: str) -> None:
        self.store.delete(self._index_path(key))

    # -- notices sent at most once -----------------------------------------------------------------------------
    def _notice_path(self, agreement_id: str, notice_id: str) -> str:
        safe = quote(notice_id, safe="-_.")
        if len(safe) > 300:  # notice ids may contain an object key: stay far below OSS's 1023-byte key limit
            safe = f"{safe[:100]}-{hashlib.sha256(notice_id.encode('utf-8')).hexdigest()}"
        return f"{NOTICES}{agreement_id}/{safe}"

    def claim_notice(self, agreement_id: str, notice_id: str) -> bool:
        return self.store.put_json(self._notice_path(agreement_id, notice_id), {"notice": notice_id[:2000]},
                                   forbid_overwrite=True)

    def notice_claimed(self, agreement_id: str, notice_id: str) -> bool:
        return self.store.head(self._notice_path(agreement_id, notice_id)) is not None

    def unclaim_notice(self, agreement_id: str, notice_id: str) -> None:
        self.store.delete(self._notice_path(agreement_id, notice_id))

    # -- schedule --------------------------------------------------------------------------------------------------
    def schedule(self, agreement_id: str, at: datetime, kind: str) -> None:
        self.store.put_json(f"{SCHEDULE}{stamp(at)}/{agreement_id}/{kind}", {"agreementId": agreement_id, "kind": kind},
                            forbid_overwrite=True)

    def due(self, now: datetime, limit: int = 10_000) -> list[ScheduleEntry]:
        """Markers at or before `now`, oldest first; stops reading at the first future one."""
        entries = []
        for marker in self.store.iter_keys(SCHEDULE):
            parts = marker[len(SCHEDULE):].split("/")
            if len(parts) != 3:
                continue
            try:
                at = parse_stamp(parts[0])
            except ValueError:
                continue
            if at > now or len(entries) >= limit:
                break
            entries.append(ScheduleEntry(marker, at, parts[1], parts[2]))
        return entries

    def done(self, entry: ScheduleEntry) -> None:
        self.store.delete(entry.marker)

    # -- outbox -------------------------------------------------------------------------------------------------------
    def enqueue(self, message: dict, now: datetime, *, urgent: bool = False) -> str:
        """Queue a DingTalk message. Keys sort by time; `urgent` ones (the kill switch) sort before every
        other message (`0-` < `2…`), so a flood of lesser notices never holds them back."""
        digest = hashlib.sha256(json.dumps(message, sort_keys=True).encode()).hexdigest()[:16]
        key = f"{OUTBOX}{URGENT if urgent else ''}{stamp(now)}-{digest}.json"
        self.store.put_json(key, message, forbid_overwrite=True)
        return key

    def outbox(self, limit: int = 100) -> list[tuple[str, dict]]:
        items = []
        for key in self.store.iter_keys(OUTBOX):
            message = self.store.get_json(key)  # None: gone meanwhile, or not JSON at all
            if not (isinstance(message, dict) and isinstance(message.get("title"), str)
                    and isinstance(message.get("text"), str)):
                if message is not None or self.store.head(key) is not None:
                    log.error("outbox item %s is not a message rolepact wrote; removed", key)
                self.store.delete(key)  # it would sit at the head of the queue for good
                continue
            items.append((key, message))
            if len(items) >= limit:
                break
        return items
