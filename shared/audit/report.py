"""The access report: per agreement, who did what, when, from where — and what looks wrong.

Built from *stored* normalized events (storage.load_events, de-duplicated by eventId) fed
through the same pipeline as the live paths, so the daily digest the function sends and
`rolepact report --since … --until …` render exactly the same thing for the same window.
Findings are recomputed with the views of now (an agreement ended since is flagged as ended).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from shared.audit.model import SEVERITY_ORDER, AgreementView
from shared.audit.recorder import RecordingPipeline

MAX_FINDINGS_LISTED = 20  # per agreement in the markdown (all of them are in the JSON)
TOP = 5


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(iso_time: str) -> str:
    return iso_time.replace("T", " ").replace("Z", " UTC") if iso_time else "?"


def _parse(iso_time: str) -> datetime:
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00"))


@dataclass
class Report:
    since: datetime
    until: datetime
    data: dict = field(default_factory=dict)
    markdown: str = ""

    @property
    def high_findings(self) -> int:
        return self.data.get("totals", {}).get("findings", {}).get("high", 0)


def person(view: AgreementView, player: str, session: str) -> str:
    """`company-b/alice` for the partner's own people; the raw account id for anyone else."""
    if player == view.partner_account:
        return f"{view.partner_alias}/{session}"
    return f"{player or '?'}/{session}"


def days_to_expiry(view: AgreementView, at: datetime) -> float | None:
    if not view.ends_at:
        return None
    return (_parse(view.ends_at) - at).total_seconds() / 86400


def build_report(views: Iterable[AgreementView], events: Iterable[dict], *, since: datetime, until: datetime,
                 settings, config, agreement_id: str | None = None, malformed: int = 0,
                 stored: dict | None = None, generated_at: datetime | None = None) -> Report:
    """`stored`: what storage.load_events reported ({"stored", "duplicates"})."""
    views = list(views)
    pipeline = RecordingPipeline.for_settings(views, settings, config, keep=False)
    for event in events:
        pipeline.feed(event)
    by_id = {v.agreement_id: v for v in views}
    findings_by_agreement: dict[str, list] = {}
    for finding in pipeline.findings:
        findings_by_agreement.setdefault(finding.agreement_id or "", []).append(finding)

    selected = []
    for view in views:
        if agreement_id is not None and view.agreement_id != agreement_id:
            continue
        live = view.ended_reason is None and view.ends_at > _iso(since)
        if view.agreement_id in pipeline.activity or view.agreement_id in findings_by_agreement or live:
            selected.append(view)

    agreements = []
    totals = {"agreements": 0, "events": 0, "reads": 0, "writes": 0, "denials": 0, "sessions": 0,
              "findings": {"high": 0, "medium": 0, "low": 0}, "changesByOthers": 0}
    for view in selected:
        stats = pipeline.activity.get(view.agreement_id)
        found = sorted(findings_by_agreement.get(view.agreement_id, []),
                       key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.event_time, f.rule))
        severities = {"high": 0, "medium": 0, "low": 0}
        for finding in found:
            severities[finding.severity] = severities.get(finding.severity, 0) + 1
        people = []
        if stats is not None:
            for (player, session), count in sorted(stats.people.items(), key=lambda kv: (-kv[1], kv[0])):
                people.append({"accountId": player, "session": session, "display": person(view, player, session),
                               "isPartner": player == view.partner_account, "events": count})
        days = days_to_expiry(view, until)
        changes = pipeline.changes.get(view.agreement_id, {"rolepact": 0, "others": 0})
        entry = {
            "agreementId": view.agreement_id, "role": view.role_name,
            "partner": {"accountId": view.partner_account, "alias": view.partner_alias},
            "principals": list(view.principals), "state": view.state,
            "startsAt": view.starts_at or None, "endsAt": view.ends_at, "endedReason": view.ended_reason,
            "daysToExpiry": None if days is None else round(days, 2),
            "events": stats.events if stats else 0, "reads": stats.reads if stats else 0,
            "writes": stats.writes if stats else 0, "denials": stats.denials if stats else 0,
            "sessions": len(pipeline.session_keys.get(view.agreement_id, ())),
            "sessionNames": sorted(stats.sessions) if stats else [],
            "people": people,
            "topActions": [[a, n] for a, n in stats.top(stats.actions, TOP)] if stats else [],
            "sourceIps": [[ip, n] for ip, n in stats.top(stats.source_ips, TOP)] if stats else [],
            "first": stats.first if stats else None, "last": stats.last if stats else None,
            "findings": severities, "changes": changes,
            # [hour, allowed, denied] for every hour with calls (the HTML report's timeline)
            "callsPerHour": [[f"{hour}:00:00Z", allowed, denied] for hour, (allowed, denied)
                             in sorted(pipeline.hourly.get(view.agreement_id, {}).items())],
            "findingList": [f.to_dict() for f in found],
        }
        agreements.append(entry)
        totals["agreements"] += 1
        for name in ("events", "reads", "writes", "denials", "sessions"):
            totals[name] += entry[name]
        for severity, count in severities.items():
            totals["findings"][severity] = totals["findings"].get(severity, 0) + count
        totals["changesByOthers"] += changes["others"]
    data = {
        "since": _iso(since), "until": _iso(until),
        "generatedAt": _iso(generated_at or settings.now()),
        "agreementFilter": agreement_id,
        "totals": totals,
        "input": {"storedEvents": (stored or {}).get("stored", pipeline.counts["events"]),
                  "duplicates": (stored or {}).get("duplicates", 0) + pipeline.counts["duplicates"],
                  "malformed": malformed + pipeline.counts["malformed"]},
        "agreements": agreements,
    }
    report = Report(since, until, data)
    report.markdown = render_markdown(data)
    return report


def _expiry_line(entry: dict) -> str:
    if entry["endedReason"]:
        return f"ended {_when(entry['endsAt'])} ({entry['endedReason']})"
    days = entry["daysToExpiry"]
    if days is None:
        return "no expiry"
    if days <= 0:
        return f"expired {_when(entry['endsAt'])}"
    return f"expires {_when(entry['endsAt'])} — **{math.ceil(days)} day{'s' if math.ceil(days) != 1 else ''}** left"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_markdown(data: dict, *, title: str | None = None, link: str = "", appendix: str = "") -> str:
    """`link`: a paragraph after the summary (the digest's link to its HTML page); `appendix`: a block
    added before the signature (the digest's right-size lines)."""
    totals = data["totals"]
    high, medium = totals["findings"].get("high", 0), totals["findings"].get("medium", 0)
    lines = [f"### {title or 'rolepact access audit'}",
             f"{_when(data['since'])} → {_when(data['until'])}",
             f"**{totals['agreements']}** agreement{'' if totals['agreements'] == 1 else 's'} · "
             f"**{totals['events']}** partner call{'' if totals['events'] == 1 else 's'} "
             f"({_count(totals['reads'], 'read')}, {_count(totals['writes'], 'write')}, {totals['denials']} denied) · "
             f"findings: **{high} high**, {medium} medium"
             + (f" · malformed inputs: {data['input']['malformed']}" if data["input"]["malformed"] else "")]
    if link:
        lines.append(link)
    if not data["agreements"]:
        lines.append("No agreement had activity in this period.")
    for entry in data["agreements"]:
        partner = entry["partner"]
        block = [f"#### {entry['agreementId']}",
                 f"- {partner['alias']} ({partner['accountId']}) → role **{entry['role']}** · {entry['state']} · "
                 f"{_expiry_line(entry)}"]
        if entry["events"]:
            block.append(f"- Activity: **{entry['events']}** calls ({entry['reads']} reads, {entry['writes']} writes), "
                         f"**{entry['denials']}** denied · {entry['sessions']} session{'' if entry['sessions'] == 1 else 's'} · "
                         f"{_when(entry['first'])} … {_when(entry['last'])}")
            block.append("- People: " + ", ".join(
                f"{p['display']}{'' if p['isPartner'] else ' ⚠ not the partner'} ({p['events']})"
                for p in entry["people"][:10]) + (f", … {len(entry['people']) - 10} more" if len(entry["people"]) > 10
                                                   else ""))
            block.append("- Top actions: " + ", ".join(f"`{a}` ({n})" for a, n in entry["topActions"]))
            block.append("- Source IPs: " + ", ".join(f"{ip or '?'} ({n})" for ip, n in entry["sourceIps"]))
        else:
            block.append("- No activity.")
        if entry["changes"]["others"]:
            block.append(f"- Changes to the role by someone other than rolepact: **{entry['changes']['others']}**")
        found = entry["findingList"]
        if found:
            severities = entry["findings"]
            block.append(f"- Findings: **{severities.get('high', 0)} high**, {severities.get('medium', 0)} medium, "
                         f"{severities.get('low', 0)} low")
            for finding in found[:MAX_FINDINGS_LISTED]:
                block.append(f"  - **{finding['severity']}** `{finding['rule']}` {_when(finding['eventTime'])}: "
                             f"{finding['message']}")
            if len(found) > MAX_FINDINGS_LISTED:
                block.append(f"  - … {len(found) - MAX_FINDINGS_LISTED} more (see the JSON report)")
        else:
            block.append("- Findings: none")
        lines.append("\n".join(block))
    if appendix:
        lines.append(appendix)
    lines.append("— rolepact")
    return "\n\n".join(lines)
