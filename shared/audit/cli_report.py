"""`rolepact report --since … --until … [--agreement ID] [--json] [--html FILE]`: the access report, locally.

Reads the stored events (audit/events/ in the bucket, with the caller's credentials from the
environment like every other command) and renders exactly what the daily digest renders for
the same window — as Markdown, JSON, or (`--html FILE`, `-` for stdout) the self-contained HTML
page with charts. Hooked into `shared/cli.py` with:

    from shared.audit.cli_report import add_report_command
    add_report_command(commands)
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path


def parse_moment(text: str) -> datetime:
    """`2027-03-01`, `2027-03-01T09:00:00Z`, `2027-03-01T17:00:00+08:00`, or `now` / `-24h` / `-7d`."""
    value = text.strip()
    now = datetime.now(timezone.utc)
    if value == "now":
        return now
    if value.startswith("-") and value[1:-1].isdigit() and value[-1] in "dhm":
        unit = {"d": "days", "h": "hours", "m": "minutes"}[value[-1]]
        return now - timedelta(**{unit: int(value[1:-1])})
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time (2027-03-01, 2027-03-01T09:00:00Z, now, -24h, -7d)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def stored_report(gateways, settings, config, since: datetime, until: datetime, agreement_id: str | None = None,
                  views=None):
    """The report of [since, until) from the events stored in the bucket (what the digest renders)."""
    from shared.audit.report import build_report
    from shared.audit.storage import AuditStore
    from shared.audit.views import load_views

    views = load_views(gateways.store) if views is None else views
    store = AuditStore(gateways.store)
    stats: dict = {}
    events = store.load_events(since, until, stats)
    return build_report(views, events, since=since, until=until, settings=settings, config=config,
                        agreement_id=agreement_id, malformed=store.count_malformed(since, until), stored=stats)


def cmd_report(args) -> int:
    from shared.audit.config import AuditConfig
    from shared.audit.views import load_views
    from shared.errors import CloudError, RolepactError
    from shared.gateways import Gateways
    from shared.settings import Settings

    try:
        until = parse_moment(args.until) if args.until else datetime.now(timezone.utc)
        since = parse_moment(args.since) if args.since else until - timedelta(hours=24)
    except ValueError as problem:
        print(f"rolepact report: {problem}", file=sys.stderr)
        return 2
    if since >= until:
        print("rolepact report: --since must be before --until", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    try:
        gateways = Gateways.connect(settings)
        views = load_views(gateways.store)
        if args.agreement and args.agreement not in {v.agreement_id for v in views}:
            print(f"rolepact report: no agreement {args.agreement!r} in bucket {settings.bucket}", file=sys.stderr)
            return 1
        report = stored_report(gateways, settings, AuditConfig.from_env(), since, until, args.agreement, views)
    except (CloudError, RolepactError) as error:
        print(f"rolepact report: {error}", file=sys.stderr)
        return 2
    if args.html:
        from shared.audit.html import render_html

        from shared.documents import iso
        from shared.rightsize.renewal import stored_lines

        try:  # the right-size line of agreements at renewal, as the last notice or digest stored it
            rightsize = stored_lines(gateways.store, views, settings.notice_offsets, iso(until))
        except (CloudError, RolepactError) as error:
            print(f"rolepact report: right-size lines left out ({error})", file=sys.stderr)
            rightsize = {}
        page = render_html(report.data, rightsize=rightsize)
        if args.html == "-":
            sys.stdout.write(page)
            return 0
        try:
            Path(args.html).write_text(page, "utf-8")
        except OSError as problem:
            print(f"rolepact report: cannot write {args.html}: {problem}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report.data, indent=2, ensure_ascii=False))
    elif args.html:
        totals = report.data["totals"]
        print(f"wrote {args.html}: {totals['agreements']} agreement(s), {totals['events']} partner calls, "
              f"{totals['findings'].get('high', 0)} high findings")
    else:
        print(report.markdown)
    return 0


def add_report_command(subparsers) -> None:
    report = subparsers.add_parser("report", help="the access audit report for a period, from the stored events")
    report.add_argument("--since", help="start (inclusive): 2027-03-01, 2027-03-01T09:00:00Z, -24h ... "
                                        "(default: 24 hours before --until)")
    report.add_argument("--until", help="end (exclusive), same forms (default: now)")
    report.add_argument("--agreement", help="only this agreement id")
    report.add_argument("--json", action="store_true")
    report.add_argument("--html", metavar="FILE",
                        help="also write the report as one self-contained HTML page with charts ('-': to stdout)")
    report.set_defaults(run=cmd_report)
