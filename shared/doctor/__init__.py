"""`rolepact doctor`: does the account around rolepact look the way rolepact assumes?

Run by an operator with the deployment's settings (the same `ROLEPACT_*` environment as the
functions) and credentials that can read the bucket, RAM, ActionTrail and Function Compute.
Every check says what it found and, when it fails, how to fix it; one check's cloud error never
stops the others. Which assumption each check protects, and the document it rests on, is in
docs/operations.md ("rolepact doctor") and docs/fake-fidelity.md.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

from shared.errors import CloudError, RolepactError

RUNBOOK = "docs/operations.md#rolepact-doctor"


@dataclass
class Check:
    id: str
    status: str  # pass | fail | skip
    summary: str
    fix: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Options:
    send_test_message: bool = False
    deployment: Path | None = None  # the deployment file (default: s.yaml, or deploy/fc3/s.yaml on FC 3.0)
    environ: dict = field(default_factory=dict)  # the deployer's exports the deployment file reads
    fc_api: str = "fc2"
    max_clock_skew: float = 60.0  # seconds
    service_role: str = "rolepact-fc-role"
    global_region: str = "cn-hangzhou"  # where ActionTrail keeps global (RAM) events

    @property
    def deployment_file(self) -> Path:
        if self.deployment is not None:
            return self.deployment
        return Path("deploy/fc3/s.yaml") if self.fc_api == "fc3" else Path("s.yaml")

    @functools.cached_property
    def wiring(self):
        """The deployment file rendered as `s deploy` would (raises SyamlError/OSError if it cannot be)."""
        from shared.local.wiring import load

        return load(self.deployment_file, self.environ)


def run(settings, gateways, options: Options) -> list[Check]:
    from shared.doctor import checks

    results = []
    for check_id, check in checks.CHECKS:
        try:
            results.append(check(settings, gateways, options))
        except (CloudError, RolepactError) as error:
            results.append(Check(check_id, "fail", f"could not check: {error}",
                                 "make sure the credentials may read what this check reads (see the runbook)"))
        except Exception as error:  # noqa: BLE001 - one check's bug must not hide the others' results
            results.append(Check(check_id, "fail", f"could not check: {type(error).__name__}: {error}",
                                 "report this as a rolepact bug"))
    return results


def render_text(results: list[Check]) -> str:
    lines = []
    for check in results:
        lines.append(f"[{check.status.upper():4}] {check.id}: {check.summary}")
        if check.status == "fail" and check.fix:
            lines.append(f"       fix: {check.fix}")
    failed = sum(1 for c in results if c.status == "fail")
    lines.append(f"{len(results) - failed} of {len(results)} checks did not fail"
                 + (f"; {failed} failed (runbook: {RUNBOOK})" if failed else ""))
    return "\n".join(lines)


def render_json(results: list[Check]) -> str:
    return json.dumps({"ok": not any(c.status == "fail" for c in results),
                       "checks": [c.to_dict() for c in results]}, indent=2, default=str)


def server_time(date_header: str | None):
    """An HTTP Date header as an aware UTC datetime (None without one)."""
    if not date_header:
        return None
    moment = parsedate_to_datetime(date_header)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


CheckFn = Callable[..., Check]
