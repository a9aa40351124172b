"""`rolepact` command line: validate, plan, schema (and the operational commands).

Exit codes: 0 success, 1 the input was refused (or a check failed), 2 usage or cloud error.
Every command takes `--json` for machine-readable output.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

from shared.errors import AgreementRejected, CloudError, RolepactError


def _print(args, payload, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def cmd_schema(args) -> int:
    from shared.agreements.schema import schema_json

    print(schema_json())
    return 0


def cmd_validate(args) -> int:
    from shared.agreements.parse import parse_agreement
    from shared.documents import trust_policy_problems
    from shared.settings import Settings

    settings = Settings.from_env()  # the trust policy's size is this deployment's setting

    results, failed = [], False
    for name in args.files:
        path = Path(name)
        try:
            raw = path.read_bytes()
        except OSError as problem:
            results.append({"file": name, "valid": False, "problems": [{"path": "(file)", "message": str(problem)}]})
            failed = True
            continue
        try:
            agreement = parse_agreement(raw, key=f"agreements/{path.name}", max_bytes=args.max_bytes)
            too_long = trust_policy_problems(agreement, max_chars=settings.guardrails.max_trust_policy_chars,
                                             extended=settings.extended_trust_conditions)
            if too_long:
                raise AgreementRejected(too_long, reason="invalid")
            results.append({"file": name, "valid": True, "agreementId": agreement.agreement_id})
        except AgreementRejected as rejected:
            results.append({"file": name, "valid": False, "problems": [p.to_dict() for p in rejected.problems]})
            failed = True
    lines = []
    for result in results:
        if result["valid"]:
            lines.append(f"{result['file']}: valid ({result['agreementId']})")
        else:
            lines.append(f"{result['file']}: INVALID")
            lines += [f"  - {p['path']}: {p['message']}" for p in result["problems"]]
    _print(args, results, "\n".join(lines))
    return 1 if failed else 0


def cmd_plan(args) -> int:
    """What intake would do for FILE right now, against the live RAM state. Writes nothing."""
    from shared.agreements.guardrails import check_guardrails
    from shared.agreements.parse import parse_agreement
    from shared.documents import deployment_protection, target_for
    from shared.executor import Executor
    from shared.gateways import Gateways
    from shared.ownership import RoleLedger
    from shared.planner import plan
    from shared.settings import Settings

    path = Path(args.file)
    settings = Settings.from_env()
    try:
        agreement = parse_agreement(path.read_bytes(), key=f"agreements/{path.name}",
                                    max_bytes=settings.guardrails.max_file_bytes)
    except (AgreementRejected, OSError) as problem:
        problems = problem.problems if isinstance(problem, AgreementRejected) else []
        _print(args, {"refused": [p.to_dict() for p in problems] or str(problem)},
               "refused:\n" + "\n".join(f"  - {p}" for p in problems) if problems else f"refused: {problem}")
        return 1
    try:
        gateways = Gateways.connect(settings)
        if not settings.account_id:
            settings = dataclasses.replace(settings, account_id=gateways.sts.get_caller_identity()["AccountId"])
        # A local plan has no OSS event, hence no uploader to check; every other guardrail applies.
        unrestricted = dataclasses.replace(settings.guardrails, approved_uploaders=None)
        problems = check_guardrails(agreement, dataclasses.replace(settings, guardrails=unrestricted), uploader=None,
                                    now=settings.now(), is_new_revision=True)
        if problems:
            _print(args, {"refused": [p.to_dict() for p in problems]},
                   "refused by guardrails:\n" + "\n".join(f"  - {p}" for p in problems))
            return 1
        target = target_for(agreement, settings.now(), deployment_protection(settings),
                            extended_trust=settings.extended_trust_conditions)
        executor = Executor(gateways.ram, RoleLedger(gateways.store, settings.now, read_only=True), settings.bucket)
        result = plan(target, executor.read(target))
    except RolepactError as error:  # a cloud error, or no credentials in the environment
        print(f"rolepact plan: {error}", file=sys.stderr)
        return 2
    if result.refusal is not None:
        _print(args, {"refused": [result.refusal.to_dict()]}, f"refused: {result.refusal}")
        return 1
    calls = [a.describe() for a in result.actions]
    _print(args, {"agreementId": agreement.agreement_id, "calls": calls},
           "\n".join(calls) if calls else "no changes: RAM already matches the agreement")
    return 0


def cmd_revoke(args) -> int:
    """Kill switch: drop control/revoke-partner/<id> and end that partner's agreements right now."""
    from shared.documents import iso
    from shared.enforcer import Enforcer
    from shared.gateways import Gateways
    from shared.records import CONTROL_REVOKE
    from shared.settings import Settings

    if not args.partner.isdigit():
        print("rolepact revoke: --partner takes an account id", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    try:
        gateways = Gateways.connect(settings)
        gateways.store.ensure_unversioned()  # else ended agreements and notices could not be recorded once
        gateways.store.put_json(f"{CONTROL_REVOKE}{args.partner}", {"partner": args.partner, "at": iso(settings.now()),
                                                                      "by": "rolepact revoke"})
        ended = Enforcer(settings, gateways).apply_kill_switches()
    except RolepactError as error:  # a cloud error, or no credentials in the environment
        print(f"rolepact revoke: {error}", file=sys.stderr)
        return 2
    _print(args, {"partner": args.partner, "ended": ended},
           f"partner {args.partner} revoked; ended: {', '.join(ended) or 'no live agreement'}")
    return 0


def cmd_doctor(args) -> int:
    """Check the account around the deployment; exit 0 only if no check fails."""
    from shared import doctor
    from shared.audit.config import AuditConfig
    from shared.gateways import Gateways
    from shared.settings import Settings

    settings = Settings.from_env()
    audit = AuditConfig.from_env()
    options = doctor.Options(send_test_message=args.send_test_message,
                             deployment=Path(args.deployment) if args.deployment else None,
                             environ=dict(os.environ),  # the deployer's exports, as `s deploy` reads them
                             fc_api=settings.fc_api, max_clock_skew=args.max_clock_skew,
                             service_role=audit.service_role_name, global_region=audit.global_region)
    try:
        gateways = Gateways.connect(settings)
        if not settings.account_id:
            settings = dataclasses.replace(settings, account_id=gateways.sts.get_caller_identity()["AccountId"])
            gateways = Gateways.connect(settings)
        results = doctor.run(settings, gateways, options)
    except RolepactError as error:  # no credentials, or STS refused to say who we are
        print(f"rolepact doctor: {error}", file=sys.stderr)
        return 2
    print(doctor.render_json(results) if args.json else doctor.render_text(results))
    return 1 if any(check.status == "fail" for check in results) else 0


def cmd_bucket_policy(args) -> int:
    """The bucket-policy statements that enforce ROLEPACT_APPROVED_UPLOADERS (lists RAM users with your
    credentials), and whether the bucket's current policy (and ACL) already does. Once it does, records since
    when (state/uploader-lock.json): only content written after that is vouched for by the lock."""
    from shared.gateways import Gateways
    from shared.settings import Settings
    from shared.uploaders import check_lock, lock_policy

    settings = Settings.from_env()
    if settings.guardrails.approved_uploaders is None:
        print("rolepact bucket-policy: set ROLEPACT_APPROVED_UPLOADERS first", file=sys.stderr)
        return 2
    try:
        gateways = Gateways.connect(settings)
        policy = lock_policy(settings, [uid for _, uid in gateways.ram.iter_users()])
        check = check_lock(settings, gateways)
    except RolepactError as error:
        print(f"rolepact bucket-policy: {error}", file=sys.stderr)
        return 2
    status = "enforced" if check.enforced else "NOT enforced:\n" + "\n".join(f"  - {p}" for p in check.problems)
    _print(args, {"policy": policy, "enforced": check.enforced, "problems": list(check.problems)},
           json.dumps(policy, indent=2) + f"\n\napproved uploaders are {status}\n(merge these statements into the "
                                          f"bucket policy of {settings.bucket}; run again after adding RAM users)")
    return 0 if check.enforced else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rolepact", description="Time-bound cross-account access on Alibaba Cloud")
    commands = parser.add_subparsers(dest="command", required=True)

    schema = commands.add_parser("schema", help="print the agreement JSON Schema")
    schema.set_defaults(run=cmd_schema)

    validate = commands.add_parser("validate", help="check agreement files (exit 1 on any error)")
    validate.add_argument("files", nargs="+")
    validate.add_argument("--max-bytes", type=int, default=int(os.environ.get("ROLEPACT_MAX_FILE_BYTES", 64 * 1024)),
                          help="largest file (default: ROLEPACT_MAX_FILE_BYTES or 65536, as intake)")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(run=cmd_validate)

    plan = commands.add_parser("plan", help="print the RAM calls intake would make for FILE (writes nothing)")
    plan.add_argument("file")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(run=cmd_plan)

    lock = commands.add_parser("bucket-policy", help="print the bucket policy that enforces approved uploaders "
                                                    "and check the bucket's (exit 1 if not enforced)")
    lock.add_argument("--json", action="store_true")
    lock.set_defaults(run=cmd_bucket_policy)

    revoke = commands.add_parser("revoke", help="kill switch: end every agreement of a partner now")
    revoke.add_argument("--partner", required=True, help="partner account id")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(run=cmd_revoke)

    check = commands.add_parser("doctor", help="check the account around the deployment (exit 0 only if all pass)")
    check.add_argument("--json", action="store_true")
    check.add_argument("--send-test-message", action="store_true",
                       help="also send a signed test message to the DingTalk robot")
    check.add_argument("--deployment", help="the deployment file to compare with (default: s.yaml; FC 3.0: "
                                            "deploy/fc3/s.yaml)")
    check.add_argument("--max-clock-skew", type=float, default=60.0, help="seconds (default 60)")
    check.set_defaults(run=cmd_doctor)

    from shared.audit.cli_report import add_report_command
    from shared.local.commands import add_local_commands
    from shared.rightsize.cli import add_rightsize_command

    add_report_command(commands)
    add_rightsize_command(commands)
    add_local_commands(commands)
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--since -24h` -> `--since=-24h`: argparse would take `-24h` for an option."""
    joined, index = [], 0
    while index < len(argv):
        item = argv[index]
        if item in ("--since", "--until") and index + 1 < len(argv) and re.fullmatch(r"-\d+[smhd]?", argv[index + 1]):
            joined.append(f"{item}={argv[index + 1]}")
            index += 2
            continue
        joined.append(item)
        index += 1
    return joined


def main(argv: list[str] | None = None) -> int:
    from shared import log

    args = build_parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    log.setup("WARNING", to_stderr=True)  # stdout is the command's output
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
