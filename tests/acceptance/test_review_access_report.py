"""Review of issue 15 (the HTML access report) with cases its authors did not test: several agreements
over a 30-day window through `rolepact report --html`, read against `--json` of the same window, and
the page when nothing is in the bucket at all.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

from audit_support import (  # noqa: F401 - fixtures
    A, T0, assume, clock, describe, fake, keys, make_audit_stage, next_digest_time, partner_user, provision,
    read_object, run_audit_timer, seed_doc, seed_instance, session_caller, stage, stop, tick, trail_event,
)
from report_support import find, parse_page, table_rows, text
from rightsize_support import owner_env
from shared import cli
from shared.audit.config import AuditConfig

BUSY = {"b-quiet": 2, "b-busy": 9, "b-middle": 5}  # calls a day, each for 30 days


def _report(monkeypatch, capsys, tmp_path, *window: str) -> tuple[dict, str]:
    capsys.readouterr()
    assert cli.main(["report", *window, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    page = tmp_path / "report.html"
    assert cli.main(["report", *window, "--html", str(page)]) == 0
    return data, page.read_text("utf-8")


def test_a_month_of_several_agreements(fake, clock, monkeypatch, capsys, tmp_path):
    stage = make_audit_stage(fake, config=AuditConfig(lookback=timedelta(days=32), chunk=timedelta(days=1),
                                                      max_chunks=40))
    for number, agreement_id in enumerate(BUSY):
        doc = seed_doc(expires=T0 + timedelta(days=60), agreementId=agreement_id)
        doc["role"] = {"name": f"role-{number}", "maxSessionDurationSeconds": 3600}
        provision(stage, doc)
    rng = random.Random(15)
    for day in range(30):
        for number, (agreement_id, calls) in enumerate(BUSY.items()):
            for _ in range(calls):
                event = trail_event(session_caller(role=f"role-{number}", session=rng.choice(["alice", "bob"])),
                                    rng.choice(["StopInstance", "StartInstance"]),
                                    at=T0 + timedelta(days=day, minutes=rng.randint(0, 900)),
                                    error=rng.choice([None, None, "Forbidden.RAM"]))
                stage.cloud.trail.record(A, event, publish=False)
    clock.move_to(T0 + timedelta(days=31))
    run_audit_timer(stage)  # one pull of the whole month
    owner_env(stage, monkeypatch)

    since, until = T0.replace(hour=0, minute=0, second=0), T0.replace(hour=0, minute=0, second=0) + timedelta(days=30)
    window = ("--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"), "--until", until.strftime("%Y-%m-%dT%H:%M:%SZ"))
    data, page = _report(monkeypatch, capsys, tmp_path, *window)
    assert {a["agreementId"]: a["events"] for a in data["agreements"]} == {k: 30 * n for k, n in BUSY.items()}
    root = parse_page(page)

    # the overview draws the busiest agreement on top, then down in order
    [overview] = find(root, "section", id="overview")
    [svg] = list(find(overview, "figure", "chart")[0].iter("svg"))
    [axis] = [g for g in find(svg, "g", "axis") if "y" in g.get("class", "").split()]
    labels = sorted((float(t.get("y")), text(t)) for t in axis.iter("text"))
    ranked = [a["agreementId"] for a in sorted(data["agreements"], key=lambda a: -a["events"])]
    assert [name for _, name in labels] == ranked == ["b-busy", "b-middle", "b-quiet"]

    # one section and one hourly chart per agreement, whose table holds the JSON's hours
    sections = find(root, "section", "agreement")
    assert [s.get("data-agreement") for s in sections] == [a["agreementId"] for a in data["agreements"]]
    for section, entry in zip(sections, data["agreements"]):
        [figure] = find(section, "figure", "chart")
        assert text(figure.find("figcaption")) == "Calls per hour"  # 30 days are still drawn per hour
        rows = table_rows(figure.find(".//table"))
        assert [(r[0], int(r[1]), int(r[2])) for r in rows] == [
            (datetime.fromisoformat(h.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC"), a, d)
            for h, a, d in entry["callsPerHour"]]


def test_the_page_for_an_empty_bucket(stage, clock, monkeypatch, capsys, tmp_path):
    owner_env(stage, monkeypatch)
    data, page = _report(monkeypatch, capsys, tmp_path, "--since", "-30d")
    assert data["agreements"] == [] and data["totals"]["events"] == 0
    root = parse_page(page)
    [overview] = find(root, "section", id="overview")
    assert "No agreement had activity in this period." in text(overview)
    assert find(root, "section", "agreement") == [] and list(root.iter("svg")) == []
    assert datetime.now(timezone.utc).strftime("%Y-%m-%d") in text(root.find(".//header"))


def test_the_cli_page_carries_the_right_size_line_of_an_agreement_at_renewal(stage, clock, monkeypatch, capsys,
                                                                              tmp_path):
    """Issue 15 asks for the right-sizing line per agreement "when there is one" on the page of
    `rolepact report --html` too: the one the last digest stored, read, never recomputed or written."""
    instance = seed_instance(stage)
    provision(stage, seed_doc(expires=T0 + timedelta(days=3)))  # at renewal: inside its 7-day notice window
    alice = assume(stage, partner_user(stage, "alice"), "alice")
    describe(alice, instance)
    stop(alice, instance)
    stage.deliver()
    tick(stage, clock, T0 + timedelta(minutes=15))
    tick(stage, clock, next_digest_time(T0))  # the digest analyses and stores proposals/<id>.usage.json
    [digest_page] = [k for k in keys(stage, "reports/digest/") if k.endswith(".html")]
    [digest_line] = find(parse_page(read_object(stage, digest_page).decode("utf-8")), "p", "rightsize")
    stored = {k: read_object(stage, k) for k in keys(stage, "proposals/")}

    owner_env(stage, monkeypatch)
    _, page = _report(monkeypatch, capsys, tmp_path, "--since", "-2d")
    [section] = find(parse_page(page), "section", "agreement")
    [line] = find(section, "p", "rightsize")
    assert text(line).startswith(text(digest_line) + " (as analysed up to ")
    assert {k: read_object(stage, k) for k in keys(stage, "proposals/")} == stored  # nothing written

    tick(stage, clock, T0 + timedelta(days=3, minutes=1))  # expired: no longer at renewal, no line
    _, page = _report(monkeypatch, capsys, tmp_path, "--since", "-2d")
    assert find(parse_page(page), "p", "rightsize") == []
