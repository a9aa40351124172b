"""Issue #15 acceptance: the digest's HTML page, checked against the digest's JSON.

The seed scenario runs on the whole deployment (s.yaml's functions and triggers on the fake);
the access audit saves reports/digest/<boundary>.html beside the .md and .json. The page is read
as a tree (report_support.parse_page): the overview, one section per agreement in the JSON with
its numbers, people, actions, IPs and findings, and exactly one chart per agreement whose SVG
geometry — read back through the chart's own axes — carries the JSON's calls per hour.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from audit_support import (  # noqa: F401 - fixtures
    SEED_ID, T0, assume, clock, describe, digests, fake, keys, next_digest_time, partner_user, provision, read_object,
    seed_doc, seed_instance, stage, stop, tick,
)
from report_support import (
    EXPIRES, HOSTILE_ACTION, HOSTILE_IP, HOSTILE_SESSION, classes, find, heading_table, legend_of, parse_page,
    seed_with_a_digest, series_paths, step_values, table_rows, text, x_guides, y_scale,
)


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc)


def test_the_digest_page_matches_the_digest_json(stage, clock):
    made = seed_with_a_digest(stage, clock)
    report, page = made["json"], made["page"]
    assert made["page_key"] == f"reports/digest/{report['until'].replace('-', '').replace(':', '')}.html"
    root = parse_page(page)
    [entry] = report["agreements"]
    assert entry["events"] >= 6 and entry["denials"] >= 2 and entry["findings"]["high"] >= 2  # the scenario worked

    # -- the overview: totals and one row per agreement
    [overview] = find(root, "section", id="overview")
    kpis = {text(k.find("span")): text(k.find("b")) for k in find(overview, "div", "kpi")}
    totals = report["totals"]
    assert kpis["agreements"] == str(totals["agreements"])
    assert kpis[f"partner calls ({totals['reads']} reads, {totals['writes']} writes)"] == str(totals["events"])
    assert kpis["denied calls"] == str(totals["denials"])
    assert kpis["high findings"] == str(totals["findings"]["high"])
    overview_rows = table_rows(find(overview, "table")[-1])
    assert [r[0] for r in overview_rows] == [a["agreementId"] for a in report["agreements"]]
    assert overview_rows[0][3:5] == [str(entry["events"]), str(entry["denials"])]

    # -- one section per agreement, in the JSON's order
    sections = find(root, "section", "agreement")
    assert [s.get("data-agreement") for s in sections] == [a["agreementId"] for a in report["agreements"]]
    [section] = sections
    assert entry["partner"]["alias"] in text(section.find("p"))
    assert entry["daysToExpiry"] <= 0 and "expired" in text(section.find("p"))

    actions = [[row[0], int(row[1])] for row in table_rows(heading_table(section, "Top actions"))]
    assert actions == [[a, n] for a, n in entry["topActions"]]
    ips = [[row[0], int(row[1])] for row in table_rows(heading_table(section, "Source IPs"))]
    assert ips == [[ip or "?", n] for ip, n in entry["sourceIps"]]
    people = table_rows(heading_table(section, "People"))
    assert [(row[0].replace(" not the partner", ""), row[1], int(row[2])) for row in people] == \
           [(p["display"], p["accountId"], p["events"]) for p in entry["people"]]

    # -- findings by severity, with their details
    shown = []
    for severity in ("high", "medium", "low"):
        for heading in find(section, "h4", f"sev-{severity}"):
            table = next(t for t in section.iter("table") if t in _following(section, heading))
            shown += [(severity, row[1], row[0], row[5]) for row in table_rows(table)]
    expected = [(f["severity"], f["rule"], f["eventTime"].replace("T", " ").replace("Z", " UTC"), f["message"])
                for f in entry["findingList"]]
    assert sorted(shown) == sorted(expected)
    assert {"activity-after-end", "source-ip-outside-ranges"} <= {f["rule"] for f in entry["findingList"]}

    # -- exactly one chart per agreement, with the JSON's calls per hour in its geometry
    [figure] = find(section, "figure", "chart")
    [svg] = list(figure.iter("svg"))
    assert svg.get("role") == "img"
    title_id, desc_id = svg.get("aria-labelledby").split()
    [title] = find(svg, "title", id=title_id)
    [desc] = find(svg, "desc", id=desc_id)
    assert text(title) == "Calls per hour" and f"{entry['events']} calls" in text(desc)
    since, until = _parse(report["since"]), _parse(report["until"])
    buckets = math.ceil((until - since).total_seconds() / 3600)
    allowed, denied = [0] * buckets, [0] * buckets
    for hour, n_allowed, n_denied in entry["callsPerHour"]:
        index = int((_parse(hour) - since).total_seconds() // 3600)
        allowed[index] += n_allowed
        denied[index] += n_denied
    assert sum(allowed) + sum(denied) == entry["events"] and sum(denied) == entry["denials"]
    guides = x_guides(svg)
    x0, x_end = guides[0][1], guides[-1][1]
    width = (x_end - x0) / buckets
    to_value = y_scale(svg)
    paths = series_paths(svg)
    assert step_values(paths["denied"], x0, width, buckets, to_value) == denied
    assert step_values(paths["allowed"], x0, width, buckets, to_value) == [a + d for a, d in zip(allowed, denied)]
    # the agreement's window is shaded up to its end, and the end is a vertical line at expiresAt
    ends_x = x0 + (EXPIRES - since).total_seconds() / 3600 * width
    window = paths["agreement window"]
    assert abs(window[0][0] - x0) < 0.5 and abs(max(x for x, _ in window) - ends_x) < 0.5
    [ends] = [name for name in legend_of(svg) if name.startswith(("expires ", "ended "))]
    assert {round(x, 1) for x, _ in paths[ends]} == {round(ends_x, 1)}
    # the table fallback holds the same numbers
    fallback = table_rows(figure.find(".//table"))
    assert sum(int(r[1]) for r in fallback) == sum(allowed) and sum(int(r[2]) for r in fallback) == sum(denied)

    # -- the overview chart draws every agreement's allowed and denied calls
    [overview_svg] = list(find(overview, "figure", "chart")[0].iter("svg"))
    assert legend_of(overview_svg) == ["allowed", "denied"]
    bars = {name: [float(text(d)) for d in find(group, "desc", "value")]
            for name, group in zip(legend_of(overview_svg), _series(overview_svg))}
    assert bars == {"allowed": [entry["events"] - entry["denials"]], "denied": [entry["denials"]]}


def test_hostile_values_from_events_stay_text(stage, clock):
    made = seed_with_a_digest(stage, clock)
    root = parse_page(made["page"])
    body = text(root)
    for hostile in (HOSTILE_SESSION, HOSTILE_ACTION, HOSTILE_IP):
        assert hostile in body, hostile  # shown, literally ...
    # ... and nothing of it became markup: no script, no handler, no element a hostile value names
    assert not list(root.iter("script")) and not list(root.iter("img"))
    assert not [e for e in root.iter() if any(k.startswith("on") for k in e.attrib)]
    assert [s.get("id") for s in root.iter("svg")] == ["chart-overview", "chart-a1"]
    for element in root.iter():
        for name in ("src", "href", "xlink:href", "action"):
            value = element.get(name)
            assert value is None or value.startswith("#") or value == "data:,", (element.tag, name, value)
    [csp] = [m for m in root.iter("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp.get("content")
    assert "security-token" not in made["page"] and "Signature=" not in made["page"]


def _following(parent, element):
    children = list(parent.iter())
    return children[children.index(element):]


def _series(svg):
    [plot] = [g for g in find(svg, "g", "plot") if classes(g) == {"plot"}]
    return sorted(find(plot, "g", "series"), key=lambda g: next(c for c in classes(g) if c.startswith("serie-")))


def test_the_page_carries_the_right_size_line_of_an_agreement_at_renewal(stage, clock):
    instance = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=3)))  # its first notice point (7 days) has passed
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    describe(alice, instance)
    stop(alice, instance)
    stage.deliver()
    tick(stage, clock, T0 + timedelta(minutes=15))
    tick(stage, clock, next_digest_time(T0))
    [digest] = digests(stage)
    [line] = [ln for ln in digest["text"].splitlines() if ln.startswith(f"- `{SEED_ID}`: used 2 of ")]
    [page_key] = [k for k in keys(stage, "reports/digest/") if k.endswith(".html")]
    [section] = find(parse_page(read_object(stage, page_key).decode("utf-8")), "section", "agreement")
    [shown] = find(section, "p", "rightsize")
    assert text(shown) == "Right-size at renewal: " + line.split(": ", 1)[1].replace("`", "")
    assert text(shown).endswith(f"proposal: proposals/{SEED_ID}.json")
