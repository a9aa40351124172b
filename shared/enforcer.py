"""The expiry enforcer (every minute) and its fan-out worker.

Due work is found from `schedule/` markers — keys sorted by time, so a tick lists only
what is due plus one page — never by reading every agreement. Each due agreement is
reconciled with the same planner and executor as intake (activation, pre-expiry notices,
expiry per onExpiry). When more are due than one invocation should handle, batches go to
the `reconcile_worker` function by asynchronous fc2 invocation; a short lease per agreement
keeps the next tick from dispatching it again while a worker has it.

A failed agreement keeps its markers and is retried on the next tick; after
`failure_report_after` failures in a row it is reported. Other agreements never wait for it.
"""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.documents import iso
from shared.errors import CloudError, NotConverged
from shared.log import get_logger
from shared.reconcile import Reconciler
from shared.notify import Notice
from shared.records import CONTROL_REVOKE, ScheduleEntry

log = get_logger("enforcer")
LEASE = timedelta(minutes=5)
LEASES = "state/leases/"
KILL_SWITCH_DONE = "state/kill-switch/"


@dataclass
class TickReport:
    due: int = 0
    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dispatched: list[list[str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    outbox_sent: int = 0

    def to_dict(self) -> dict:
        return {"due": self.due, "processed": self.processed, "failed": self.failed,
                "dispatched": self.dispatched, "revoked": self.revoked, "outboxSent": self.outbox_sent}


class Enforcer:
    def __init__(self, settings, gateways) -> None:
        self.settings = settings
        self.gateways = gateways
        self.reconciler = Reconciler(settings, gateways)
        self.records = self.reconciler.records

    # -- the tick -------------------------------------------------------------------------------------
    def tick(self) -> TickReport:
        now = self.settings.now()
        report = TickReport()
        report.revoked = self.apply_kill_switches()
        due = self._group(self.records.due(now))
        report.due = len(due)
        ready = {agreement_id: entries for agreement_id, entries in due.items() if not self._leased(agreement_id, now)}
        if len(ready) > self.settings.fanout_threshold:
            report.dispatched = self._fan_out(sorted(ready), now)
        else:
            ok, failed = self.process(ready)
            report.processed, report.failed = ok, failed
        report.outbox_sent = self.reconciler.notifier.drain_outbox()
        log.info("tick: %d due, %d processed, %d failed, %d batches dispatched", report.due, len(report.processed),
                 len(report.failed), len(report.dispatched))
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
            for entry in due[agreement_id]:
                self.records.done(entry)
            return True

        ids = sorted(due)
        with ThreadPoolExecutor(max_workers=max(1, min(self.settings.max_concurrency, len(ids) or 1))) as pool:
            results = list(pool.map(one, ids))
        ok = [i for i, good in zip(ids, results) if good]
        return ok, [i for i, good in zip(ids, results) if not good]

    # -- fan-out -------------------------------------------------------------------------------------------
    def _fan_out(self, ids: list[str], now: datetime) -> list[list[str]]:
        size = max(1, self.settings.fanout_batch_size)
        batches = [ids[i:i + size] for i in range(0, len(ids), size)]
        sent = []
        for batch in batches:
            for agreement_id in batch:
                self.gateways.store.put_json(f"{LEASES}{agreement_id}.json", {"until": iso(now + LEASE)})
            try:
                self.gateways.fc.invoke_async(self.settings.worker_function,
                                              {"agreementIds": batch, "dueAt": iso(now)})
                sent.append(batch)
            except CloudError as error:  # the worker is unreachable: do this batch here instead
                log.error("fan-out failed (%s); processing %d agreements inline", error.code, len(batch))
                for agreement_id in batch:
                    self.gateways.store.delete(f"{LEASES}{agreement_id}.json")
                self.process(self._group(e for e in self.records.due(now) if e.agreement_id in batch))
        return sent

    def _leased(self, agreement_id: str, now: datetime) -> bool:
        lease = self.gateways.store.get_json(f"{LEASES}{agreement_id}.json")
        return bool(lease) and lease.get("until", "") > iso(now)

    def work(self, agreement_ids: list[str]) -> tuple[list[str], list[str]]:
        """The worker's job: reconcile what the enforcer handed over, then drop the leases."""
        wanted = set(agreement_ids)
        due = self._group(e for e in self.records.due(self.settings.now()) if e.agreement_id in wanted)
        for agreement_id in wanted - set(due):  # markers already cleared: still converge, cheaply
            due[agreement_id] = []
        ok, failed = self.process(due)
        for agreement_id in ok:
            self.gateways.store.delete(f"{LEASES}{agreement_id}.json")
        return ok, failed

    # -- kill switch -------------------------------------------------------------------------------------------
    def apply_kill_switches(self) -> list[str]:
        """Act on each `control/revoke-partner/<uid>` once (again only if it is dropped anew).

        The object stays as the partner's ban: intake refuses new agreements for that partner
        until it is deleted.
        """
        revoked = []
        for key in self.gateways.store.iter_keys(CONTROL_REVOKE):
            partner = key[len(CONTROL_REVOKE):].strip("/")
            meta = self.gateways.store.head(key)
            if not partner.isdigit() or meta is None:
                continue
            done = self.gateways.store.get_json(f"{KILL_SWITCH_DONE}{partner}.json") or {}
            dropped = iso(meta.last_modified) if meta.last_modified else ""
            if done.get("controlModified") == dropped:
                continue
            revoked += self.revoke_partner(partner)
            self.gateways.store.put_json(f"{KILL_SWITCH_DONE}{partner}.json",
                                         {"controlModified": dropped, "processedAt": iso(self.settings.now())})
        return revoked

    def revoke_partner(self, partner_account_id: str) -> list[str]:
        """End every live agreement of a partner now, and say so."""
        ended = []
        for agreement_id in list(self.records.iter_status_ids()):
            status = self.records.status(agreement_id) or {}
            if status.get("partnerAccountId") != partner_account_id or status.get("state") not in ("active", "scheduled"):
                continue
            try:
                self.reconciler.end(agreement_id, "revoked")
                ended.append(agreement_id)
            except (CloudError, NotConverged) as error:
                log.error("kill switch could not end %s yet: %s", agreement_id, error)
        title = f"rolepact kill switch: partner {partner_account_id} revoked"
        listing = "\n".join(f"- {a}" for a in ended) or "- no live agreement"
        self.reconciler.notifier.send(Notice(None, f"kill-switch:{partner_account_id}", title,
                                             f"### {title}\n\nEnded now:\n{listing}\n\nNew agreements with this "
                                             f"partner are refused until `{CONTROL_REVOKE}{partner_account_id}` "
                                             f"is deleted."))
        return ended

    @staticmethod
    def _group(entries) -> dict[str, list[ScheduleEntry]]:
        grouped: dict[str, list[ScheduleEntry]] = defaultdict(list)
        for entry in entries:
            grouped[entry.agreement_id].append(entry)
        return dict(grouped)


def handle_timer(event, settings, gateways) -> dict:
    """A timer tick — or FC's on-failure destination for a worker batch that exhausted its retries."""
    from shared.events import load_json, parse_timer_event

    payload = load_json(event) if event else {}
    if isinstance(payload, dict) and "requestContext" in payload:
        return report_failed_batch(payload, settings, gateways)
    parse_timer_event(event)
    return Enforcer(settings, gateways).tick().to_dict()


def report_failed_batch(destination: dict, settings, gateways) -> dict:
    """FC gave up on a worker batch: record it and tell people; the next ticks keep retrying."""
    import json

    try:
        ids = json.loads(destination.get("requestPayload") or "{}").get("agreementIds") or []
    except (TypeError, ValueError):
        ids = []
    context = destination.get("requestContext") or {}
    title = "rolepact: a reconcile batch failed after all retries"
    reconciler = Reconciler(settings, gateways)
    reconciler.notifier.send(Notice(None, f"failed-batch:{context.get('requestId')}", title,
                                    f"### {title}\n\nAgreements: {', '.join(ids) or '(unknown)'}\n\n"
                                    f"Condition: {context.get('condition')}; attempts: "
                                    f"{context.get('approximateInvokeCount')}. The enforcer retries them on its "
                                    f"next ticks; see their status records."))
    log.error("worker batch failed after retries: %s", ids)
    return {"failedBatch": ids}


def handle_worker(event, settings, gateways) -> dict:
    """Async payload {"agreementIds": [...]}; raises if any failed so FC retries the batch."""
    from shared.events import EventError, load_json

    payload = load_json(event)
    ids = payload.get("agreementIds") if isinstance(payload, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise EventError('the worker expects {"agreementIds": ["...", ...]}')
    ok, failed = Enforcer(settings, gateways).work(ids)
    if failed:
        raise RuntimeError(f"{len(failed)} agreements not reconciled: {', '.join(failed)}")
    return {"processed": ok}
