"""The access report as ONE self-contained HTML page: `rolepact report --html` and the digest's page.

Rendered from the report's data (`Report.data`, the digest's JSON) and nothing else, so the page,
the Markdown and the JSON of a window always agree. The page loads nothing: styles are inline,
charts are inline SVG (shared/audit/charts.py), there is no script, no font and no image, and a
Content-Security-Policy (`default-src 'none'`) makes the browser refuse any request the markup
might still contain. It opens offline, from a download, or from a bucket.

Every value that comes from events or agreement files (session names, agreement ids, messages,
IPs, ...) is chosen by someone else — partners pick their session names — and goes through
`esc` (html.escape, quotes included) before it reaches the page.
"""
from __future__ import annotations

import html
import math
from datetime import datetime, timezone

from shared.audit.charts import Chart, overview_chart, timeline_chart

MAX_FINDINGS_SHOWN = 500  # per agreement; the JSON report has them all
SEVERITIES = ("high", "medium", "low")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
:root{--ink:#1d252c;--muted:#5d6b78;--line:#e3e7eb;--bg:#f4f6f8;--card:#fff;--allowed:#2f7ebc;--denied:#d64541;
--high:#c0392b;--medium:#d68910;--low:#5d6b78;--ok:#2e7d32}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header.page{background:#1b3a4b;color:#fff;padding:20px 32px}
header.page h1{margin:0;font-size:22px;font-weight:600}
header.page p{margin:4px 0 0;color:#cfdde6}
main{max-width:1100px;margin:0 auto;padding:20px 24px 40px}
section.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:18px 22px;margin:18px 0}
h2{font-size:19px;margin:0 0 4px}
h3{font-size:15px;margin:18px 0 6px;color:#334}
.sub{color:var(--muted);margin:0 0 10px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(118px,1fr));gap:10px;margin:6px 0 14px}
.kpi{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:#fafbfc}
.kpi b{display:block;font-size:24px;font-weight:650}
.kpi span{color:var(--muted);font-size:12px}
.kpi.alert b{color:var(--high)}
figure{margin:8px 0 4px}
figure svg{width:100%;height:auto;display:block}
figcaption{font-weight:600;margin-bottom:2px}
p.alt{color:var(--muted);font-size:12.5px;margin:4px 0}
details{margin:4px 0 8px}
summary{cursor:pointer;color:var(--allowed);font-size:12.5px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.02em;
overflow-wrap:normal}
table.fixed{table-layout:fixed}
td code.rule{overflow-wrap:normal}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:8px 24px}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;background:#e8edf1;color:#334}
.badge.high{background:#fbe3e0;color:var(--high)}.badge.medium{background:#fcf0dc;color:#9a6200}
.badge.low{background:#eceff1;color:var(--low)}.badge.ok{background:#e3f3e5;color:var(--ok)}
.badge.warn{background:#fcf0dc;color:#9a6200}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f5;padding:0 3px;border-radius:3px}
.rightsize{border-left:4px solid var(--allowed);background:#f3f8fc;padding:8px 12px;margin:10px 0;border-radius:4px}
.muted{color:var(--muted)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
footer{color:var(--muted);font-size:12px;text-align:center;margin:24px 0}
a{color:var(--allowed)}
@media print{body{background:#fff}section.card{break-inside:avoid;border:none}}
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _when(iso_time: str | None) -> str:
    return iso_time.replace("T", " ").replace("Z", " UTC") if iso_time else "?"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _table(columns, rows, *, numeric=(), caption: str = "", empty: str = "none",
           widths: tuple[int, ...] = ()) -> str:
    """`rows`: cells already escaped (or numbers). `widths`: each column's share of the width in %, for
    wide tables — fixed, so one long value (a partner's 64-character session name) wraps in its own
    column instead of squeezing the others until their words break."""
    if not rows:
        return f'<p class="muted">{esc(empty)}</p>'

    def kind(i: int) -> str:
        return ' class="n"' if i in numeric else ""

    head = "".join(f'<th{kind(i)} scope="col">{esc(c)}</th>' for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(f"<td{kind(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
                   for row in rows)
    cap = f"<caption class=sr>{esc(caption)}</caption>" if caption else ""
    cols = ("<colgroup>" + "".join(f'<col style="width:{w}%">' for w in widths) + "</colgroup>") if widths else ""
    return (f"<table{' class=fixed' if widths else ''}>{cap}{cols}<thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _figure(chart: Chart) -> str:
    rows = [tuple(esc(cell) for cell in row) for row in chart.rows]
    note = f'<p class="alt">{esc(chart.table_note)}</p>' if chart.table_note else ""
    return (f'<figure class="chart" id="figure-{esc(chart.chart_id)}" data-chart="{esc(chart.chart_id)}">'
            f"<figcaption>{esc(chart.title)}</figcaption>{chart.svg}"
            f'<p class="alt">{esc(chart.summary)}</p>'
            f"<details><summary>Data table</summary>{note}"
            f"{_table(chart.columns, rows, numeric=(1, 2), caption=chart.title, empty='No calls in this period.')}"
            f"</details></figure>")


def _expiry(entry: dict) -> str:
    if entry.get("endedReason"):
        return f'<span class="badge">ended {esc(_when(entry["endsAt"]))} ({esc(entry["endedReason"])})</span>'
    days = entry.get("daysToExpiry")
    if days is None:
        return '<span class="badge">no expiry</span>'
    if days <= 0:
        return f'<span class="badge high">expired {esc(_when(entry["endsAt"]))}</span>'
    left = math.ceil(days)
    kind = "high" if left <= 1 else "warn" if left <= 7 else "ok"
    return (f'<span class="badge {kind}">{esc(_plural(left, "day"))} to expiry</span> '
            f'<span class="muted">expires {esc(_when(entry["endsAt"]))}</span>')


def _kpis(items) -> str:
    return '<div class="kpis">' + "".join(
        f'<div class="kpi{" alert" if alert else ""}"><b>{esc(value)}</b><span>{esc(label)}</span></div>'
        for value, label, alert in items) + "</div>"


def _overview(data: dict, anchors: dict[str, str]) -> str:
    totals = data["totals"]
    findings = totals["findings"]
    kpis = _kpis([
        (totals["agreements"], "agreements", False),
        (totals["events"], f"partner calls ({totals['reads']} reads, {totals['writes']} writes)", False),
        (totals["denials"], "denied calls", totals["denials"] > 0),
        (totals["sessions"], "STS sessions", False),
        (findings.get("high", 0), "high findings", findings.get("high", 0) > 0),
        (findings.get("medium", 0), "medium findings", False),
        (totals["changesByOthers"], "role changes by others", totals["changesByOthers"] > 0),
    ] + ([(data["input"]["malformed"], "malformed inputs", True)] if data["input"]["malformed"] else []))
    agreements = data["agreements"]
    if not agreements:
        return (f'<section class="card" id="overview"><h2>Overview</h2>{kpis}'
                f'<p>No agreement had activity in this period.</p></section>')
    rows = []
    for entry in agreements:
        severities = entry["findings"]
        found = " ".join(f'<span class="badge {s}">{severities.get(s, 0)} {s}</span>'
                         for s in SEVERITIES if severities.get(s, 0)) or '<span class="muted">none</span>'
        days = entry.get("daysToExpiry")
        rows.append((f'<a href="#{anchors[entry["agreementId"]]}">{esc(entry["agreementId"])}</a>',
                     esc(entry["partner"]["alias"]), esc(entry["state"]), entry["events"], entry["denials"], found,
                     "ended" if entry.get("endedReason") else "—" if days is None
                     else "expired" if days <= 0 else math.ceil(days)))
    table = _table(("agreement", "partner", "state", "calls", "denied", "findings", "days to expiry"), rows,
                   numeric=(3, 4, 6), caption="Agreements in this report", widths=(28, 13, 9, 8, 8, 22, 12))
    return (f'<section class="card" id="overview"><h2>Overview</h2>{kpis}{_figure(overview_chart(agreements))}'
            f"{table}</section>")


def _findings(entry: dict) -> str:
    found = entry["findingList"]
    if not found:
        return '<h3>Findings</h3><p><span class="badge ok">no findings</span></p>'
    severities = entry["findings"]
    chips = " ".join(f'<span class="badge {s}">{severities.get(s, 0)} {s}</span>' for s in SEVERITIES)
    parts = [f"<h3>Findings</h3><p>{chips}</p>"]
    for severity in SEVERITIES:
        these = [f for f in found if f["severity"] == severity][:MAX_FINDINGS_SHOWN]
        if not these:
            continue
        rows = [(esc(_when(f["eventTime"])), f"<code class=rule>{esc(f['rule'])}</code>", esc(f.get("session") or "—"),
                 esc(f.get("sourceIp") or "—"), f"<code>{esc(f.get('action') or '—')}</code>", esc(f["message"]))
                for f in these]
        parts.append(f'<h4 class="sev-{severity}"><span class="badge {severity}">{severity}</span></h4>'
                     + _table(("time", "rule", "session", "source IP", "action", "details"), rows,
                              caption=f"{severity} findings", widths=(12, 14, 12, 12, 18, 32)))
    if len(found) > MAX_FINDINGS_SHOWN:
        parts.append(f'<p class="muted">Only the first {MAX_FINDINGS_SHOWN} findings of each severity are listed; '
                     f"the JSON report has all {len(found)}.</p>")
    return "".join(parts)


def _agreement(entry: dict, since: datetime, until: datetime, anchor: str, index: int,
               rightsize: str | None) -> str:
    partner = entry["partner"]
    head = (f'<section class="card agreement" id="{anchor}" data-agreement="{esc(entry["agreementId"])}">'
            f"<h2>{esc(entry['agreementId'])}</h2>"
            f'<p class="sub">{esc(partner["alias"])} (<code>{esc(partner["accountId"])}</code>) → role '
            f"<code>{esc(entry['role'])}</code> · <span class=\"badge\">{esc(entry['state'])}</span> · "
            f"{_expiry(entry)}</p>")
    body = []
    if rightsize:
        body.append(f'<p class="rightsize"><b>Right-size at renewal:</b> {esc(rightsize)}</p>')
    if entry["events"]:
        body.append(_kpis([
            (entry["events"], f"calls ({entry['reads']} reads, {entry['writes']} writes)", False),
            (entry["denials"], "denied", entry["denials"] > 0),
            (entry["sessions"], "STS sessions", False),
            (len(entry["people"]), "people", any(not p["isPartner"] for p in entry["people"])),
        ]))
        body.append(f'<p class="muted">First call {esc(_when(entry["first"]))}, last '
                    f'{esc(_when(entry["last"]))}.</p>')
    else:
        body.append('<p class="muted">No partner calls in this period.</p>')
    body.append(_figure(timeline_chart(entry, since, until, f"a{index}")))
    if entry["events"]:
        people = [(esc(p["display"]) + ("" if p["isPartner"] else ' <span class="badge high">not the partner</span>'),
                   f"<code>{esc(p['accountId'])}</code>", p["events"]) for p in entry["people"]]
        actions = [(f"<code>{esc(action)}</code>", count) for action, count in entry["topActions"]]
        ips = [(esc(ip or "?"), count) for ip, count in entry["sourceIps"]]
        body.append('<div class="grid">'
                    f"<div><h3>Top actions</h3>{_table(('action', 'calls'), actions, numeric=(1,))}</div>"
                    f"<div><h3>Source IPs</h3>{_table(('source IP', 'calls'), ips, numeric=(1,))}</div></div>")
        body.append(f"<h3>People</h3>{_table(('person', 'account', 'calls'), people, numeric=(2,))}")
    if entry["changes"]["others"]:
        body.append(f'<p><span class="badge high">{esc(entry["changes"]["others"])} change(s) to the role by someone '
                    f"other than rolepact</span></p>")
    body.append(_findings(entry))
    return head + "".join(body) + "</section>"


def render_html(data: dict, *, title: str | None = None, rightsize: dict[str, str] | None = None) -> str:
    """The page for a report's data. `rightsize`: agreement id -> its right-size line (plain text)."""
    since, until = _parse(data["since"]), _parse(data["until"])
    page_title = title or "rolepact access audit"
    anchors = {entry["agreementId"]: f"agreement-{index}" for index, entry in enumerate(data["agreements"], 1)}
    sections = [_agreement(entry, since, until, anchors[entry["agreementId"]], index,
                           (rightsize or {}).get(entry["agreementId"]))
                for index, entry in enumerate(data["agreements"], 1)]
    stored = data["input"]
    filtered = (f" · agreement <code>{esc(data['agreementFilter'])}</code>" if data.get("agreementFilter") else "")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{esc(page_title)} · {esc(_when(data['since']))} → {esc(_when(data['until']))}</title>"
        f"<style>{CSS}</style></head><body>"
        f'<header class="page"><h1>{esc(page_title)}</h1>'
        f"<p>{esc(_when(data['since']))} → {esc(_when(data['until']))}{filtered}</p></header><main>"
        f"{_overview(data, anchors)}{''.join(sections)}"
        f"<footer>Generated {esc(_when(data['generatedAt']))} by rolepact from "
        f"{esc(stored['storedEvents'])} stored events ({esc(stored['duplicates'])} duplicates dropped, "
        f"{esc(stored['malformed'])} malformed). All times UTC. — rolepact</footer>"
        "</main></body></html>\n")
