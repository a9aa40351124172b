"""s.yaml is the single source of wiring: check it against the code it deploys."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from shared.local.stage import import_handler
from shared.local.syaml import load
from shared.records import AGREEMENTS, OWN_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
RAW = (ROOT / "s.yaml").read_text("utf-8")
WIRING = load(ROOT / "s.yaml", {})
EXPECTED = {"agreement_intake", "expiry_enforcer", "reconcile_worker", "role_auditor", "access_audit"}


def test_fc2_model_with_one_service_and_the_five_functions():
    assert WIRING.edition == "1.0.0"
    assert {name for name in WIRING.raw["services"]} and all(
        entry["component"] in ("fc", "devsapp/fc") for entry in WIRING.raw["services"].values())
    services = {entry["props"]["service"]["name"] for entry in WIRING.raw["services"].values()}
    assert services == {"rolepact"}
    assert {f.name for f in WIRING.functions} == EXPECTED
    assert WIRING.service_role.endswith(":role/rolepact-fc-role")


@pytest.mark.parametrize("function", WIRING.functions, ids=lambda f: f.name)
def test_every_handler_resolves_to_a_function_in_the_repo(function):
    assert function.runtime == "python3.10"
    assert function.handler == f"functions.{function.name}.handler"
    assert callable(import_handler(function.handler))
    assert (ROOT / "functions" / f"{function.name}.py").exists()
    assert 128 <= function.memory <= 3072 and function.memory % 64 == 0
    assert 1 <= function.timeout <= 600


def test_intake_trigger_matches_what_intake_accepts_and_cannot_loop():
    intake = WIRING.function("agreement_intake")
    (trigger,) = intake.triggers
    assert trigger["type"] == "oss"
    config = trigger["config"]
    assert set(config["events"]) == {"oss:ObjectCreated:*", "oss:ObjectRemoved:*"}
    assert config["filter"]["Key"] == {"Prefix": AGREEMENTS, "Suffix": ".json"}
    # nothing rolepact writes can match the trigger's prefix
    for prefix in OWN_PREFIXES + ("reports/", "audit/"):
        assert not prefix.startswith(AGREEMENTS) and not AGREEMENTS.startswith(prefix)


def test_timers():
    enforcer = WIRING.function("expiry_enforcer").triggers
    assert [t["config"]["cronExpression"] for t in enforcer] == ["@every 1m"]
    assert enforcer[0]["config"]["enable"] is True
    auditor = WIRING.function("role_auditor").triggers
    assert [t["config"]["cronExpression"] for t in auditor] == ["0 0 * * * *"]
    # the fake's FC parses them the way FC does
    from datetime import datetime, timezone

    from fakecloud.services.fc.schedule import parse_schedule

    for function in WIRING.functions:
        for trigger in function.triggers:
            if trigger["type"] == "timer":
                parse_schedule(trigger["config"]["cronExpression"], datetime.now(timezone.utc))
                assert isinstance(trigger["config"].get("payload", ""), str)


def test_access_audit_gets_actiontrail_events_and_a_backstop_timer():
    triggers = {t["type"]: t for t in WIRING.function("access_audit").triggers}
    assert set(triggers) == {"eventbridge", "timer"}
    pattern = json.loads(triggers["eventbridge"]["config"]["eventRuleFilterPattern"])
    # API calls and console operations (a human editing a role in the console is drift too)
    assert pattern["type"] == [{"suffix": ":ActionTrail:ApiCall"}, {"suffix": ":ActionTrail:ConsoleOperation"}]
    assert triggers["eventbridge"]["config"]["eventSourceConfig"]["eventSourceType"] == "Default"


def test_worker_retries_then_reports_through_an_existing_function():
    worker = WIRING.function("reconcile_worker")
    assert worker.triggers == []  # only invoked asynchronously by the enforcer
    assert worker.max_async_retry == 3
    target = worker.on_failure.rsplit("/functions/", 1)[1]
    assert target in EXPECTED


def _variables_read_by_code() -> set[str]:
    names = set()
    for path in list((ROOT / "shared").rglob("*.py")) + list((ROOT / "functions").rglob("*.py")):
        if "local" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"ROLEPACT_[A-Z_]+",
                                                                                             node.value):
                names.add(node.value)
    return names


def test_every_environment_variable_the_code_reads_is_set_and_documented():
    read = _variables_read_by_code()
    assert read, "the scan found no ROLEPACT_ variables"
    environment = WIRING.functions[0].environment
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in sorted(read):
        assert name in environment, f"{name} is read by the code but not set in s.yaml"
        documented = name in readme or name.replace("_BATCH_SIZE", "").replace("_THRESHOLD", "") in readme \
            or re.sub(r"_(RAM|STS|OSS|ACTIONTRAIL|FC)_ENDPOINT$", "_*_ENDPOINT", name) in readme
        assert documented, f"{name} is not documented in README.md"
    functions = {f.name: f.environment for f in WIRING.functions}
    assert all(env == environment for env in functions.values()), "every function gets the same configuration"


def test_secrets_come_from_the_deployer_environment_not_the_file():
    assert not re.search(r"SEC[0-9a-f]{16,}", RAW)
    assert "access_token=" not in RAW
