"""Agreement intake: an OSS trigger event -> one reconcile per object it names."""
from __future__ import annotations

from shared.errors import CloudError
from shared.events import parse_oss_event
from shared.log import get_logger
from shared.reconcile import Reconciler, _etag

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
        try:
            keys = keys_of(record, gateways.store, reconciler.records)
        except CloudError as error:
            keys, retry = [], error if error.retryable else retry
            outcomes.append({"key": record.key, "result": "failed", "error": error.to_dict()})
        for key in keys:
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


def keys_of(record, store, records) -> list[str]:
    """The object keys an event is about, under every decoding of its key (events.key_candidates).

    A key that exists now is reconciled as it is (for an upload, preferring the candidate whose
    ETag is the event's); a key that no longer exists but is in rolepact's key index is a deleted
    agreement file, and is ended. Every match is reconciled — level-triggered, so a match that
    was not meant costs a read and changes nothing. No match: the key as sent (it is refused or
    ignored as such).
    """
    candidates = record.key_candidates()
    if len(candidates) == 1:
        return candidates
    found = {key: store.head(key) for key in candidates}
    present = [key for key in candidates if found[key] is not None]
    if record.created and record.etag:
        same = [key for key in present if _etag(found[key].etag) == _etag(record.etag)]
        present = same or present
    deleted = [key for key in candidates if found[key] is None and records.agreement_for_key(key) is not None]
    return present + deleted or [candidates[0]]
