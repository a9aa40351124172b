"""The checks of `rolepact doctor`, in the order they run. Each returns one `Check`."""
from __future__ import annotations

import json
from pathlib import Path

from shared.doctor import Check, Options, server_time
from shared.doctor.bucket_policy import control_problems
from shared.errors import CloudError


def bucket(settings, gateways, options: Options) -> Check:
    try:
        info = gateways.store.bucket_info()
    except CloudError as error:
        if error.code == "NoSuchBucket":
            return Check("bucket", "fail", f"bucket {settings.bucket} does not exist",
                         f"create it in {settings.region} (private, no versioning) or set ROLEPACT_BUCKET")
        raise
    expected = f"oss-{settings.region}"
    if info["location"] != expected:
        return Check("bucket", "fail", f"bucket {settings.bucket} is in {info['location']}, not {expected}",
                     "set ROLEPACT_REGION to the bucket's region, or use a bucket in the deployment's region",
                     {"location": info["location"]})
    return Check("bucket", "pass", f"bucket {settings.bucket} exists in {settings.region}")


def bucket_versioning(settings, gateways, options: Options) -> Check:
    status = gateways.store.versioning()
    if status in ("Enabled", "Suspended"):
        return Check("bucket-versioning", "fail",
                     f"bucket {settings.bucket} has versioning {status}: OSS ignores x-oss-forbid-overwrite, so "
                     "rolepact refuses to act there",
                     "versioning cannot be turned off: move rolepact to a new bucket that never had versioning "
                     "(docs/operations.md#bucket-versioning)", {"versioning": status})
    return Check("bucket-versioning", "pass", "versioning was never enabled")


def bucket_policy(settings, gateways, options: Options) -> Check:
    from shared.uploaders import judge_lock, lock_policy

    policy = gateways.store.get_bucket_policy()
    found = control_problems(policy, account=settings.account_id, bucket=settings.bucket,
                             service_role=options.service_role)
    acl = gateways.store.bucket_acl()
    if acl != "private":  # OSS: the ACL lets anyone, anonymous included, read (and with -write, write) objects
        found.append(f"the bucket's ACL is {acl}: anyone, anonymous callers included, can "
                     f"{'read and write' if acl == 'public-read-write' else 'read'} agreements, status records "
                     f"and reports; set it to private (ossutil set-acl oss://{settings.bucket} private -b)")
    details = {}
    approved = settings.guardrails.approved_uploaders
    if approved is not None:
        users = list(gateways.ram.iter_users())
        lock = judge_lock(settings, policy, users, acl)
        found += list(lock.problems)
        details["lock"] = lock_policy(settings, [uid for _, uid in users])
    if found:
        fix = ("`rolepact bucket-policy` prints the statements that enforce the approved uploaders; merge them into "
               "the bucket policy (ossutil api put-bucket-policy) and remove what opens rolepact's prefixes "
               "(docs/operations.md#the-bucket-policy)")
        return Check("bucket-policy", "fail", "; ".join(found), fix, details)
    scope = (f"only the approved uploaders ({', '.join(sorted(approved))}) can write agreements/; " if approved
             else "")
    return Check("bucket-policy", "pass", f"{scope}nothing lets anyone but the service role write rolepact's "
                 "prefixes, and nothing is public", details=details)


def service_role_policy(settings, gateways, options: Options) -> Check:
    from shared.local.policies import PLATFORM_POLICY, SERVICE_ROLE_POLICY, fill
    from shared.local.syaml import SyamlError

    try:
        wiring = options.wiring
        expected, platform = _canonical(fill(SERVICE_ROLE_POLICY, wiring)), _canonical(fill(PLATFORM_POLICY, wiring))
    except (OSError, SyamlError, KeyError) as problem:
        return Check("service-role-policy", "fail", f"cannot fill deploy/service-role-policy.json from "
                     f"{options.deployment_file}: {problem}", "run doctor in the repository, in the deployer's shell")
    role = (wiring.service_role or options.service_role).rsplit("/", 1)[-1]
    attached = gateways.ram.list_policies_for_role(role)
    matching, platform_policies, extra = [], [], []
    for policy_type, name in sorted(attached):
        snapshot = gateways.ram.get_policy(name, policy_type)
        document = _canonical(snapshot.document) if snapshot and snapshot.document else None
        if document == expected:
            matching.append(name)
        elif document == platform:
            platform_policies.append(name)
        else:
            extra.append(f"{policy_type}:{name}")
    details = {"role": role, "attached": sorted(f"{t}:{n}" for t, n in attached)}
    if not matching:
        return Check("service-role-policy", "fail",
                     f"no policy attached to {role} equals deploy/service-role-policy.json with this deployment's "
                     "placeholders filled", "`rolepact policies` writes it filled in; create it and attach it "
                     "(README, Deploy), and detach any older version", details)
    if extra:
        return Check("service-role-policy", "fail", f"{role} also has {', '.join(extra)}: more than rolepact needs",
                     "detach them: only deploy/service-role-policy.json and deploy/fc-platform-policy.json "
                     "(filled) belong there", details)
    return Check("service-role-policy", "pass", f"{role} has exactly deploy/service-role-policy.json"
                 + (" and the FC platform policy" if platform_policies else ""), details=details)


def _canonical(document: dict) -> list:
    """A policy document compared by meaning: scalar or list values, statement and list order do not matter."""
    statements = []
    for statement in (document or {}).get("Statement") or []:
        normal = {k: sorted(v) if isinstance(v, list) else ([v] if k in ("Action", "Resource", "NotAction",
                                                                         "NotResource") else v)
                  for k, v in statement.items()}
        statements.append(json.dumps(normal, sort_keys=True))
    return sorted(statements)


def trail(settings, gateways, options: Options) -> Check:
    trails = gateways.trail.trails()
    needed = {settings.region, options.global_region}
    seen = []
    for found in trails:
        name = found.get("Name", "")
        status = gateways.trail.trail_status(name, region=found.get("HomeRegion") or None)
        regions = found.get("TrailRegion") or "All"
        covered = regions == "All" or needed <= {r.strip() for r in regions.split(",")}
        logging = bool(status.get("IsLogging"))
        rw = found.get("EventRW") or "Write"
        seen.append({"name": name, "logging": logging, "eventRW": rw, "trailRegion": regions})
        if logging and rw == "All" and covered:
            return Check("trail", "pass", f"trail {name} is logging read and write events of "
                         f"{'all regions' if regions == 'All' else regions}, global (RAM) events included",
                         details={"trails": seen})
    if not trails:
        summary = "no ActionTrail trail: events older than 90 days are lost, and nothing archives the audit's input"
    else:
        summary = "no trail is logging read and write events of the deployment's region and the global events: " + \
            "; ".join(f"{t['name']} (logging {t['logging']}, EventRW {t['eventRW']}, TrailRegion {t['trailRegion']})"
                      for t in seen)
    return Check("trail", "fail", summary,
                 "create (or fix) a trail with EventRW All and TrailRegion All (it then delivers global events "
                 "too) and start logging it: ActionTrail console → Trails, or CreateTrail + StartLogging",
                 {"trails": seen})


def triggers(settings, gateways, options: Options) -> Check:
    from shared.local.syaml import SyamlError

    path = options.deployment_file
    try:
        wiring = options.wiring
    except (OSError, SyamlError, KeyError, TypeError) as problem:
        return Check("triggers", "fail", f"cannot read the deployment file {path}: {problem}",
                     "run doctor in the repository and the deployer's shell, or pass --deployment FILE")
    missing, different = [], []
    for function in wiring.functions:
        try:
            deployed = {t["name"]: t for t in gateways.fc.triggers(function.name)}
        except CloudError as error:
            missing.append(f"function {function.name} ({error.code})")
            continue
        for expected in function.triggers:
            found = deployed.get(expected.get("name"))
            if found is None:
                missing.append(f"{function.name}/{expected.get('name')}")
            elif found["type"] != str(expected.get("type", "")).lower() or not _subset(
                    expected.get("config") or {}, found["config"]):
                different.append(f"{function.name}/{expected.get('name')}")
    if missing or different:
        summary = "; ".join(filter(None, [f"missing: {', '.join(missing)}" if missing else "",
                                          f"configured differently: {', '.join(different)}" if different else ""]))
        return Check("triggers", "fail", summary, f"deploy again with `s deploy` from {path}",
                     {"missing": missing, "different": different})
    count = sum(len(f.triggers) for f in wiring.functions)
    return Check("triggers", "pass", f"{len(wiring.functions)} functions and their {count} triggers (OSS, timers, "
                 f"the EventBridge rule of ActionTrail events) are deployed as {path} says")


def _subset(expected, actual) -> bool:
    """Every value the deployment file sets is deployed (lists as sets, JSON strings by meaning)."""
    if isinstance(expected, str) and isinstance(actual, str) and expected.strip().startswith(("{", "[")):
        try:
            return _subset(json.loads(expected), json.loads(actual))
        except ValueError:
            return expected == actual
    if isinstance(expected, dict):
        lowered = {str(k).lower(): v for k, v in actual.items()} if isinstance(actual, dict) else {}
        return all(_subset(v, lowered.get(str(k).lower(), _MISSING)) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and all(any(_subset(e, a) for a in actual) for e in expected)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return str(expected).lower() == str(actual).lower()
    return expected == actual or str(expected) == str(actual)


_MISSING = object()


def dingtalk(settings, gateways, options: Options) -> Check:
    if not options.send_test_message:
        return Check("dingtalk", "skip", "not checked (pass --send-test-message to send a signed test message)")
    robot = gateways.dingtalk
    if robot is None:
        return Check("dingtalk", "fail", "ROLEPACT_DINGTALK_WEBHOOK is not set: notices are only logged",
                     "set ROLEPACT_DINGTALK_WEBHOOK and ROLEPACT_DINGTALK_SECRET (README, Deploy step 3)")
    try:
        robot.send_markdown("rolepact doctor: test message", "### rolepact doctor\n\nThe robot accepts rolepact's "
                            "signed messages. Nothing to do.\n\n— rolepact")
    except CloudError as error:
        return Check("dingtalk", "fail", f"the robot refused the test message: {error.code} {error.message}",
                     "check the webhook's access_token, the signing secret (加签) and the keyword 'rolepact'")
    return Check("dingtalk", "pass", f"the robot accepted a {'signed ' if settings.dingtalk_secret else ''}test "
                 "message")


def clock(settings, gateways, options: Options) -> Check:
    server = server_time(gateways.store.bucket_info().get("serverDate"))
    if server is None:
        return Check("clock", "fail", "OSS sent no Date header to compare with", "run doctor again")
    skew = (settings.now() - server).total_seconds()
    details = {"skewSeconds": round(skew, 1), "maxSeconds": options.max_clock_skew}
    if abs(skew) > options.max_clock_skew:
        return Check("clock", "fail", f"this machine's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
                     "OSS's", "synchronise the clock (NTP): rolepact's timers, signatures and notices use it",
                     details)
    return Check("clock", "pass", f"clock within {options.max_clock_skew:.0f} s of OSS's ({skew:+.0f} s)",
                 details=details)


CHECKS = (("bucket", bucket), ("bucket-versioning", bucket_versioning), ("bucket-policy", bucket_policy),
          ("service-role-policy", service_role_policy), ("trail", trail), ("triggers", triggers),
          ("dingtalk", dingtalk), ("clock", clock))
