"""`rolepact local`: the main job, played end to end on the built-in fake cloud.

The seed of the product, as a person would follow it: company-a drops the example
agreement, the role appears, company-b's Alice switches in and manages an ECS instance,
notices go out, the agreement expires, RAM denies Alice at the exact second, the enforcer
removes the role, and the access audit reports what happened. Virtual time (time-machine)
lets months pass in seconds; every function runs as FC would run it, wired from s.yaml.
The command exits 0 only if every expected effect was observed.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shared.documents import iso

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT_ROOT / "examples" / "company-b-ecs-admin.json"
ALICE_IP = "203.0.113.25"


@dataclass
class Timeline:
    """Prints each step as it happens and remembers whether what was expected happened."""

    out: object = sys.stdout
    as_json: bool = False
    steps: list[dict] = field(default_factory=list)

    def step(self, moment: datetime, title: str, detail: str = "", ok: bool | None = None) -> bool:
        entry = {"time": iso(moment), "step": title, "detail": detail, "ok": ok}
        self.steps.append(entry)
        if self.as_json:
            print(json.dumps(entry), file=self.out, flush=True)
        else:
            mark = {True: "✓", False: "✗", None: "·"}[ok]
            print(f"[{entry['time']}] {mark} {title}", file=self.out, flush=True)
            for line in detail.splitlines():
                print(f"{'':24}{line}", file=self.out, flush=True)
        return bool(ok) if ok is not None else True

    def expect(self, moment: datetime, title: str, condition: bool, detail: str = "") -> bool:
        return self.step(moment, title, detail, bool(condition))

    @property
    def failures(self) -> list[dict]:
        return [s for s in self.steps if s["ok"] is False]


class PartnerDesk:
    """company-b's side, through the official SDKs: Alice, her key, her role session."""

    def __init__(self, stage) -> None:
        from alibabacloud_ram20150501.client import Client as RamClient
        from alibabacloud_tea_openapi.models import Config

        self.stage = stage
        self.ram = RamClient(Config(access_key_id=stage.partner.access_key_id,
                                    access_key_secret=stage.partner.access_key_secret, region_id=stage.region))
        self.key = None

    def onboard_alice(self, partner_policy: dict) -> None:
        from alibabacloud_ram20150501 import models as m

        self.ram.create_user(m.CreateUserRequest(user_name="alice", display_name="Alice (company-b)"))
        self.key = self.ram.create_access_key(m.CreateAccessKeyRequest(user_name="alice")).body.access_key
        self.ram.create_policy(m.CreatePolicyRequest(policy_name="assume-company-a-ecs-admin",
                                                     policy_document=json.dumps(partner_policy)))
        self.ram.attach_policy_to_user(m.AttachPolicyToUserRequest(policy_type="Custom", user_name="alice",
                                                                   policy_name="assume-company-a-ecs-admin"))
        self.stage.cloud.set_caller_context(self.key.access_key_id, source_ip=ALICE_IP)

    def assume(self, role_arn: str, external_id: str | None):
        """Returns (credentials, None) or (None, error code)."""
        from alibabacloud_sts20150401 import models as m
        from alibabacloud_sts20150401.client import Client as StsClient
        from alibabacloud_tea_openapi.models import Config

        sts = StsClient(Config(access_key_id=self.key.access_key_id, access_key_secret=self.key.access_key_secret,
                               region_id=self.stage.region))
        try:
            body = sts.assume_role(m.AssumeRoleRequest(role_arn=role_arn, role_session_name="alice",
                                                       external_id=external_id, duration_seconds=3600)).body
            return body.credentials, None
        except Exception as error:  # the SDK's error carries the cloud's code
            return None, getattr(error, "code", type(error).__name__)

    def ecs(self, credentials):
        from alibabacloud_ecs20140526.client import Client as EcsClient
        from alibabacloud_tea_openapi.models import Config

        return EcsClient(Config(access_key_id=credentials.access_key_id,
                                access_key_secret=credentials.access_key_secret,
                                security_token=credentials.security_token, region_id=self.stage.region))

    def describe_and_stop(self, credentials, instance_id: str):
        from alibabacloud_ecs20140526 import models as m

        ecs = self.ecs(credentials)
        try:
            found = ecs.describe_instances(m.DescribeInstancesRequest(region_id=self.stage.region)).body
            ecs.stop_instance(m.StopInstanceRequest(instance_id=instance_id))
            return [i.instance_id for i in found.instances.instance], None
        except Exception as error:
            return None, getattr(error, "code", type(error).__name__)


def play_seed(out_dir: Path, *, as_json: bool = False, stream=sys.stdout, deployment: Path | None = None) -> int:
    """The main job, on the functions and triggers of `deployment` (default s.yaml). Returns the exit code."""
    import time_machine

    from fakecloud import mock_cloud
    from shared.local.stage import build_stage
    from shared.runtime import reset_settings

    agreement = json.loads(EXAMPLE.read_text("utf-8"))
    starts = datetime.fromisoformat(agreement["startsAt"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(agreement["expiresAt"].replace("Z", "+00:00"))
    timeline = Timeline(stream, as_json)
    key = "agreements/company-b-ecs-admin.json"
    agreement_id = agreement["agreementId"]
    begin = min(starts - timedelta(days=2), datetime.now(timezone.utc).replace(microsecond=0))
    try:
        with mock_cloud() as cloud, time_machine.travel(begin, tick=True) as clock:
            stage = build_stage(cloud, deployment=deployment)
            desk = PartnerDesk(stage)
            instance = cloud.backend("ecs").seed_instance(stage.owner_id, stage.region, name="web-1")
            now = lambda: datetime.now(timezone.utc)  # noqa: E731 - the virtual clock
            timeline.step(now(), "fake cloud up", f"company-a {stage.owner_id}, company-b {stage.partner_id}, bucket "
                                                  f"{stage.bucket}, functions: "
                                                  f"{', '.join(f.name for f in stage.wiring.functions)}\n"
                                                  f"wired from {_shown(stage.wiring.path)} "
                                                  f"(FC API {stage.wiring.fc_api})")

            stage.upload(key, EXAMPLE.read_bytes())
            status = stage.status(agreement_id) or {}
            timeline.expect(now(), "company-a drops the agreement; intake creates the role",
                            status.get("state") == "scheduled",
                            f"status: {status.get('state')}  role: {status.get('roleArn')}\n"
                            f"actions: {len(status.get('actions') or [])} RAM writes")
            pack = status.get("onboarding") or {}
            desk.onboard_alice(pack.get("partnerPolicy") or {})
            timeline.step(now(), "company-b onboards Alice with the pack's least-privilege policy",
                          f"sts:AssumeRole on {pack.get('roleArn')} only; ExternalId {pack.get('externalId')}")
            early, error = desk.assume(pack.get("roleArn", ""), pack.get("externalId"))
            if early is not None:  # the trust policy names no window by default: the guard policy denies
                _, error = desk.describe_and_stop(early, instance)
            timeline.expect(now(), "Alice tries before startsAt: RAM refuses",
                            error in ("NoPermission", "Forbidden.RAM"), f"-> {error}")

            clock.move_to(starts + timedelta(minutes=1))
            stage.tick()
            status = stage.status(agreement_id) or {}
            timeline.expect(now(), "the agreement starts; the enforcer marks it active", status.get("state") == "active")
            creds, error = desk.assume(pack.get("roleArn", ""), "wrong-id")
            timeline.expect(now(), "a wrong ExternalId is refused", error == "NoPermission", f"AssumeRole -> {error}")
            creds, error = desk.assume(pack.get("roleArn", ""), pack.get("externalId"))
            timeline.expect(now(), "Alice switches into ecs-admin", creds is not None, f"AssumeRole -> {error or 'ok'}")
            found, error = desk.describe_and_stop(creds, instance) if creds else (None, "no session")
            state = cloud.backend("ecs").get(stage.owner_id, instance).status
            timeline.expect(now(), "Alice describes and stops company-a's instance", error is None and state == "Stopped",
                            f"saw {found}; {instance} is now {state}")

            clock.move_to(starts + timedelta(minutes=20))
            stage.tick()
            stored = _objects(stage, "audit/events/")
            timeline.expect(now(), "the access audit pulls ActionTrail and stores Alice's calls", bool(stored),
                            f"{len(stored)} event batch(es) under audit/events/")
            clock.move_to(starts.replace(hour=0, minute=5) + timedelta(days=1))
            stage.tick()
            digest = _latest(stage, "reports/digest/", ".md")
            timeline.expect(now(), "the daily digest attributes the work to company-b/alice and the agreement",
                            "company-b/alice" in digest and "ecs:StopInstance" in digest
                            and agreement_id in digest, _excerpt(digest, ("People", "Top actions", "Source IPs")))

            for offset in (timedelta(days=7), timedelta(days=1)):
                clock.move_to(expires - offset + timedelta(minutes=1))
                stage.tick()
            notices = [m["payload"]["markdown"]["title"] for m in stage.messages() if m.get("msgtype") == "markdown"]
            timeline.expect(now(), "pre-expiry notices (7 days, 1 day)",
                            any("7d" in n for n in notices) and any("1d" in n for n in notices),
                            "\n".join(n for n in notices if "expires" in n))
            _right_size_step(timeline, stage, agreement_id, now())

            clock.move_to(expires - timedelta(minutes=30))
            creds, error = desk.assume(pack.get("roleArn", ""), pack.get("externalId"))
            timeline.expect(now(), "Alice opens a session 30 minutes before expiry", creds is not None)
            clock.move_to(expires + timedelta(seconds=1))
            _, error = desk.describe_and_stop(creds, instance) if creds else (None, None)
            timeline.expect(now(), "at expiresAt RAM denies her live session (guard policy, no function ran)",
                            error is not None, f"DescribeInstances -> {error}")

            clock.move_to(expires + timedelta(minutes=1))
            stage.tick()
            status = stage.status(agreement_id) or {}
            roles = [r.name for r in cloud.backend("ram").list_roles(stage.owner_id)]
            timeline.expect(now(), "the enforcer ends the agreement and deletes the role",
                            status.get("state") == "ended" and "ecs-admin" not in roles,
                            "removed:\n" + "\n".join((status.get("ended") or {}).get("removed") or []))
            _, error = desk.assume(pack.get("roleArn", ""), pack.get("externalId"))
            timeline.expect(now(), "AssumeRole is denied afterwards", error is not None, f"AssumeRole -> {error}")

            clock.move_to(expires + timedelta(minutes=20))
            stage.tick()
            alerts = [m["payload"]["markdown"]["title"] for m in stage.messages()
                      if m.get("msgtype") == "markdown" and "audit alert" in m["payload"]["markdown"]["title"]]
            clock.move_to(expires.replace(hour=0, minute=5) + timedelta(days=1))
            stage.tick()
            digest = _latest(stage, "reports/digest/", ".md")
            timeline.expect(now(), "the audit flags her attempt after expiry (alert + digest)",
                            bool(alerts) and "activity-after-end" in digest,
                            "\n".join(alerts) + "\n" + _excerpt(digest, ("**high**",)))
            _write_outputs(out_dir, stage, timeline)
            page = _write_report(out_dir / "report.html", stage, begin, now())
            timeline.expect(now(), "the seed's HTML access report, with its chart, is written",
                            f'data-agreement="{agreement_id}"' in page and "activity-after-end" in page
                            and 'id="chart-a1"' in page, _shown(out_dir / "report.html"))
            timeline.step(now(), "outputs written", str(out_dir))
    finally:
        reset_settings(None)
    failed = timeline.failures
    print(("\nAll expected effects observed." if not failed else
           f"\n{len(failed)} expected effect(s) NOT observed: " + "; ".join(s["step"] for s in failed)),
          file=stream, flush=True)
    return 0 if not failed else 1


def _right_size_step(timeline: Timeline, stage, agreement_id: str, moment: datetime) -> None:
    """Issue 14: the first pre-expiry notice proposes exactly what Alice used, in proposals/."""
    from shared.rightsize.proposal import proposed_grants

    texts = [m["payload"]["markdown"]["text"] for m in stage.messages() if m.get("msgtype") == "markdown"
             and m["payload"]["markdown"]["title"].endswith("expires in 7d")]
    line = next((t.split("**Right-size at renewal:** ", 1)[1].split("\n", 1)[0] for t in texts
                 if "**Right-size at renewal:** " in t), "")
    grants = proposed_grants(stage.read_json(f"proposals/{agreement_id}.json") or {})
    timeline.expect(moment, "right-size at renewal: the 7-day notice proposes exactly what Alice used",
                    f"proposals/{agreement_id}.json" in line
                    and sorted(grants) == ["ecs:DescribeInstances", "ecs:StopInstance"],
                    line + "\n" + "\n".join(f"{action} on {', '.join(on)}" for action, on in sorted(grants.items())))


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _latest(stage, prefix: str, suffix: str) -> str:
    keys = [k for k in _objects(stage, prefix) if k.endswith(suffix)]
    return stage.read_text(keys[-1]) if keys else ""


def _excerpt(text: str, markers: tuple[str, ...]) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if any(m in line for m in markers))


def _objects(stage, prefix: str) -> list[str]:
    import oss2

    return sorted(o.key for o in oss2.ObjectIterator(stage.oss(), prefix=prefix))


def _write_report(path: Path, stage, since: datetime, until: datetime) -> str:
    """The access report of the whole run as one HTML page (what `rolepact report --html` writes)."""
    import dataclasses

    from shared.audit.cli_report import stored_report
    from shared.audit.config import AuditConfig
    from shared.audit.html import render_html
    from shared.gateways import Gateways
    from shared.settings import Credentials

    owner = Credentials(stage.owner.access_key_id, stage.owner.access_key_secret)
    settings = dataclasses.replace(stage.settings, credentials=owner)
    report = stored_report(Gateways.connect(settings), settings, AuditConfig(), since, until)
    page = render_html(report.data, title="rolepact access audit — the seed, end to end")
    path.write_text(page, "utf-8")
    return page


def _write_outputs(out_dir: Path, stage, timeline: Timeline) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "dingtalk").mkdir(parents=True)
    for number, message in enumerate(stage.messages(), 1):
        payload = message["payload"]
        body = payload.get("markdown") or payload.get("text") or {}
        title = body.get("title") or message.get("msgtype")
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in title)[:60]
        (out_dir / "dingtalk" / f"{number:03d}-{name}.md").write_text(body.get("text") or body.get("content") or "",
                                                                       "utf-8")
    for prefix in ("reports/", "status/", "audit/roles/", "proposals/"):
        for key in _objects(stage, prefix):
            target = out_dir / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(stage.oss().get_object(key).read())
    (out_dir / "timeline.json").write_text(json.dumps(timeline.steps, indent=1), "utf-8")
