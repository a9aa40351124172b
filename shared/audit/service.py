"""The access-audit function: two sources, one pipeline.

EventBridge (near real time, Write events only)
    CloudEvent(s) -> normalized events -> (only if one may concern an agreement) each *confirmed*
    with LookupEvents by its EventId -> the views -> pipeline -> store events and findings ->
    immediate alert for new high-severity incidents. A pushed event is only a hint: anyone
    allowed to invoke the function can send one, so what is stored, found and alerted is the
    record ActionTrail itself returns. An event ActionTrail does not know (yet: its lookup lags
    behind delivery) waits under audit/pending/ and is confirmed again by each timer run; one
    never confirmed within a day is dropped, having alerted nothing. A storage failure is raised,
    so FC's async retry delivers the batch again (the timer's pull would also find the events).

Timer (every 15 minutes: reads, and whatever EventBridge missed)
    1. drain the DingTalk outbox (messages refused earlier: rate limit, robot down); confirm the
       pushed events that wait under audit/pending/;
    2. pull LookupEvents from the checkpoint (minus an overlap for late events; first run: the
       lookback) to now, in windows of `chunk`, at most `max_chunks` windows and
       `time_budget_seconds` per run. Each window is queried in the deployment region and the
       global-events region (RAM/STS global events live only there), every page of 50 oldest
       first (FORWARD) straight into the pipeline (de-duplicated there, only what concerns an
       agreement kept), then stored — and only then the checkpoint moves to the window's end.
       Windows double while they are quiet (up to 7 days: an outage is crossed in a few) and
       halve when busy. Throttling is retried by the gateway; if it persists (or storing fails)
       the run stops there and the next run starts again from the same checkpoint;
    3. alert new high-severity incidents found by the pull;
    4. the daily digest, when due: the first run at or after `digest_hour` (UTC) whose pull has
       passed that boundary sends the report of [last digest boundary, this boundary), rebuilt
       from storage, saved to reports/digest/ before it is sent. The very first run only
       remembers the current boundary, so the first digest covers the first whole period.

De-duplication: inside a run by the pipeline (eventId); across runs by the ids stored in the
overlap (kept in the checkpoint); across paths at read time (storage.load_events). An event
received by both paths may be stored twice but is counted once, and alerted once.
"""
from __future__ import annotations

import hashlib
import time as _time
from datetime import datetime, timedelta, timezone
from itertools import islice

from shared.audit.alerts import send_alerts
from shared.audit.config import STS_LINK_CAP, audit_config
from shared.audit.normalize import bad, normalize_event, parse_payload
from shared.audit.recorder import RecordingPipeline
from shared.audit.report import build_report, render_markdown
from shared.audit.storage import REPORTS, AuditStore, parse_iso
from shared.audit.views import load_managed, load_views
from shared.errors import CloudError
from shared.log import get_logger
from shared.notify import LINK_SLOT, Link, Notice, Notifier, md_code
from shared.records import Records
from shared.rightsize.renewal import digest_lines, section_of

PAGE_LABEL = "Open the HTML report (charts)"

log = get_logger("audit")
RETENTION = timedelta(days=90)  # ActionTrail keeps events this long
MAX_WINDOW = timedelta(days=7)  # pull windows grow (x2) up to this while they are quiet ...
GROW_BELOW = 2_000  # ... i.e. held fewer events than this
SHRINK_ABOVE = 20_000  # and shrink (/2, down to the configured chunk) when they held more
DIGEST_NOTICES = "_audit"
PENDING = "audit/pending/"  # pushed events ActionTrail has not confirmed yet
PENDING_MAX_AGE = timedelta(hours=24)
PENDING_PER_RUN = 200  # confirmed (or dropped) per timer run; a flood of forged events waits its turn
PENDING_PER_DELIVERY = 100  # kept from one invocation; more unconfirmed events than that are dropped
CONFIRM_MARGIN = timedelta(minutes=5)  # LookupEvents window around the claimed eventTime


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_title(start: datetime, end: datetime) -> str:
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    return f"rolepact access audit digest {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"


def handle_event(event, settings, gateways) -> dict:
    """FC entry point (through shared.runtime.run): EventBridge CloudEvents or a timer tick."""
    audit = AccessAudit(settings, gateways)
    payload = parse_payload(event)
    if payload.kind == "timer":
        return audit.timer_run(payload.timer)
    return audit.realtime(payload)


class AccessAudit:
    def __init__(self, settings, gateways, config=None) -> None:
        self.settings = settings
        self.gateways = gateways
        self.config = config or audit_config()
        self.store = AuditStore(gateways.store)
        self.records = Records(gateways.store)
        self.notifier = Notifier(settings, gateways, self.records)
        self.service_role = self.config.service_role_name.lower()

    # ================================================================================ EventBridge
    def may_concern_an_agreement(self, event: dict) -> bool:
        """Cheap test before loading any agreement: a role session that is not rolepact's own,
        or a change to a RAM role or policy made by anyone but rolepact."""
        from shared.audit.pipeline import CHANGE_EVENTS, IDENTITY_SERVICES

        identity = event.get("userIdentity") or {}
        if identity.get("type") == "assumed-role":
            if str(identity.get("userName", "")).split(":", 1)[0].lower() != self.service_role:
                return True
            # rolepact's own RAM writes: checked against what it manages (pipeline._service_role_event)
            return event.get("serviceName") in IDENTITY_SERVICES and event.get("eventRW") != "Read"
        return event.get("eventName") in CHANGE_EVENTS

    def realtime(self, payload) -> dict:
        now = self.settings.now()
        result = {"source": "eventbridge", "received": len(payload.events), "malformed": len(payload.malformed)}
        if payload.malformed:
            log.warning("%d malformed or unknown events stored under audit/malformed/", len(payload.malformed))
            self.store.put_malformed("eb", payload.malformed, now)
        candidates = [e for e in payload.events if self.may_concern_an_agreement(e)]
        result["candidates"] = len(candidates)
        if not candidates:
            return result
        confirmed, unconfirmed = [], []
        for event in candidates:
            found = self.confirm(event)
            (confirmed if found is not None else unconfirmed).append(found or event)
        if unconfirmed:
            self.keep_pending(unconfirmed, now)
        result["unconfirmed"] = len(unconfirmed)
        result.update(self._process(confirmed, "eb"))
        return result

    def _process(self, events: list[dict], source: str) -> dict:
        """Confirmed events -> pipeline -> stored events and findings -> alerts."""
        if not events:
            return {"stored": 0, "findings": 0}
        events = sorted(events, key=lambda e: (e["eventTime"], e["eventId"]))
        pipeline = RecordingPipeline.for_settings(load_views(self.gateways.store), self.settings, self.config,
                                                  managed=load_managed(self.gateways.store))
        for event in events:
            pipeline.feed(event)
        self._store(source, pipeline.kept, pipeline.findings)
        return {"stored": len(pipeline.kept), "findings": len(pipeline.findings),
                "alerts": self._alert(pipeline.findings, source)}

    # ================================================================================ confirmation
    def confirm(self, event: dict) -> dict | None:
        """The event as ActionTrail itself returns it (LookupEvents by EventId, near its claimed time,
        in the regions the pull reads), or None when ActionTrail does not know it (yet)."""
        event_id = event.get("eventId")
        try:
            at = parse_iso(str(event.get("eventTime")))
        except ValueError:
            return None
        if not isinstance(event_id, str) or not event_id or len(event_id) > 128:
            return None
        for region in self.regions():
            try:
                for raw in self.gateways.trail.lookup_events(at - CONFIRM_MARGIN, at + CONFIRM_MARGIN, region=region,
                                                             attributes=[("EventId", event_id)]):
                    found, problem = normalize_event(raw)
                    if problem is None and found["eventId"] == event_id:
                        return found
            except CloudError as error:  # cannot confirm now: it waits, the timer tries again
                log.warning("could not confirm event %s in %s: %s", event_id[:64], region, error.code)
        return None

    def keep_pending(self, events: list[dict], now: datetime) -> None:
        if len(events) > PENDING_PER_DELIVERY:
            log.warning("%d unconfirmed pushed events: only %d kept for confirmation", len(events),
                        PENDING_PER_DELIVERY)
        for event in events[:PENDING_PER_DELIVERY]:
            key = f"{PENDING}{hashlib.sha256(str(event.get('eventId')).encode('utf-8')).hexdigest()[:32]}.json"
            self.gateways.store.put_json(key, {"event": event, "firstSeen": _iso(now)}, forbid_overwrite=True)

    def retry_pending(self) -> dict:
        """Confirm what waits under audit/pending/: confirmed events are processed like pushed ones;
        what ActionTrail never confirmed within PENDING_MAX_AGE is dropped (it never alerts)."""
        store, now = self.gateways.store, self.settings.now()
        confirmed, dropped, waiting = [], 0, 0
        for key in islice(store.iter_keys(PENDING), PENDING_PER_RUN):
            item = store.get_json(key) or {}
            event = item.get("event") if isinstance(item.get("event"), dict) else {}
            found = self.confirm(event) if event else None
            try:
                first_seen = parse_iso(str(item.get("firstSeen")))
            except ValueError:
                first_seen = now - PENDING_MAX_AGE
            if found is not None:
                confirmed.append(found)
            elif now - first_seen < PENDING_MAX_AGE:
                waiting += 1
                continue
            else:
                dropped += 1
                log.warning("pushed event %s was never confirmed by ActionTrail: dropped",
                            str(event.get("eventId"))[:64])
            store.delete(key)
        result = {"confirmed": len(confirmed), "dropped": dropped, "waiting": waiting}
        if confirmed:
            result.update(self._process(confirmed, "eb"))
        return result

    def _store(self, source: str, events: list[dict], findings: list) -> None:
        if events:
            self.store.put_events(source, events)
        if findings:
            self.store.put_findings(source, [f.to_dict() for f in findings])

    def _alert(self, findings: list, source: str) -> dict:
        return send_alerts(findings, audit_store=self.store, notifier=self.notifier, records=self.records,
                           settings=self.settings, config=self.config, source=source)

    # ================================================================================ timer
    def regions(self) -> list[str]:
        regions = [self.settings.region]
        if self.config.global_region and self.config.global_region not in regions:
            regions.append(self.config.global_region)
        return regions

    def timer_run(self, timer: dict | None = None) -> dict:
        result: dict = {"source": "timer"}
        try:
            result["outboxSent"] = self.notifier.drain_outbox()
        except CloudError as error:
            log.error("could not drain the DingTalk outbox: %s", error)
        try:
            result["pending"] = self.retry_pending()
        except CloudError as error:  # retried by the next run
            log.error("could not confirm pending pushed events: %s", error)
        views = load_views(self.gateways.store)
        state = self.store.checkpoint()
        pipeline = RecordingPipeline.for_settings(views, self.settings, self.config,
                                                  managed=load_managed(self.gateways.store))
        stored_findings: list = []
        try:
            result["pull"] = self.pull(pipeline, state, stored_findings)
        finally:  # whatever was stored is alerted, even if a later window failed
            if stored_findings:
                result["alerts"] = self._alert(stored_findings, "pull")
        try:
            result["digest"] = self.maybe_digest(views, state)
        except CloudError as error:  # saved or not, the next run tries again (the notice is claimed once)
            log.error("access digest not done: %s", error)
            result["digest"] = {"sent": False, "error": error.to_dict()}
        return result

    def pull(self, pipeline: RecordingPipeline, state: dict, stored_findings: list | None = None) -> dict:
        config = self.config
        now = self.settings.now().astimezone(timezone.utc).replace(microsecond=0)
        until = parse_iso(state["until"]) if isinstance(state.get("until"), str) else None
        start = until - config.overlap if until is not None else now - config.lookback
        start = max(start, now - RETENTION + timedelta(minutes=5))
        recent: dict[str, str] = dict(state.get("recentIds") or {})
        report = {"from": _iso(start), "windows": 0, "fetched": 0, "skippedOverlap": 0, "stored": 0,
                  "findings": 0, "malformed": 0, "complete": False}
        began = _time.perf_counter()
        cursor, size = start, config.chunk
        while cursor < now:
            if report["windows"] >= config.max_chunks or (
                    report["windows"] and _time.perf_counter() - began > config.time_budget_seconds):
                break
            end = min(cursor + size, now)
            try:
                window = self._window(cursor, end, pipeline, recent)
                low = _iso(end - config.overlap)
                next_recent = {i: t for i, t in recent.items() if t >= low}
                next_recent.update((e["eventId"], e["eventTime"]) for e in window["kept"] if e["eventTime"] >= low)
                if len(next_recent) > config.max_recent_ids:
                    next_recent = dict(sorted(next_recent.items(), key=lambda kv: kv[1])[-config.max_recent_ids:])
                # Only now: everything up to `end` is stored.
                self.store.put_checkpoint(dict(state, until=_iso(end), recentIds=next_recent))
            except CloudError as error:  # throttled past the retries, OSS down: the checkpoint stays
                log.error("audit pull of %s..%s stopped: %s", _iso(cursor), _iso(end), error)
                report["error"] = error.to_dict()
                break
            state.update(until=_iso(end), recentIds=next_recent)
            recent = next_recent
            for name in ("fetched", "skippedOverlap", "stored", "findings", "malformed"):
                report[name] += window[name]
            if stored_findings is not None:
                stored_findings += window["found"]
            report["windows"] += 1
            cursor = end
            # Quiet stretches (a long outage) are crossed in growing windows, busy ones in smaller.
            if window["fetched"] < GROW_BELOW:
                size = min(size * 2, MAX_WINDOW)
            elif window["fetched"] > SHRINK_ABOVE:
                size = max(size / 2, config.chunk)
        report["until"] = state.get("until")
        report["complete"] = cursor >= now
        return report

    def _window(self, start: datetime, end: datetime, pipeline: RecordingPipeline, recent: dict) -> dict:
        """Pull [start, end] from every region, oldest first, page by page straight into the pipeline
        (only what concerns an agreement is kept, so memory does not grow with the window)."""
        fetched, malformed = 0, []
        kept_from, found_from = len(pipeline.kept), len(pipeline.findings)
        for region in self.regions():
            for raw in self.gateways.trail.lookup_events(start, end, region=region, direction="FORWARD"):
                fetched += 1
                event, problem = normalize_event(raw)
                if problem is not None:
                    malformed.append(bad(problem, raw))
                else:
                    pipeline.feed(event)  # the overlap too: a burst of denials may straddle two runs
        # ... but what the previous run already stored (the overlap) is not stored again.
        kept = [e for e in pipeline.kept[kept_from:] if e["eventId"] not in recent]
        found = [f for f in pipeline.findings[found_from:] if f.event_id not in recent]
        if malformed:
            self.store.put_malformed("pull", malformed, self.settings.now())
        self._store("pull", kept, found)
        return {"fetched": fetched, "skippedOverlap": len(pipeline.kept) - kept_from - len(kept),
                "stored": len(kept), "findings": len(found), "malformed": len(malformed), "kept": kept,
                "found": found}

    # ================================================================================ digest
    def boundary(self, now: datetime) -> datetime:
        """The latest digest boundary at or before `now` (today or yesterday at digest_hour UTC)."""
        now = now.astimezone(timezone.utc)
        boundary = now.replace(hour=self.config.digest_hour, minute=0, second=0, microsecond=0)
        return boundary if boundary <= now else boundary - timedelta(days=1)

    def maybe_digest(self, views, state: dict) -> dict:
        now = self.settings.now()
        boundary = self.boundary(now)
        digest_state = dict(state.get("digest") or {})
        last = digest_state.get("last")
        if not isinstance(last, str):  # first run: the first digest covers the first whole period
            digest_state["last"] = _iso(boundary)
            state["digest"] = digest_state
            self.store.put_checkpoint(state)
            return {"sent": False, "reason": "first run", "next": _iso(boundary + timedelta(days=1))}
        start = parse_iso(last)
        if start >= boundary:
            return {"sent": False, "reason": "not due", "next": _iso(boundary + timedelta(days=1))}
        pulled = state.get("until")
        if not isinstance(pulled, str) or parse_iso(pulled) < boundary:
            return {"sent": False, "reason": "waiting for the pull to pass the boundary", "boundary": _iso(boundary)}
        start = max(start, boundary - timedelta(days=self.config.max_digest_days))
        outcome = self.send_digest(views, start, boundary)
        digest_state["last"] = _iso(boundary)
        state["digest"] = digest_state
        self.store.put_checkpoint(state)
        return outcome

    def send_digest(self, views, start: datetime, end: datetime) -> dict:
        stats: dict = {}
        events = self.store.load_events(start, end, stats)
        report = build_report(views, events, since=start, until=end, settings=self.settings, config=self.config,
                              malformed=self.store.count_malformed(start, end), stored=stats)
        stamp = end.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        key = f"{REPORTS}digest/{stamp}.md"
        title = digest_title(start, end)
        rightsize = digest_lines(self.settings, self.gateways, self.records, views)
        paragraph, link = self.save_page(report.data, f"{REPORTS}digest/{stamp}.html",
                                         {agreement_id: plain for agreement_id, (_, plain) in rightsize.items()})
        text = render_markdown(report.data, title=title, link=paragraph, appendix=section_of(rightsize))
        # saved before it is sent, as it will read in DingTalk: a failed send loses nothing
        live = f"[{link.label}]({link.url})" if link else PAGE_LABEL
        self.store.put_report(key, text.replace(LINK_SLOT, live), report.data)
        status = self.notifier.send(Notice(DIGEST_NOTICES, f"digest:{stamp}", title, text, link=link))
        log.info("access digest %s: %s", key, status)
        return {"sent": status in ("sent", "queued"), "status": status, "report": key, "since": _iso(start),
                "until": _iso(end), "agreements": report.data["totals"]["agreements"],
                "events": report.data["totals"]["events"]}

    def save_page(self, data: dict, key: str, rightsize: dict[str, str] | None = None) -> tuple[str, Link | None]:
        """Render and save the digest's HTML page; returns the message's paragraph about it, with
        LINK_SLOT where the notifier puts the live link, and that link.

        The link is presigned for `report_link_lifetime`, capped at STS_LINK_CAP when signed with
        temporary credentials (always, on FC), so the expiry it states is the real one. A page that
        cannot be made never holds back the digest: the paragraph then says so.
        """
        from shared.audit.html import render_html

        try:
            self.store.put_page(key, render_html(data, title="rolepact access audit digest", rightsize=rightsize))
        except CloudError as error:
            log.error("digest page %s not saved: %s", key, error)
            return (f"HTML report not saved this time ({md_code(error.code)}): `rolepact report --html FILE` makes it.",
                    None)
        except Exception:  # noqa: BLE001 - a rendering bug must not cost the digest
            log.exception("digest page %s could not be rendered", key)
            return "HTML report not available this time: `rolepact report --html FILE` makes it.", None
        lifetime = self.config.report_link_lifetime
        if self.gateways.store.temporary_credentials:
            lifetime = min(lifetime, STS_LINK_CAP)
        url = self.gateways.store.presigned_get_url(key, int(lifetime.total_seconds()))
        expires = (self.settings.now() + lifetime).astimezone(timezone.utc)
        log.info("digest page %s saved; link valid until %s", key, _iso(expires))  # never the URL itself
        return (f"**{LINK_SLOT}** — link valid until {expires:%Y-%m-%d %H:%M} UTC; "
                f"after that the page stays in the bucket at `{md_code(key)}`."), Link(PAGE_LABEL, url)
