"""One wiring model for both deployment files: what FC would run, read from the rendered props.

`s.yaml` (FC 2.0, component `fc`: one service holding the functions) and `deploy/fc3/s.yaml`
(FC 3.0, component `fc3`: functions are first-level resources, role and logs per function)
describe the same five functions in two shapes. `load` renders either file with the CLI's
semantics (shared/local/syaml.py) and normalises it, so the local runtime, the fake cloud and
the tests wire exactly what `s deploy` would create.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.local.syaml import SyamlError, js_string, render

FC2_COMPONENTS = ("fc", "devsapp/fc")
FC3_COMPONENTS = ("fc3", "devsapp/fc3")


@dataclass
class FunctionWiring:
    """One FC function as a deployment file declares it."""

    resource: str  # the services.<resource> / resources.<resource> key
    name: str  # the FC function name
    handler: str
    runtime: str
    memory: int
    timeout: int
    environment: dict
    role: str | None = None  # FC 2.0: the service role; FC 3.0: the function's role
    # normalised triggers: {"name", "type", "config", "role", "sourceArn"} (FC 2.0 key names)
    triggers: list[dict] = field(default_factory=list)
    max_async_retry: int = 3
    on_failure: str | None = None  # destination ARN
    log_config: object = None
    code: str | None = None  # code directory, relative to the deployment file


@dataclass
class Wiring:
    path: Path
    edition: str
    fc_api: str  # "fc2" for the FC 2.0 file, "fc3" for the FC 3.0 one
    region: str
    functions: list[FunctionWiring]
    raw: dict  # the rendered document
    service_name: str | None = None  # FC 2.0 only

    @property
    def service_role(self) -> str | None:
        roles = {f.role for f in self.functions}
        if len(roles) > 1:
            raise SyamlError(f"{self.path}: the functions use different roles {sorted(map(str, roles))}")
        return roles.pop() if roles else None

    def function(self, name: str) -> FunctionWiring:
        """By FC function name, or by handler entry name (`agreement_intake`) on either edition."""
        for function in self.functions:
            if name in (function.name, function.handler.rpartition(".")[2]):
                return function
        raise KeyError(name)


def load(path: str | Path, environ: Mapping[str, str]) -> Wiring:
    path = Path(path)
    document = render(path, environ)
    if str(document["edition"]) == "1.0.0":
        return _fc2(path, document)
    return _fc3(path, document)


def _fc2(path: Path, document: dict) -> Wiring:
    functions, services, regions = [], set(), set()
    for resource, entry in (document.get("services") or {}).items():
        _component(path, resource, entry, FC2_COMPONENTS)
        props = entry.get("props") or {}
        service, function = props.get("service") or {}, props.get("function") or {}
        services.add(service.get("name"))
        regions.add(props.get("region"))
        asynchronous = function.get("asyncConfiguration") or {}
        functions.append(FunctionWiring(
            resource=resource, name=_required(function, "name", path, resource),
            handler=_required(function, "handler", path, resource),
            runtime=_required(function, "runtime", path, resource),
            memory=int(_required(function, "memorySize", path, resource)),
            timeout=int(_required(function, "timeout", path, resource)),
            environment=_environment(function.get("environmentVariables")),
            role=service.get("role"),
            triggers=[_trigger_fc2(t) for t in props.get("triggers") or []],
            max_async_retry=int(asynchronous.get("maxAsyncRetryAttempts", 3)),
            on_failure=(asynchronous.get("destination") or {}).get("onFailure"),
            log_config=service.get("logConfig"),
            code=function.get("codeUri"),
        ))
    if len(services) != 1:
        raise SyamlError(f"{path}: rolepact's FC 2.0 functions share one service, found {sorted(map(str, services))}")
    return Wiring(path, "1.0.0", "fc2", _one_region(path, regions), functions, document, service_name=services.pop())


def _fc3(path: Path, document: dict) -> Wiring:
    functions, regions = [], set()
    for resource, entry in (document.get("resources") or {}).items():
        _component(path, resource, entry, FC3_COMPONENTS)
        props = entry.get("props") or {}
        regions.add(props.get("region"))
        asynchronous = props.get("asyncInvokeConfig") or {}
        failure = ((asynchronous.get("destinationConfig") or {}).get("onFailure") or {}).get("destination")
        code = props.get("code")
        functions.append(FunctionWiring(
            resource=resource, name=_required(props, "functionName", path, resource),
            handler=_required(props, "handler", path, resource),
            runtime=_required(props, "runtime", path, resource),
            memory=int(_required(props, "memorySize", path, resource)),
            timeout=int(_required(props, "timeout", path, resource)),
            environment=_environment(props.get("environmentVariables")),
            role=props.get("role"),
            triggers=[_trigger_fc3(t) for t in props.get("triggers") or []],
            max_async_retry=int(asynchronous.get("maxAsyncRetryAttempts", 3)),
            on_failure=failure,
            log_config=props.get("logConfig"),
            code=code if isinstance(code, str) else None,
        ))
    return Wiring(path, "3.0.0", "fc3", _one_region(path, regions), functions, document)


def _trigger_fc2(trigger: dict) -> dict:
    return {"name": trigger.get("name"), "type": trigger.get("type"), "config": dict(trigger.get("config") or {}),
            "role": trigger.get("role"), "sourceArn": trigger.get("sourceArn")}


def _trigger_fc3(trigger: dict) -> dict:
    return {"name": trigger.get("triggerName"), "type": trigger.get("triggerType"),
            "config": dict(trigger.get("triggerConfig") or {}), "role": trigger.get("invocationRole"),
            "sourceArn": trigger.get("sourceArn")}


def _environment(values) -> dict:
    """FC stores environment values as strings; the components convert them as JavaScript would."""
    return {str(key): js_string(value) for key, value in (values or {}).items()}


def _component(path: Path, resource: str, entry: dict, allowed: tuple[str, ...]) -> None:
    component = str((entry or {}).get("component", "")).split("@")[0]
    if component not in allowed:
        raise SyamlError(f"{path}: {resource} uses component {component!r}, expected one of {', '.join(allowed)}")


def _required(props: dict, key: str, path: Path, resource: str):
    if props.get(key) in (None, ""):
        raise SyamlError(f"{path}: {resource} has no {key}")
    return props[key]


def _one_region(path: Path, regions: set) -> str:
    if len(regions) != 1 or None in regions:
        raise SyamlError(f"{path}: every function must be in one region, found {sorted(map(str, regions))}")
    return regions.pop()
