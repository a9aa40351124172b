"""The agreements as the audit sees them, built from the status records.

Every status record whose applied agreement can be read is included: active, scheduled and
ended ones — activity after an agreement ended must still be tied to it (and flagged).
A role name can only belong to one view; when several agreements used the same role over
time, the live one wins, else the one that ended last.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.audit.model import AgreementView
from shared.log import get_logger
from shared.records import Records

log = get_logger("audit.views")
LIVE_STATES = ("active", "scheduled")


def _view_of(records: Records, agreement_id: str) -> AgreementView | None:
    from shared.reconcile import _applied_agreement

    status = records.status(agreement_id)
    agreement = _applied_agreement(status)
    if agreement is None:
        return None
    try:
        return AgreementView.from_agreement(agreement, status)
    except (ValueError, TypeError) as problem:  # a hand-edited record must not stop the audit
        log.warning("status of %s cannot be audited: %s", agreement_id, problem)
        return None


def load_views(store, *, concurrency: int = 8) -> list[AgreementView]:
    records = Records(store)
    ids = list(records.iter_status_ids())
    if len(ids) > 4 and concurrency > 1:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(ids))) as pool:
            found = list(pool.map(lambda agreement_id: _view_of(records, agreement_id), ids))
    else:
        found = [_view_of(records, agreement_id) for agreement_id in ids]
    return pick_views(v for v in found if v is not None)


def _rank(view: AgreementView) -> tuple:
    return (view.state in LIVE_STATES and view.ended_reason is None, view.ends_at, view.agreement_id)


def pick_views(views) -> list[AgreementView]:
    """One view per role name (case-insensitive, as RAM compares them)."""
    by_role: dict[str, AgreementView] = {}
    for view in views:
        key = view.role_name.lower()
        held = by_role.get(key)
        if held is None or _rank(view) > _rank(held):
            by_role[key] = view
    return sorted(by_role.values(), key=lambda v: v.agreement_id)


def load_managed(store) -> tuple[list[str], list[str]]:
    """(role names, policy name prefixes) rolepact's records say it created — including a first grant
    whose status record is not written yet: what its service role may write (shared.ownership)."""
    from shared.documents import policy_prefix
    from shared.ownership import RoleLedger

    records = RoleLedger(store, clock=None).records()
    return [r.role_name for r in records], [policy_prefix(r.agreement_id) for r in records]
