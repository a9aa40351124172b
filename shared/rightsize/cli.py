"""`rolepact rightsize AGREEMENT_ID [--since T] [--until T] [--json] [--out FILE]`.

Reads the agreement's status record and the stored audit events from the bucket, and the
system policies' documents from RAM, with the caller's credentials (like `rolepact report`).
Prints the used actions (allowed and denied), the unused share of each policy and the
proposed agreement; writes nothing unless `--out FILE` asks for the proposal as a file.

Exit codes: 0 a proposal that passes validation and the guardrails; 1 unknown agreement, no
allowed use recorded (nothing is proposed: never an empty grant), or a proposal the
guardrails refuse; 2 usage or cloud error.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, timezone
from pathlib import Path


def render_text(analysis) -> str:
    data = analysis.to_dict()
    used = data["used"]
    lines = [f"{data['agreementId']}: {data['since']} → {data['until']}",
             f"{used['events']} partner call{'s' if used['events'] != 1 else ''} in {used['sessions']} "
             f"session{'s' if used['sessions'] != 1 else ''} by " + (", ".join(used["principals"]) or "nobody"),
             data["summary"], "", "granted:"]
    for row in data["granted"]["policies"]:
        share = "unused share unknown" if row["unusedShare"] is None else f"{row['unusedShare']:.1%} unused"
        if row["uncounted"] and row["used"] and row["unusedShare"] is not None:
            share = "at least " + share
        extra = f" (+ uncounted: {', '.join(row['uncounted'])})" if row["uncounted"] else ""
        lines.append(f"  {row['name']} ({row['type']}): used {len(row['used'])} of {row['of']}{extra} — {share}")
    for title, rows, count in (("used (allowed)", used["allowed"], "allowed"), ("denied", used["denied"], "denied"),
                               ("by principals not of the partner (never proposed)", used["foreign"], None)):
        if not rows:
            continue
        lines += ["", f"{title}:"]
        for row in rows:
            calls = row[count] if count else row["allowed"] + row["denied"]
            where = ", ".join(row["resources"]) if count == "allowed" and row["resources"] else ""
            if count == "allowed" and row["unscopedCalls"]:
                where = (where + "; " if where else "") + f"{row['unscopedCalls']} call(s) naming no resource"
            lines.append(f"  {row['action']}  {calls} call{'s' if calls != 1 else ''}  "
                         f"{', '.join(row['principals'])}" + (f"  [{where}]" if where else ""))
    proposal = data["proposal"]
    lines.append("")
    if proposal is None:
        lines.append("no proposal: the partner was allowed nothing in this period (an empty grant is never proposed)")
        return "\n".join(lines)
    if proposal["notGranted"]:
        lines.append("left out (allowed by no agreed policy): " + ", ".join(proposal["notGranted"]))
    if proposal["widened"]:
        lines.append("too many resources for one policy: scoped to what the agreement granted instead")
    if proposal["problems"]:
        lines.append("proposal (REFUSED as it stands):")
        lines += [f"  - {p['path']}: {p['message']}" for p in proposal["problems"]]
    else:
        lines.append("proposal (passes validation and the guardrails; upload it over "
                     f"{analysis.agreement.source_key} to renew):")
    lines.append(json.dumps(proposal["agreement"], indent=2))
    return "\n".join(lines)


def cmd_rightsize(args) -> int:
    from shared.audit.cli_report import parse_moment
    from shared.errors import CloudError, RolepactError
    from shared.gateways import Gateways
    from shared.records import Records
    from shared.reconcile import _applied_agreement
    from shared.rightsize.analysis import analyse
    from shared.rightsize.proposal import proposal_bytes
    from shared.settings import Settings

    try:
        until = parse_moment(args.until) if args.until else datetime.now(timezone.utc)
        since = parse_moment(args.since) if args.since else None
    except ValueError as problem:
        print(f"rolepact rightsize: {problem}", file=sys.stderr)
        return 2
    if since is not None and since >= until:
        print("rolepact rightsize: --since must be before --until", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    try:
        gateways = Gateways.connect(settings)
        if not settings.account_id:
            settings = dataclasses.replace(settings, account_id=gateways.sts.get_caller_identity()["AccountId"])
        status = Records(gateways.store).status(args.agreement_id)
        agreement = _applied_agreement(status)
        if agreement is None:
            print(f"rolepact rightsize: no agreement {args.agreement_id!r} was ever applied in bucket "
                  f"{settings.bucket}", file=sys.stderr)
            return 1
        analysis = analyse(agreement, status, settings=settings, gateways=gateways, since=since, until=until)
    except (CloudError, RolepactError) as error:
        print(f"rolepact rightsize: {error}", file=sys.stderr)
        return 2
    print(json.dumps(analysis.to_dict(), indent=2, ensure_ascii=False) if args.json else render_text(analysis))
    if analysis.proposal is None:
        print(f"rolepact rightsize: {analysis.summary()}: nothing to propose", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).write_bytes(proposal_bytes(analysis.proposal))
    return 0 if analysis.proposal.ok else 1


def add_rightsize_command(subparsers) -> None:
    command = subparsers.add_parser("rightsize", help="what a partner used of an agreement, and the least-privilege "
                                                      "agreement that would have let it do the same")
    command.add_argument("agreement_id", metavar="AGREEMENT_ID")
    command.add_argument("--since", help="start: 2027-03-01, 2027-03-01T09:00:00Z, -30d ... "
                                         "(default: when the agreement began)")
    command.add_argument("--until", help="end (exclusive), same forms (default: now)")
    command.add_argument("--json", action="store_true")
    command.add_argument("--out", metavar="FILE", help="also write the proposed agreement to FILE")
    command.set_defaults(run=cmd_rightsize)
