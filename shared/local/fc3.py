"""Deploying rolepact's functions as FC 3.0 functions on the fake (what `s deploy` with fc3 creates).

FC 3.0 has no services: each function is a first-level resource with its own role, async
invoke config (retries, on-failure destination) and triggers. `deploy_fc3` registers the
functions of a `Wiring` that way through the fake's model-level FC 3.0 calls
(`create_function`, `put_async_invoke_config`, `create_trigger`; docs/fakecloud-internals.md).
It reads both trigger spellings: FC 2.0's (`name`/`type`/`config`, OSS `bucketName`,
`filter.Key.Prefix`) and FC 3.0's (`triggerName`/`triggerType`/`triggerConfig`, OSS bucket in
`sourceArn`, `filter.key.prefix`), and turns FC 2.0 destination ARNs into FC 3.0 ones.
"""
from __future__ import annotations

import json
import re

_FC2_FUNCTION_ARN = re.compile(r"^acs:fc:(?P<region>[^:]*):(?P<account>[^:]*):services/[^/]+/functions/(?P<fn>[^/]+)$")


def fc3_destination(arn: str | None, region: str, account_id: str) -> str | None:
    """An on-failure destination as an FC 3.0 function ARN (`acs:fc:<region>:<uid>:functions/<name>`)."""
    if not arn:
        return None
    if m := _FC2_FUNCTION_ARN.match(arn):
        return f"acs:fc:{m['region'] or region}:{m['account'] or account_id}:functions/{m['fn']}"
    return arn


def fc3_trigger(trigger: dict, region: str, account_id: str) -> dict:
    """A trigger of s.yaml as FC 3.0's CreateTrigger takes it: name, type, config, sourceArn, invocationRole."""
    config = trigger.get("triggerConfig", trigger.get("config")) or {}
    if isinstance(config, str):
        config = json.loads(config)
    config = dict(config)
    trigger_type = trigger.get("triggerType") or trigger.get("type")
    source_arn = trigger.get("sourceArn")
    if trigger_type == "oss":
        bucket = config.pop("bucketName", None)
        source_arn = source_arn or (f"acs:oss:{region}:{account_id}:{bucket}" if bucket else None)
        key = (config.get("filter") or {}).get("key") or (config.get("filter") or {}).get("Key")
        if key is not None:
            config["filter"] = {"key": {k.lower(): v for k, v in key.items()}}
    return {"name": trigger.get("triggerName") or trigger.get("name"), "type": trigger_type, "config": config,
            "source_arn": source_arn, "invocation_role": trigger.get("invocationRole") or trigger.get("role")}


def deploy_fc3(fc, wiring, owner_id: str, region: str, role_name: str, handlers: dict,
               functions: list[str] | None = None) -> None:
    """Create each function of `wiring` (or only those named) as an FC 3.0 function with `role_name`.

    `handlers` maps a function name to its callable (the stage imports them).
    """
    for function in wiring.functions:
        if functions is not None and function.name not in functions:
            continue
        fc.create_function(owner_id, function.name, handlers[function.name], handler_name=function.handler,
                           runtime=function.runtime or "python3.10", memory=function.memory, timeout=function.timeout,
                           environment=function.environment, role=role_name, region=region)
        fc.put_async_invoke_config(owner_id, function.name, max_async_retry=function.max_async_retry,
                                   on_failure=fc3_destination(function.on_failure, region, owner_id), region=region)
        for trigger in function.triggers:
            spec = fc3_trigger(trigger, region, owner_id)
            fc.create_trigger(owner_id, function.name, spec["name"], spec["type"], spec["config"],
                              source_arn=spec["source_arn"], invocation_role=spec["invocation_role"], region=region)
