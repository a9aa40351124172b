"""Agreement intake: an OSS trigger event -> one reconcile per object it names."""
from __future__ import annotations

from shared.errors import CloudError
from shared.events import parse_oss_event
from shared.log import get_logger
from shared.reconcile import Reconciler

log = get_logger("intake")


def handle_oss_event(event, settings, gateways) -> dict:
    """Process every record; a failure in one never stops the others.

    Retryable cloud failures are raised after all records ran, so FC's async retry
    redelivers the event (already-converged records then cost no writes).
    """
    records = parse_oss_event(event)
    reconciler = Reconciler(settings, gateways)
    outcomes, retry = [], None
    for record in records:
        if record.bucket != settings.bucket:
            log.warning("event for bucket %s ignored (rolepact reads %s)", record.bucket, settings.bucket)
            outcomes.append({"key": record.key, "result": "ignored"})
            continue
        key = _existing_key(record, gateways.store)
        try:
            outcome = reconciler.handle_object(key, uploader=record.principal_id, etag=record.etag or None,
                                               removed=record.removed)
            outcomes.append(outcome.to_dict())
        except CloudError as error:
            log.error("intake of %s failed: %s", key, error)
            outcomes.append({"key": key, "result": "failed", "error": error.to_dict()})
            if error.retryable:
                retry = error
    if retry is not None:
        raise retry
    return {"outcomes": outcomes}


def _existing_key(record, store) -> str:
    candidates = record.key_candidates()
    if len(candidates) == 1:
        return candidates[0]
    for key in candidates:
        if store.head(key) is not None:
            return key
    return candidates[-1]
