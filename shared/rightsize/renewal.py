"""Right-size at renewal time: the line in the first pre-expiry notice and in the daily digest.

Both write the proposal to `proposals/<agreementId>.json` (with the analysis beside it) and
carry one line per agreement:

    used 2 of 382 actions of AliyunECSFullAccess; proposal: `proposals/<agreementId>.json`

Nothing is applied: the owner renews by uploading the proposal over the agreement's file.

- The pre-expiry notice: only the first one for an `expiresAt` (the 7-day notice with the
  default offsets) — a later one, or a redelivered one, does not analyse again.
- The digest: every live agreement "at renewal", i.e. whose first notice point
  (`expiresAt` minus the largest of ROLEPACT_NOTICE_OFFSETS) has passed and which has not
  expired yet; the proposal is refreshed each day, so it follows the partner's latest work.

A failure here (the bucket or RAM not answering) never holds back the notice or the digest:
the line then says so and points to `rolepact rightsize`.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from shared.log import get_logger
from shared.notify import md_code, md_text
from shared.rightsize.analysis import PROPOSALS, analyse, default_since, write_proposal
from shared.rightsize.usage import load_usage

log = get_logger("rightsize.renewal")


def _plain(text) -> str:
    return str(text)


def line_of(analysis, key: str | None, *, markdown: bool = True) -> str:
    """`used 2 of 382 actions of …; proposal: `proposals/<id>.json`` (plain text for the HTML report)."""
    return line_of_data(analysis.to_dict(), key, markdown=markdown)


def line_of_data(data: dict, key: str | None, *, markdown: bool = True) -> str:
    """The same line from an analysis as `Analysis.to_dict()` gives it (and proposals/<id>.usage.json keeps it)."""
    text_of, code = (md_text, lambda t: f"`{md_code(t)}`") if markdown else (_plain, _plain)
    text = text_of(data.get("summary", ""))
    if key is None:
        return f"{text}; nothing to propose (no grant is proposed without recorded use)"
    text = f"{text}; proposal: {code(key)}"
    proposal = data.get("proposal") if isinstance(data.get("proposal"), dict) else {}
    left_out = [str(a) for a in proposal.get("notGranted") or []]
    if left_out:  # recorded as allowed, yet no agreed policy allows it: a mapping gap (or a forged event)
        names = ", ".join(code(a) for a in left_out[:3]) + (f" and {len(left_out) - 3} more" if len(left_out) > 3 else "")
        text += f" (leaves out {names}, used but allowed by no agreed policy: check before uploading)"
    problems = [p for p in proposal.get("problems") or [] if isinstance(p, dict)]
    if problems:
        first = problems[0]
        said = f"{first.get('path')}: {first.get('message')}" if first.get("path") else str(first.get("message"))
        text += f" (refused by the guardrails as it stands: {text_of(said)})"
    return text


def stored_lines(store, views, offsets, now_iso: str) -> dict[str, str]:
    """agreement id -> the plain right-size line of the analysis the last notice or digest stored
    (proposals/<id>.usage.json), for the agreements at renewal at `now_iso` — what `rolepact report
    --html` shows without analysing or writing anything itself."""
    lines = {}
    for view in views:
        if not at_renewal(view, offsets, now_iso):
            continue
        try:
            data = store.get_json(f"{PROPOSALS}{view.agreement_id}.usage.json")
        except ValueError:  # not JSON: nothing to show
            data = None
        if isinstance(data, dict) and isinstance(data.get("summary"), str):
            key = data.get("proposalKey") if isinstance(data.get("proposalKey"), str) else None
            lines[view.agreement_id] = (line_of_data(data, key, markdown=False)
                                        + f" (as analysed up to {data.get('until', '?')})")
    return lines


def _unavailable(agreement_id: str, error: Exception, *, markdown: bool = True) -> str:
    code = getattr(error, "code", type(error).__name__)
    bare, quote = (md_code, lambda t: f"`{md_code(t)}`") if markdown else (_plain, _plain)
    return f"right-size not available this time ({bare(code)}); run {quote(f'rolepact rightsize {agreement_id}')}"


def notice_note(settings, gateways, records, agreement, notice_id: str, earlier_notice_ids) -> str:
    """The paragraph the first pre-expiry notice of `agreement.expires_at` carries ('' for the others)."""
    agreement_id = agreement.agreement_id
    try:
        if any(records.notice_claimed(agreement_id, n) for n in (notice_id, *earlier_notice_ids)):
            return ""
        status = records.status(agreement_id) or {}
        analysis = analyse(agreement, status, settings=settings, gateways=gateways)
        key = write_proposal(gateways.store, analysis)
        line = line_of(analysis, key)
        if key is not None:
            line += (f". To renew with it, set its `expiresAt` and upload it over `{md_code(agreement.source_key)}`; "
                     f"nothing changes until you do.")
    except Exception as error:  # noqa: BLE001 - the notice goes out whatever happens here
        log.exception("right-size for the notice of %s failed", agreement_id, extra={"agreementId": agreement_id})
        line = _unavailable(agreement_id, error)
    return f"\n\n**Right-size at renewal:** {line}"


def at_renewal(view, offsets, now_iso: str) -> bool:
    """A live agreement whose first notice point has passed and that has not expired."""
    if view.ended_reason is not None or view.state not in ("active", "scheduled") or not view.ends_at:
        return False
    ends = datetime.fromisoformat(view.ends_at.replace("Z", "+00:00"))
    first_notice = ends - max(offsets, default=timedelta(0))
    return first_notice.strftime("%Y-%m-%dT%H:%M:%SZ") <= now_iso < view.ends_at


def digest_lines(settings, gateways, records, views) -> dict[str, tuple[str, str]]:
    """agreement id -> (Markdown line, plain-text line) for every agreement at renewal; the proposals
    are written once here, and both the DingTalk digest and its HTML page show the lines."""
    from shared.audit.storage import AuditStore
    from shared.documents import iso
    from shared.reconcile import _applied_agreement

    now = settings.now()
    due = [v for v in views if at_renewal(v, settings.notice_offsets, iso(now))]
    if not due:
        return {}
    try:
        found = [(records.status(v.agreement_id) or {}) for v in due]
        agreements = [(_applied_agreement(s), s) for s in found]
        agreements = [(a, s) for a, s in agreements if a is not None]
        starts = {a.agreement_id: default_since(a, s, now) for a, s in agreements}
        usage = load_usage(AuditStore(gateways.store), [a for a, _ in agreements], min(starts.values(), default=now),
                           now, starts=starts)
    except Exception as error:  # noqa: BLE001 - the digest goes out whatever happens here
        log.exception("right-size for the digest failed")
        return {v.agreement_id: (_unavailable(v.agreement_id, error),
                                 _unavailable(v.agreement_id, error, markdown=False)) for v in due}
    lines = {}
    for agreement, status in agreements:
        try:
            analysis = analyse(agreement, status, settings=settings, gateways=gateways,
                               usage=usage[agreement.agreement_id])
            key = write_proposal(gateways.store, analysis)
            lines[agreement.agreement_id] = (line_of(analysis, key), line_of(analysis, key, markdown=False))
        except Exception as error:  # noqa: BLE001
            log.exception("right-size of %s for the digest failed", agreement.agreement_id)
            lines[agreement.agreement_id] = (_unavailable(agreement.agreement_id, error),
                                             _unavailable(agreement.agreement_id, error, markdown=False))
    return lines


def section_of(lines: dict[str, tuple[str, str]]) -> str:
    """The digest's "Right-size at renewal" block ('' if no agreement is at renewal)."""
    if not lines:
        return ""
    return "#### Right-size at renewal\n" + "\n".join(f"- `{md_code(agreement_id)}`: {markdown}"
                                                      for agreement_id, (markdown, _) in lines.items())

