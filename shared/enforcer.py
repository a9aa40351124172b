"""The expiry enforcer (every minute) and its fan-out worker.

How due work is found without reading every agreement each minute
-------------------------------------------------------------------
Intake writes wake-up markers `schedule/<UTC stamp>/<agreementId>/<kind>` (start, one per
notice offset, expire) whenever it applies a revision. OSS lists keys in byte order, so a
tick lists `schedule/` from the start and stops at the first marker in the future: it reads
what is due plus at most one page. A marker is deleted only after its agreement was
reconciled successfully; a failure keeps it, so the next tick retries. Markers are hints,
never the truth: the agreement is reconciled from its status record at the current time
(level-triggered), so a stale marker (an extension moved `expiresAt`, the file was deleted,
the agreement already ended) costs one status read and changes nothing. What keeps the
schedule correct when a marker is lost (deleted by hand, a crash between the status write and
the marker write): the role auditor re-creates the expire marker of every applied agreement
past its expiry, and RAM itself denies at `expiresAt` through the guard policy.

Fan-out
-------
When more agreements are due than `fanout_threshold`, they are handed to the
`reconcile_worker` function in batches of `fanout_batch_size` by asynchronous fc2 invocation
(FC retries a failed batch `maxAsyncRetryAttempts` times, then calls the on-failure
destination: this function, which reports it). Each batch carries its markers and a *lease*
`state/leases/<until>/<token>.json` naming its agreements; while the lease is live the next
ticks do not dispatch them again. The worker deletes the lease when the whole batch
succeeded; otherwise it stays until it expires (5 minutes), after which the next tick picks
up whatever is still due. The worker is idempotent: a batch delivered twice converges the
same way and revokes nothing twice.

Every agreement is reconciled on its own with bounded concurrency; a failure is logged,
counted in its status (reported after `failure_report_after` failures in a row) and never
stops the others.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.documents import iso
from shared.errors import CloudError, NotConverged
from shared.log import get_logger
from shared.notify import Notice, md_code, md_text
from shared.reconcile import Reconciler
from shared.killswitch import canonical_key
from shared.killswitch import scan as scan_kill_switches
from shared.records import SCHEDULE, ScheduleEntry, parse_stamp, stamp

log = get_logger("enforcer")
LEASE = timedelta(minutes=5)
LEASES = "state/leases/"
TICKS = "state/ticks/"  # one claim per minute of rolepact's clock: a redelivered timer event runs once
TICK_CLAIMS_KEPT = timedelta(hours=1)
KILL_SWITCH_DONE = "state/kill-switch/"
DISPATCH_CONCURRENCY = 16  # parallel fan-out dispatches (OSS PutObject + fc2 InvokeFunction each)
# Notices that belong to no agreement are claimed under these pseudo ids (state/notices/<id>/...),
# so that a redelivered destination event or a re-processed kill switch never repeats them.
ENFORCER_NOTICES = "_enforcer"


@dataclass
class TickReport:
    due: int = 0
    leased: int = 0
    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dispatched: list[list[str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    outbox_sent: int = 0

    def to_dict(self) -> dict:
        return {"due": self.due, "leased": self.leased, "processed": self.processed, "failed": self.failed,
                "dispatched": self.dispatched, "revoked": self.revoked, "outboxSent": self.outbox_sent}


def run_bounded(fn: Callable, items: Iterable, limit: int) -> list:
    """`[fn(item) for item in items]` on at most `limit` threads, in order, with the caller's log context.

    An exception that is not handled inside `fn` (a bug, or a crashed instance in the fake)
    is raised after every item ran: the others are not abandoned half-way.
    """
    items = list(items)
    if not items:
        return []
    if limit <= 1 or len(items) == 1:
        return [fn(item) for item in items]
    context = contextvars.copy_context()

    def call(item):
        return context.copy().run(fn, item)

    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(call, item) for item in items]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


class Enforcer:
    def __init__(self, settings, gateways) -> None:
        self.settings = settings
        self.gateways = gateways
        self.reconciler = Reconciler(settings, gateways)
        self.records = self.reconciler.records

    @property
    def store(self):
        return self.gateways.store

    # -- the tick -------------------------------------------------------------------------------------
    def tick(self) -> TickReport:
        now = self.settings.now()
        report = TickReport()
        try:
            report.revoked = self.apply_kill_switches()
        except CloudError as error:  # the kill switch is retried next tick; expiry must not wait for it
            log.error("kill switches not applied this tick: %s", error)
        due = self._group(self.records.due(now))
        report.due = len(due)
        leased = self._leased_ids(now) if due else set()
        ready = {agreement_id: entries for agreement_id, entries in due.items() if agreement_id not in leased}
        report.leased = len(due) - len(ready)
        if len(ready) > self.settings.fanout_threshold:
            report.dispatched, inline = self._fan_out(ready, now)
            if inline:
                report.processed, report.failed = self.process(inline)
        else:
            report.processed, report.failed = self.process(ready)
        try:
            report.outbox_sent = self.reconciler.notifier.drain_outbox()
        except CloudError as error:
            log.error("DingTalk outbox not drained this tick: %s", error)
        log.info("tick: %d due (%d leased), %d processed, %d failed, %d batches dispatched", report.due,
                 report.leased, len(report.processed), len(report.failed), len(report.dispatched))
        return report

    def process(self, due: dict[str, list[ScheduleEntry]]) -> tuple[list[str], list[str]]:
        """Reconcile each due agreement (bounded concurrency); clear its markers when it succeeds."""
        def one(agreement_id: str) -> bool:
            try:
                self.reconciler.reconcile(agreement_id)
            except (CloudError, NotConverged) as error:
                log.error("agreement %s not reconciled (retried next tick): %s", agreement_id, error,
                          extra={"agreementId": agreement_id})
                return False
            except Exception:  # a bug or a corrupt record must not stop the others; the markers stay
                log.exception("agreement %s could not be reconciled (retried next tick)", agreement_id,
                              extra={"agreementId": agreement_id})
                return False
            for entry in due[agreement_id]:
                try:
                    self.records.done(entry)
                except CloudError as error:  # harmless: the marker is seen again and costs one status read
                    log.warning("could not clear marker %s: %s", entry.marker, error)
            return True

        ids = sorted(due)
        with self.reconciler.notifier.batched():  # a mass expiry becomes one digest, not a flood
            results = run_bounded(one, ids, self.settings.max_concurrency)
        return ([i for i, good in zip(ids, results) if good], [i for i, good in zip(ids, results) if not good])

    def claim_tick(self, trigger_time: str = "") -> bool:
        """Claim the current minute of rolepact's own clock (forbid-overwrite); False if a run of this
        minute already did.

        The event's `triggerTime` is never the key: whoever may invoke the function could send
        future ones and claim the ticks of the next half hour, holding off expiry and the kill
        switch. A forged invocation can only run the current minute's tick early, which is harmless
        (every tick is level-triggered). Claims older than an hour are removed on the way.
        """
        now = self.settings.now()
        key = f"{TICKS}{stamp(now.replace(second=0, microsecond=0))}"
        if not self.store.put_json(key, {"triggerTime": str(trigger_time)[:64], "at": iso(now)},
                                   forbid_overwrite=True):
            return False
        oldest = stamp(self.settings.now() - TICK_CLAIMS_KEPT)
        for old in self.store.iter_keys(TICKS):
            if old[len(TICKS):] >= oldest:
                break
            try:
                self.store.delete(old)
            except CloudError:
                pass
        return True

    # -- fan-out -------------------------------------------------------------------------------------------
    def _fan_out(self, ready: dict[str, list[ScheduleEntry]], now: datetime):
        """Lease and dispatch batches; returns (dispatched batches, agreements to process here instead)."""
        size = max(1, self.settings.fanout_batch_size)
        ids = sorted(ready)
        batches = [ids[i:i + size] for i in range(0, len(ids), size)]

        def dispatch(batch: list[str]) -> bool:
            lease = self._lease_key(batch, now)
            payload = {"agreementIds": batch, "dueAt": iso(now), "lease": lease,
                       "markers": [e.marker for i in batch for e in ready[i]]}
            try:
                self.store.put_json(lease, {"agreementIds": batch, "until": iso(now + LEASE), "at": iso(now)})
                self.gateways.fc.invoke_async(self.settings.worker_function, payload)
                return True
            except CloudError as error:  # the worker is unreachable: do this batch here instead
                log.error("fan-out of %d agreements failed (%s); processing them here", len(batch), error.code)
                try:
                    self.store.delete(lease)
                except CloudError:
                    pass  # it expires on its own
                return False

        # dispatching is two short calls per batch (lease, InvokeFunction) and no RAM at all: wider
        sent = run_bounded(dispatch, batches, max(self.settings.max_concurrency, DISPATCH_CONCURRENCY))
        inline = {i: ready[i] for batch, ok in zip(batches, sent) if not ok for i in batch}
        return [batch for batch, ok in zip(batches, sent) if ok], inline

    @staticmethod
    def _lease_key(batch: list[str], now: datetime) -> str:
        token = hashlib.sha256(json.dumps([iso(now), batch]).encode("utf-8")).hexdigest()[:20]
        return f"{LEASES}{stamp(now + LEASE)}/{token}.json"

    def _leased_ids(self, now: datetime) -> set[str]:
        """Agreements held by a live lease. Expired leases are deleted on the way."""
        live, expired = [], []
        for key in self.store.iter_keys(LEASES):
            try:
                until = parse_stamp(key[len(LEASES):].split("/", 1)[0])
            except ValueError:
                continue
            (live if until > now else expired).append(key)
        for key in expired:
            try:
                self.store.delete(key)
            except CloudError:
                pass
        leases = run_bounded(self.store.get_json, live, self.settings.max_concurrency)
        return {agreement_id for lease in leases if lease for agreement_id in lease.get("agreementIds") or []}

    def lease_lost(self, lease: str | None, now: datetime) -> bool:
        """True when the batch's lease ended (a tick took the work back) or is gone (the batch is done).

        A late FC retry or a duplicated delivery of a batch then does nothing instead of racing
        the tick that took the work back (or the enforcer that processed the batch itself after
        a failed dispatch, which deletes the lease).
        """
        if not lease or not lease.startswith(LEASES):
            return False
        try:
            until = parse_stamp(lease[len(LEASES):].split("/", 1)[0])
        except ValueError:
            return False
        return until <= now or self.store.head(lease) is None

    def work(self, agreement_ids: list[str], markers: list[str] | None = None,
             lease: str | None = None) -> tuple[list[str], list[str]]:
        """The worker's job: reconcile what the enforcer handed over, clear its markers, drop the lease."""
        wanted = set(agreement_ids)
        now = self.settings.now()
        if self.lease_lost(lease, now):
            log.info("batch of %d agreements skipped: its lease %s ended or the batch is done", len(wanted), lease)
            return [], []
        if markers is None:  # an older payload: find the markers again
            due = self._group(e for e in self.records.due(now) if e.agreement_id in wanted)
        else:
            due = self._group(e for e in map(_entry, markers) if e is not None and e.agreement_id in wanted
                              and e.at <= now)
        for agreement_id in wanted - set(due):  # markers already cleared: still converge, cheaply
            due[agreement_id] = []
        ok, failed = self.process(due)
        if not failed and lease and lease.startswith(LEASES):
            self.store.delete(lease)
        return ok, failed

    # -- kill switch -------------------------------------------------------------------------------------------
    def apply_kill_switches(self) -> list[str]:
        """Act on each `control/revoke-partner/<uid>` (again only if it is dropped anew).

        The drop is marked as handled only once every live agreement of the partner has ended;
        until then each tick retries the ones that failed. The DingTalk notice goes out once
        per drop. The object stays as the record of the revocation; delete it to lift it.
        """
        revoked = []
        bans, unreadable = scan_kill_switches(self.store)
        for key in unreadable:
            self._report_unreadable(key)
        for partner, keys in sorted(bans.items()):
            metas = [(key, self.store.head(key)) for key in keys]
            drops = [f"{iso(meta.last_modified) if meta.last_modified else ''}/{meta.etag}" for _, meta in metas
                     if meta is not None]
            if not drops:
                continue
            # every spelling of this partner's ban counts (control/revoke-partner/<uid>/, ...): a new or
            # re-dropped one of them is a new drop
            dropped = drops[0] if len(drops) == 1 else hashlib.sha256("|".join(sorted(drops)).encode()).hexdigest()
            done = self.store.get_json(f"{KILL_SWITCH_DONE}{partner}.json") or {}
            if done.get("controlModified") == dropped:
                continue
            ended, pending = self.revoke_partner(partner, drop=dropped)
            revoked += ended
            if pending:
                log.error("kill switch for partner %s: %d agreements not ended yet, retried next tick: %s",
                          partner, len(pending), ", ".join(pending))
                continue
            self.store.put_json(f"{KILL_SWITCH_DONE}{partner}.json",
                                {"controlModified": dropped, "processedAt": iso(self.settings.now())})
        return revoked

    def _report_unreadable(self, key: str) -> None:
        """An object under control/revoke-partner/ that names no account id bans nobody — but whoever dropped
        it believes a partner is out: say so at once (once per object and upload)."""
        meta = self.store.head(key)
        if meta is None:
            return
        title = "rolepact: kill switch not understood"
        text = (f"### {title}\n\n`{md_code(key[:300])}` is under `control/revoke-partner/`, but its name does not "
                f"start with a partner's 16-digit account id, so **it revokes nobody**: no agreement was ended.\n\n"
                f"To revoke a partner, drop `{canonical_key('<16-digit account id>')}` (or run `rolepact revoke "
                f"--partner <account id>`); delete this object.\n\n— rolepact")
        self._send_once(f"kill-switch-unreadable:{key[:200]}:{meta.etag}", title, text, urgent=True)

    def revoke_partner(self, partner_account_id: str, *, drop: str = "") -> tuple[list[str], list[str]]:
        """End every live agreement of a partner now, and say so (once per drop of the kill switch).

        Returns (ended now, not ended yet because of a cloud failure).
        """
        ids = list(self.records.iter_status_ids())
        statuses = run_bounded(self.records.status, ids, self.settings.max_concurrency)
        targets = [agreement_id for agreement_id, status in zip(ids, statuses)
                   if status and partner_account_id in _partners_of(status)
                   and status.get("state") in ("active", "scheduled", "failed")]  # failed: maybe half-granted

        def end(agreement_id: str) -> bool:
            try:
                self.reconciler.end(agreement_id, "revoked")
                return True
            except (CloudError, NotConverged) as error:
                log.error("kill switch could not end %s yet: %s", agreement_id, error,
                          extra={"agreementId": agreement_id})
                return False
            except Exception:
                log.exception("kill switch could not end %s yet", agreement_id, extra={"agreementId": agreement_id})
                return False

        results = run_bounded(end, targets, self.settings.max_concurrency)
        ended = [a for a, ok in zip(targets, results) if ok]
        pending = [a for a, ok in zip(targets, results) if not ok]
        title = f"rolepact kill switch: partner {partner_account_id} revoked"
        listing = "\n".join(f"- {a}" for a in ended) or "- no live agreement"
        retrying = ("\n\nStill being ended (retried every minute):\n" + "\n".join(f"- {a}" for a in pending)
                    if pending else "")
        text = (f"### {title}\n\nEvery agreement of partner {partner_account_id} ends now.\n\nEnded:\n{listing}"
                f"{retrying}\n\nThe revocation is recorded in `{canonical_key(partner_account_id)}` (or another "
                f"spelling of it under `control/`).\n\n— rolepact")
        self._send_once(f"kill-switch:{partner_account_id}:{drop}", title, text, urgent=True)
        return ended, pending

    def _send_once(self, notice_id: str, title: str, text: str, *, urgent: bool = False) -> None:
        try:
            self.reconciler.notifier.send(Notice(ENFORCER_NOTICES, notice_id, title, text, urgent=urgent))
        except CloudError as error:
            log.error("could not send notice %s: %s", notice_id, error)

    @staticmethod
    def _group(entries) -> dict[str, list[ScheduleEntry]]:
        grouped: dict[str, list[ScheduleEntry]] = defaultdict(list)
        for entry in entries:
            grouped[entry.agreement_id].append(entry)
        return dict(grouped)


def _partners_of(status: dict) -> set[str]:
    """Whom a status record grants to: the partner of the revision the timers would apply (its agreementText,
    what reached RAM) — and the record's `partnerAccountId` too (a first grant that failed has no text). A
    record whose summary field disagrees with its text is not thereby out of the kill switch's reach."""
    from shared.reconcile import _applied_agreement

    found = {status["partnerAccountId"]} if isinstance(status.get("partnerAccountId"), str) else set()
    applied = _applied_agreement(status)
    if applied is not None:
        found.add(applied.partner.account_id)
    return found


def _entry(marker: str) -> ScheduleEntry | None:
    """A schedule marker key handed over in a worker payload, checked (it is deleted afterwards)."""
    if not isinstance(marker, str) or not marker.startswith(SCHEDULE):
        return None
    parts = marker[len(SCHEDULE):].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        return ScheduleEntry(marker, parse_stamp(parts[0]), parts[1], parts[2])
    except ValueError:
        return None


def handle_timer(event, settings, gateways) -> dict:
    """A timer tick — or FC's on-failure destination for a worker batch that exhausted its retries."""
    from shared.events import load_json, parse_timer_event

    payload = load_json(event) if event not in (b"", "", None) else {}
    if isinstance(payload, dict) and "requestContext" in payload:
        return report_failed_batch(payload, settings, gateways)
    timer = parse_timer_event(event)
    enforcer = Enforcer(settings, gateways)
    if not enforcer.claim_tick(timer.trigger_time):
        log.info("this minute's tick already ran (timer event of %s redelivered, or a second invocation)",
                 timer.trigger_time[:64])
        return {"duplicate": iso(settings.now())}
    return enforcer.tick().to_dict()


def report_failed_batch(destination: dict, settings, gateways) -> dict:
    """FC gave up on a worker batch: tell people (once); the next ticks retry it after its lease."""
    try:
        ids = json.loads(destination.get("requestPayload") or "{}").get("agreementIds") or []
    except (TypeError, ValueError, AttributeError):
        ids = []
    ids = [i for i in ids if isinstance(i, str)][:50]
    context = destination.get("requestContext") if isinstance(destination.get("requestContext"), dict) else {}
    title = "rolepact: a reconcile batch failed after all retries"
    # Everything here comes from the invocation payload, which anyone allowed to invoke the function can
    # forge: shown as escaped text, cut short (defang() at the sink breaks any link that is left).
    text = (f"### {title}\n\nAgreements: {md_text(', '.join(i[:80] for i in ids)) or '(unknown)'}\n\n"
            f"Condition: {md_text(str(context.get('condition'))[:100])}; attempts: "
            f"{md_text(str(context.get('approximateInvokeCount'))[:20])}.\n\n"
            f"Error: {md_text(str(destination.get('responsePayload') or '')[:500])}\n\n"
            f"The expiry enforcer retries them on its next ticks once their lease ends "
            f"({int(LEASE.total_seconds() // 60)} minutes); see their status records.\n\n— rolepact")
    Enforcer(settings, gateways)._send_once(f"failed-batch:{str(context.get('requestId'))[:100]}", title, text)
    log.error("worker batch failed after retries: %s", ids)
    return {"failedBatch": ids}


def handle_worker(event, settings, gateways) -> dict:
    """Async payload {"agreementIds": [...], "markers": [...], "lease": key}; raises if any failed so FC retries."""
    from shared.events import EventError, load_json

    payload = load_json(event)
    ids = payload.get("agreementIds") if isinstance(payload, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise EventError('the worker expects {"agreementIds": ["...", ...]}')
    markers = payload.get("markers")
    markers = [m for m in markers if isinstance(m, str)] if isinstance(markers, list) else None
    lease = payload.get("lease") if isinstance(payload.get("lease"), str) else None
    ok, failed = Enforcer(settings, gateways).work(ids, markers, lease)
    if failed:
        raise RuntimeError(f"{len(failed)} agreements not reconciled: {', '.join(failed)}")
    return {"processed": ok}
