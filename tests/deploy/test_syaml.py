"""Both deployment files are the single source of wiring: check them against the code they deploy.

They are rendered here by shared/local/syaml.py, whose output tests/deploy/test_cli_render.py
proves equal to what the real `s` 2.x / 3.x hands the fc / fc3 components.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import rolepact_handlers
from shared.local.stage import DEPLOYMENTS, EXPORTED, import_handler
from shared.local.syaml import SyamlError, render_core1
from shared.local.wiring import load
from shared.records import AGREEMENTS, OWN_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = {"ROLEPACT_ACCOUNT_ID": "1987654321098765", "ROLEPACT_REGION": "cn-shanghai",
           "ROLEPACT_BUCKET": "acme-rolepact", "ROLEPACT_DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?x=1",
           "ROLEPACT_DINGTALK_SECRET": "SEC" + "ab" * 30}
WIRINGS = {api: load(path, EXPORTS) for api, path in DEPLOYMENTS.items()}
ENTRIES = set(rolepact_handlers.HANDLER_MODULES)
FUNCTIONS = [(api, f) for api, wiring in WIRINGS.items() for f in wiring.functions]


def _each(test):
    return pytest.mark.parametrize("api", sorted(WIRINGS))(test)


def _entry(function) -> str:
    return function.handler.rpartition(".")[2]


@_each
def test_the_five_functions_on_each_edition(api):
    wiring = WIRINGS[api]
    assert {_entry(f) for f in wiring.functions} == ENTRIES
    assert wiring.region == "cn-shanghai"
    assert wiring.service_role == "acs:ram::1987654321098765:role/rolepact-fc-role"
    if api == "fc2":
        assert wiring.edition == "1.0.0" and wiring.service_name == "rolepact"
        assert all(e["component"] == "fc" for e in wiring.raw["services"].values())
        assert {f.name for f in wiring.functions} == ENTRIES  # FC 2.0: names inside the service
    else:
        assert wiring.edition == "3.0.0" and wiring.service_name is None
        assert all(e["component"] == "fc3" for e in wiring.raw["resources"].values())
        prefix = wiring.functions[0].environment["ROLEPACT_SERVICE_NAME"]
        # FC 3.0 names are unique per region and account: every one carries the deployment's prefix
        assert {f.name for f in wiring.functions} == {f"{prefix}-{e.replace('_', '-')}" for e in ENTRIES}
        assert all(f.log_config == "auto" for f in wiring.functions)


@pytest.mark.parametrize("api,function", FUNCTIONS, ids=lambda v: getattr(v, "name", v))
def test_every_handler_is_a_documented_file_dot_function_at_the_code_root(api, function):
    assert function.runtime == "python3.10"
    module, _, name = function.handler.partition(".")
    assert (module, "." in name) == ("rolepact_handlers", False), function.handler
    assert callable(import_handler(function.handler))
    assert rolepact_handlers.target(name) is import_handler(f"{rolepact_handlers.HANDLER_MODULES[name]}.handler")
    assert 128 <= function.memory <= 3072 and function.memory % 64 == 0
    assert 1 <= function.timeout <= 600
    code = (Path(WIRINGS[api].path).parent / function.code).resolve()
    assert code == ROOT / "build" / "dist"  # what `make package` builds


def _key_filter(config: dict) -> dict:
    flt = config["filter"]
    key = flt.get("Key") or flt["key"]
    return {"prefix": key.get("Prefix", key.get("prefix")), "suffix": key.get("Suffix", key.get("suffix"))}


@_each
def test_intake_trigger_matches_what_intake_accepts_and_cannot_loop(api):
    (trigger,) = WIRINGS[api].function("agreement_intake").triggers
    assert trigger["type"] == "oss"
    assert trigger["sourceArn"] == "acs:oss:cn-shanghai:1987654321098765:acme-rolepact"
    assert trigger["role"] == "acs:ram::1987654321098765:role/aliyunosseventnotificationrole"
    assert set(trigger["config"]["events"]) == {"oss:ObjectCreated:*", "oss:ObjectRemoved:*"}
    assert _key_filter(trigger["config"]) == {"prefix": AGREEMENTS, "suffix": ".json"}
    if api == "fc2":
        assert trigger["config"]["filter"]["Key"] and trigger["config"]["bucketName"] == "acme-rolepact"
    else:
        assert trigger["config"]["filter"]["key"]  # fc3 spells the filter in lower case
    for prefix in OWN_PREFIXES + ("reports/", "audit/"):
        assert not prefix.startswith(AGREEMENTS) and not AGREEMENTS.startswith(prefix)


@_each
def test_timers(api):
    from datetime import datetime, timezone

    from fakecloud.services.fc.schedule import parse_schedule

    wiring = WIRINGS[api]
    assert [t["config"]["cronExpression"] for t in wiring.function("expiry_enforcer").triggers] == ["@every 1m"]
    assert [t["config"]["cronExpression"] for t in wiring.function("role_auditor").triggers] == ["0 0 * * * *"]
    for function in wiring.functions:
        for trigger in function.triggers:
            if trigger["type"] == "timer":
                assert trigger["config"]["enable"] is True and isinstance(trigger["config"]["payload"], str)
                parse_schedule(trigger["config"]["cronExpression"], datetime.now(timezone.utc))


@_each
def test_access_audit_gets_actiontrail_events_and_a_backstop_timer(api):
    triggers = {t["type"]: t for t in WIRINGS[api].function("access_audit").triggers}
    assert set(triggers) == {"eventbridge", "timer"}
    pattern = json.loads(triggers["eventbridge"]["config"]["eventRuleFilterPattern"])
    assert pattern["type"] == [{"suffix": ":ActionTrail:ApiCall"}, {"suffix": ":ActionTrail:ConsoleOperation"}]
    assert triggers["eventbridge"]["config"]["eventSourceConfig"]["eventSourceType"] == "Default"


@_each
def test_worker_retries_then_reports_through_the_enforcer_it_is_configured_for(api):
    wiring = WIRINGS[api]
    worker, enforcer = wiring.function("reconcile_worker"), wiring.function("expiry_enforcer")
    assert worker.triggers == []  # only invoked asynchronously by the enforcer
    assert worker.max_async_retry == 3
    assert worker.environment["ROLEPACT_WORKER_FUNCTION"] == worker.name  # the enforcer invokes this name
    if api == "fc2":
        assert worker.on_failure == "acs:fc:cn-shanghai:1987654321098765:services/rolepact.LATEST/functions/" \
                                   + enforcer.name
        assert worker.environment["ROLEPACT_SERVICE_NAME"] == wiring.service_name
    else:
        assert worker.on_failure == f"acs:fc:cn-shanghai:1987654321098765:functions/{enforcer.name}"


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


@_each
def test_every_environment_variable_the_code_reads_is_set_and_documented(api):
    read = _variables_read_by_code()
    assert read, "the scan found no ROLEPACT_ variables"
    wiring = WIRINGS[api]
    environment = wiring.functions[0].environment
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in sorted(read):
        assert name in environment, f"{name} is read by the code but not set in {wiring.path.relative_to(ROOT)}"
        documented = name in readme or name.replace("_BATCH_SIZE", "").replace("_THRESHOLD", "") in readme \
            or re.sub(r"_(RAM|STS|OSS|ACTIONTRAIL|FC)_ENDPOINT$", "_*_ENDPOINT", name) in readme
        assert documented, f"{name} is not documented in README.md"
    assert all(f.environment == environment for f in wiring.functions), "every function gets the same configuration"


def test_both_editions_configure_the_functions_alike():
    """Only what names the FC API and its resources may differ between FC 2.0 and FC 3.0."""
    fc2, fc3 = (WIRINGS[api].functions[0].environment for api in ("fc2", "fc3"))
    differ = {name for name in fc2.keys() | fc3.keys() if fc2.get(name) != fc3.get(name)}
    assert {"ROLEPACT_FC_API", "ROLEPACT_WORKER_FUNCTION"} <= differ \
        <= {"ROLEPACT_FC_API", "ROLEPACT_SERVICE_NAME", "ROLEPACT_WORKER_FUNCTION"}
    assert (fc2["ROLEPACT_FC_API"], fc3["ROLEPACT_FC_API"]) == ("fc2", "fc3")
    for api in WIRINGS:
        pairs = {(f.memory, f.timeout, f.max_async_retry) for f in WIRINGS[api].functions}
        assert pairs == {(f.memory, f.timeout, f.max_async_retry) for f in WIRINGS["fc2"].functions}


@_each
def test_the_deployer_exports_exactly_five_values_and_nothing_has_a_default(api):
    raw = Path(DEPLOYMENTS[api]).read_text("utf-8")
    body = "\n".join(line.split(" #")[0] for line in raw.splitlines() if not line.lstrip().startswith("#"))
    if api == "fc2":  # the 2.x core's syntax: ${env(NAME)}; its ${env('NAME', 'x')} would never resolve
        used = set(re.findall(r"\$\{env\(([A-Z_]+)\)\}", body))
    else:  # 3.x: ${env('NAME')}, no second argument
        used = set(re.findall(r"\$\{env\('([A-Z_]+)'\)\}", body))
    assert used == set(EXPORTED)
    assert len(re.findall(r"\$\{env", body)) == len(re.findall(r"\$\{env\(('?)[A-Z_]+\1\)\}", body))
    for name in EXPORTED:  # each of the five reaches the functions unchanged
        assert WIRINGS[api].functions[0].environment[name] == EXPORTS[name]


@_each
def test_a_missing_export_is_refused_not_deployed_as_text(api):
    partial = {k: v for k, v in EXPORTS.items() if k != "ROLEPACT_DINGTALK_SECRET"}
    with pytest.raises(SyamlError, match="ROLEPACT_DINGTALK_SECRET"):
        load(DEPLOYMENTS[api], partial)


@_each
def test_secrets_come_from_the_deployer_environment_not_the_file(api):
    raw = Path(DEPLOYMENTS[api]).read_text("utf-8")
    assert not re.search(r"SEC[0-9a-f]{16,}", raw)
    assert "access_token=" not in raw


def test_the_edition_1_core_has_no_defaults_and_resolves_two_levels_deep():
    document = {"edition": "1.0.0", "vars": {"a": "${env(A)}", "b": "${vars.a}", "dflt": "${env('A', 'x')}"},
                "services": {"s": {"component": "fc", "props": {
                    "one": "${vars.a}", "two": "${vars.b}", "dotted": "${env.A}", "dflt": "${vars.dflt}",
                    "unset": "${env(NOPE)}", "empty": "${env(EMPTY)}", "number": "${vars.n}-x"}}}}
    document["vars"]["n"] = 7
    props = render_core1(document, {"A": "a-1", "EMPTY": ""})["services"]["s"]["props"]
    assert props["one"] == "a-1" and props["dotted"] == "a-1"
    assert props["two"] == "${env(A)}"  # a third hop is never rendered
    assert props["dflt"] == "${env('A', 'x')}"  # looks up a variable named "'A', 'x'"
    assert props["unset"] == "${env(NOPE)}" and props["empty"] == ""
    assert props["number"] == 7  # a non-string value replaces the whole string, as the core does
