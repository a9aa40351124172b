"""Immediate DingTalk alerts for high-severity findings: coalesced, once, never lost.

- Findings are grouped into *incidents*: a drift (`managed-role-changed`, made by someone in the
  owner account) is one incident per event; everything a partner's sessions do (activity after
  the end, an unknown principal, an outside IP, a sensitive action, ...) is one incident per rule,
  agreement, partner account and hour — never per session name, which the partner chooses freely
  (a thousand session names must not become a thousand alerts). The alert lists the sessions;
  later events of an incident already alerted go to the daily digest. The same event reaching
  both paths, or the overlap of two pulls, is the same incident.
- Each incident is alerted once (a forbid-overwrite marker under state/audit-alerts/), and all
  new incidents of one batch go in ONE message (split only when longer than DingTalk takes).
- The message is saved to reports/alerts/ before it is sent; sending goes through the
  Notifier: a refused or failed send (130101 after the gateway's back-off, 310000, no answer)
  leaves it in the outbox, which the enforcer drains every minute and the audit's timer run
  drains too. Audit alerts take at most `alerts_per_minute` sends a minute; more go straight
  to the outbox, keeping the robot under its 20-a-minute limit for everything else.

Order: incidents are checked (HEAD), the message saved, *then* the markers claimed, then the
message sent. A crash in between may alert twice; it never alerts zero times.
"""
from __future__ import annotations

import hashlib
from datetime import timezone

from shared.audit.model import Finding
from shared.audit.storage import ALERT_MARKERS, REPORTS
from shared.log import get_logger
from shared.notify import Notice, md_code, md_text, split_markdown

log = get_logger("audit.alerts")
LOGGED_INCIDENTS = 20  # a log line names this many; the saved report has every one
ALERT_SEVERITIES = frozenset({"high"})
PER_EVENT_RULES = frozenset({"managed-role-changed", "service-role-unmanaged-write"})
MAX_LISTED = 30
MAX_SESSIONS_LISTED = 5
RULE_TITLES = {
    "managed-role-changed": "managed role changed outside rolepact (drift)",
    "activity-after-end": "activity after the agreement ended",
    "activity-after-revocation": "activity after the agreement was revoked",
    "activity-before-start": "activity before the agreement started",
    "unknown-principal": "session assumed from another account",
    "unlisted-principal": "session name not among the listed principals",
    "source-ip-outside-ranges": "call from outside the agreed IP ranges",
    "sensitive-action": "sensitive action",
    "denied-burst": "burst of denied calls",
    "service-role-unmanaged-write": "rolepact's service role wrote RAM outside what rolepact manages",
}


def incident_of(finding: Finding) -> str:
    if finding.rule in PER_EVENT_RULES:
        basis = f"{finding.rule}|{finding.event_id}"
    else:
        basis = f"{finding.rule}|{finding.agreement_id}|{finding.partner_account}|{finding.event_time[:13]}"
    return f"{finding.rule}-{hashlib.sha256(basis.encode('utf-8')).hexdigest()[:20]}"


def alert_text(incidents: list[tuple[str, list[Finding]]]) -> tuple[str, str]:
    """Every value from an event (session names, IPs, actions, messages quoting them) is untrusted
    text: shown escaped, never as markdown that could form a link."""
    if len(incidents) == 1:
        first = incidents[0][1][0]
        title = f"rolepact audit alert: {RULE_TITLES.get(first.rule, first.rule)} ({first.agreement_id or 'no agreement'})"
    else:
        title = f"rolepact audit alert: {len(incidents)} high-severity incidents"
    lines = [f"### {md_text(title)}"]
    for incident, found in incidents[:MAX_LISTED]:
        first, last = found[0], found[-1]
        span = first.event_time if len(found) == 1 else f"{first.event_time} … {last.event_time}"
        where = f" from {first.source_ip}" if first.source_ip else ""
        sessions = sorted({f.session for f in found if f.session})
        who = ""
        if len(sessions) > 1:
            shown = ", ".join(sessions[:MAX_SESSIONS_LISTED])
            more = f" and {len(sessions) - MAX_SESSIONS_LISTED} more" if len(sessions) > MAX_SESSIONS_LISTED else ""
            who = f" · {len(sessions)} sessions: {shown}{more}"
        lines.append(f"- **{RULE_TITLES.get(first.rule, first.rule)}** · agreement `{md_code(first.agreement_id)}` · "
                     f"role `{md_code(first.role)}` · {md_text(span + where)}"
                     + (f" · {len(found)} events" if len(found) > 1 else "") + md_text(who)
                     + f"\n  {md_text(first.message)[:500]}")
    if len(incidents) > MAX_LISTED:
        lines.append(f"- … and {len(incidents) - MAX_LISTED} more incidents (see the daily digest)")
    lines.append("Further events of these incidents within the hour are not alerted again (whatever the session "
                 "names); they are in `rolepact report` and the daily digest.\n\n— rolepact")
    return title, "\n\n".join(lines)


def send_alerts(findings: list[Finding], *, audit_store, notifier, records, settings, config, source: str) -> dict:
    """Alert the new high-severity incidents among `findings`; returns what was done."""
    high = [f for f in findings if f.severity in ALERT_SEVERITIES]
    if not high:
        return {"incidents": 0}
    grouped: dict[str, list[Finding]] = {}
    for finding in sorted(high, key=lambda f: (f.event_time, f.event_id, f.rule)):
        grouped.setdefault(incident_of(finding), []).append(finding)
    store = audit_store.store
    new = [(incident, found) for incident, found in grouped.items()
           if store.head(f"{ALERT_MARKERS}{found[0].event_time[:10]}/{incident}") is None]
    if not new:
        return {"incidents": 0, "alreadyAlerted": len(grouped)}
    title, text = alert_text(new)
    now = settings.now().astimezone(timezone.utc)
    digest = hashlib.sha256("\n".join(i for i, _ in new).encode("utf-8")).hexdigest()[:16]
    key = f"{REPORTS}alerts/dt={now:%Y-%m-%d}/{now:%H%M%S}-{source}-{digest}.md"
    audit_store.put_report(key, text)
    claimed = [(i, found) for i, found in new if audit_store.claim_incident(found[0].event_time[:10], i)]
    if not claimed:  # a concurrent run alerted them between our check and our claim
        return {"incidents": 0, "alreadyAlerted": len(grouped)}
    if len(claimed) != len(new):
        title, text = alert_text(claimed)
    status = "disabled"
    if notifier.enabled:
        if audit_store.claim_alert_slot(now.strftime("%Y%m%dT%H%M"), config.alerts_per_minute):
            status = notifier.send(Notice(None, f"audit-alert:{digest}", title, text))
        else:  # over the audit's share of the robot's rate: the outbox sends it within minutes
            parts = split_markdown(text)
            for index, part in enumerate(parts):
                part_title = title if len(parts) == 1 else f"{title} ({index + 1}/{len(parts)})"
                records.enqueue({"title": part_title, "text": part, "agreementId": None}, now)
            status = "queued"
    log.warning("audit alert (%s): %d incidents, %s", source, len(claimed), status,
                extra={"report": key, "incidents": [i for i, _ in claimed[:LOGGED_INCIDENTS]]})  # all in the report
    return {"incidents": len(claimed), "alreadyAlerted": len(grouped) - len(claimed), "report": key,
            "status": status}
