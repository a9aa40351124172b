"""Helpers of issue 14's acceptance tests (right-size at renewal), on top of audit_support.

The deployment is the whole of s.yaml on the fake (the access audit stores the partner's calls
from EventBridge and its 15-minute pull); the partner works through the real SDKs; the owner
runs `rolepact rightsize` with its own credentials, as a user would.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from audit_support import A, REGION, T0, keys, read_object, tick
from shared import cli

INSTANCE_ARN = "acs:ecs:" + REGION + ":" + A + ":instance/{}"


def owner_env(stage, monkeypatch) -> None:
    for name, value in {"ALIBABA_CLOUD_ACCESS_KEY_ID": stage.owner.access_key_id,
                        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": stage.owner.access_key_secret,
                        "ROLEPACT_BUCKET": stage.bucket, "ROLEPACT_REGION": stage.region,
                        "ROLEPACT_ACCOUNT_ID": stage.owner_id}.items():
        monkeypatch.setenv(name, value)


def rightsize(stage, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    """`rolepact rightsize <argv>` as the owner: (exit code, stdout, stderr)."""
    owner_env(stage, monkeypatch)
    capsys.readouterr()
    code = cli.main(["rightsize", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def rightsize_json(stage, monkeypatch, capsys, agreement_id: str, *argv: str) -> tuple[int, dict]:
    code, out, _ = rightsize(stage, monkeypatch, capsys, agreement_id, "--json", *argv)
    return code, json.loads(out)


def allows(policy: dict) -> dict[str, object]:
    """action -> the Resource of the Allow statement that grants it."""
    return {action: s["Resource"] for s in policy["Statement"] if s["Effect"] == "Allow"
            for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def stored_proposal(stage, agreement_id: str) -> dict | None:
    key = f"proposals/{agreement_id}.json"
    return json.loads(read_object(stage, key)) if key in keys(stage, "proposals/") else None


def pull(stage, clock) -> None:
    """Let the access audit's 15-minute timer pull what ActionTrail recorded (reads come only this way)."""
    tick(stage, clock, datetime.now(timezone.utc) + timedelta(minutes=15))


__all__ = ["INSTANCE_ARN", "T0", "allows", "owner_env", "pull", "rightsize", "rightsize_json", "stored_proposal"]
