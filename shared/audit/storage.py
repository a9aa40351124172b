"""Where the access audit keeps what it saw, in rolepact's bucket (outside `agreements/`).

    audit/events/dt=<YYYY-MM-DD>/<source>-<HHMMSS>-<sha>.jsonl.gz     normalized events, by event day
    audit/findings/dt=<YYYY-MM-DD>/<source>-<HHMMSS>-<sha>.jsonl.gz   findings of those events, by event day
    audit/malformed/dt=<YYYY-MM-DD>/<source>-<HHMMSS>-<sha>.jsonl.gz  what could not be read, by arrival day
    reports/digest/<UTC stamp>.md, .json and .html                     daily digests, saved before sending
    reports/alerts/dt=<YYYY-MM-DD>/<HHMMSS>-<sha>.md                  immediate alerts, saved before sending
    state/audit-checkpoint.json                                        the pull checkpoint and the last digest
    state/audit-alerts/<YYYY-MM-DD>/<incident>                         an incident was alerted (once-only marker)
    state/audit-alerts/<YYYY-MM-DD>/slots/<minute>/<n>                 immediate-alert send slots (rate limit)

The markers under state/audit-alerts/ are only needed for a few days: an OSS lifecycle rule may
expire them after 30 days.

Objects are append-only and named by their content (a hash of the event ids), so the same
batch stored twice (an FC retry) lands on the same key. The same *event* can still be stored
twice — once by the EventBridge path, once by the LookupEvents path, or in the overlap of two
pulls — and that is by design: every reader de-duplicates by `eventId` (`load_events`), so an
event counts once however many paths brought it.

Everything is gzip JSON lines (one object per line, `mtime=0` so equal input gives equal bytes).
"""
from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone

from shared.audit.fastjson import loads
from shared.audit.normalize import load_event
from shared.log import get_logger

log = get_logger("audit.storage")
EVENTS = "audit/events/"
FINDINGS = "audit/findings/"
MALFORMED = "audit/malformed/"
REPORTS = "reports/"
CHECKPOINT = "state/audit-checkpoint.json"
ALERT_MARKERS = "state/audit-alerts/"


def day_of(iso_time: str) -> str:
    return iso_time[:10]


def days_between(start: datetime, end: datetime) -> list[str]:
    """Every UTC day touched by [start, end)."""
    first = start.astimezone(timezone.utc).date()
    last = (end - timedelta(microseconds=1)).astimezone(timezone.utc).date() if end > start else first
    days, current = [], first
    while current <= last:
        days.append(current.isoformat())
        current += timedelta(days=1)
    return days


def encode_lines(items: Iterable[dict]) -> bytes:
    text = "".join(json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
                   for item in items)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def decode_lines(data: bytes, load=loads) -> Iterator[dict]:
    """Lines of a stored object (each parsed with `load`); a damaged line is skipped (and logged), never fatal.

    Lines end at `\n` only: the JSON is written with `ensure_ascii=False`, so a value may hold
    U+2028 or other characters `str.splitlines` would cut an event at (and so drop it).
    """
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError) as problem:
        log.error("audit object is not gzip: %s", problem)
        return
    for line in raw.split(b"\n"):
        if not line:
            continue
        try:
            item = load(line)
        except ValueError:
            try:  # not UTF-8 (damaged bytes): read what can be read, as the text would
                item = load(line.decode("utf-8", "replace"))
            except ValueError:
                log.error("damaged line in an audit object skipped")
                continue
        if isinstance(item, dict):
            yield item


def _digest(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:16]


class AuditStore:
    def __init__(self, store) -> None:
        self.store = store

    # -- writes -------------------------------------------------------------------------------------
    def _put_by_day(self, prefix: str, source: str, items: list[dict], time_of, id_of) -> list[str]:
        by_day: dict[str, list[dict]] = {}
        for item in items:
            by_day.setdefault(day_of(time_of(item)), []).append(item)
        keys = []
        for day, batch in sorted(by_day.items()):
            batch.sort(key=lambda item: (time_of(item), id_of(item)))
            first = time_of(batch[0])[11:19].replace(":", "")
            key = f"{prefix}dt={day}/{source}-{first}-{_digest(id_of(i) for i in batch)}.jsonl.gz"
            self.store.put(key, encode_lines(batch), content_type="application/gzip")
            keys.append(key)
        return keys

    def put_events(self, source: str, events: list[dict]) -> list[str]:
        return self._put_by_day(EVENTS, source, events, lambda e: e["eventTime"], lambda e: e["eventId"])

    def put_findings(self, source: str, findings: list[dict]) -> list[str]:
        return self._put_by_day(FINDINGS, source, findings, lambda f: f["eventTime"], lambda f: f["id"])

    def put_malformed(self, source: str, items: list[dict], now: datetime) -> list[str]:
        arrived = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        stamped = [dict(item, arrivedAt=arrived) for item in items]
        return self._put_by_day(MALFORMED, source, stamped, lambda m: m["arrivedAt"],
                                lambda m: hashlib.sha256(m["raw"].encode("utf-8")).hexdigest())

    def put_report(self, key: str, text: str, data: dict | None = None) -> None:
        self.store.put(key, text.encode("utf-8"), content_type="text/markdown; charset=utf-8")
        if data is not None:
            self.store.put_json(key.rsplit(".", 1)[0] + ".json", data)

    def put_page(self, key: str, page: str) -> None:
        """A self-contained HTML report page (opened through a presigned link, or downloaded)."""
        self.store.put(key, page.encode("utf-8"), content_type="text/html; charset=utf-8")

    # -- reads --------------------------------------------------------------------------------------
    def _objects(self, prefix: str, days: list[str]) -> Iterator[bytes]:
        for day in days:
            for key in self.store.iter_keys(f"{prefix}dt={day}/"):
                data = self.store.get(key)
                if data is not None:
                    yield data

    def load_events(self, start: datetime, end: datetime, stats: dict | None = None) -> list[dict]:
        """Stored events with start <= eventTime < end, each eventId once, in time order.

        `stats`, if given, receives {"stored": lines read in the window, "duplicates": lines
        dropped because their eventId was already seen (another path, an overlap)}.
        """
        seen: dict[str, dict] = {}
        lines = 0
        for event in self.iter_events(start, end):
            lines += 1
            seen.setdefault(event["eventId"], event)
        if stats is not None:
            stats.update(stored=lines, duplicates=lines - len(seen))
        return sorted(seen.values(), key=lambda e: (e["eventTime"], e["eventId"]))

    def iter_events(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Every stored line with an eventId and start <= eventTime < end, one object at a time, by day;
        not de-duplicated (a reader that keeps a subset de-duplicates that subset itself)."""
        low, high = _iso(start), _iso(end)
        for data in self._objects(EVENTS, days_between(start, end)):
            for event in decode_lines(data, load_event):  # the fields the audit reads (all a stored event has)
                event_id, event_time = event.get("eventId"), event.get("eventTime")
                if isinstance(event_id, str) and isinstance(event_time, str) and low <= event_time < high:
                    yield event

    def count_malformed(self, start: datetime, end: datetime) -> int:
        low, high = _iso(start), _iso(end)
        return sum(1 for data in self._objects(MALFORMED, days_between(start, end))
                   for item in decode_lines(data) if low <= str(item.get("arrivedAt", "")) < high)

    # -- checkpoint ---------------------------------------------------------------------------------
    def checkpoint(self) -> dict:
        try:
            found = self.store.get_json(CHECKPOINT)
        except ValueError:  # damaged by hand: start again from the lookback, nothing is lost but time
            log.error("%s is not JSON; starting from the configured lookback", CHECKPOINT)
            found = None
        return found if isinstance(found, dict) else {}

    def put_checkpoint(self, state: dict) -> None:
        self.store.put_json(CHECKPOINT, state)

    # -- once-only alert markers ---------------------------------------------------------------------
    def claim_incident(self, day: str, incident: str) -> bool:
        return self.store.put_json(f"{ALERT_MARKERS}{day}/{incident}", {"incident": incident}, forbid_overwrite=True)

    def claim_alert_slot(self, minute: str, slots: int) -> bool:
        """One of `slots` immediate-alert sends in this UTC minute (`YYYYMMDDTHHMM`)."""
        for slot in range(slots):
            day = f"{minute[:4]}-{minute[4:6]}-{minute[6:8]}"
            if self.store.put_json(f"{ALERT_MARKERS}{day}/slots/{minute}/{slot}", {}, forbid_overwrite=True):
                return True
        return False


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def parse_day(text: str) -> date:
    return date.fromisoformat(text)
