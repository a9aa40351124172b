"""Reading s.yaml the way Serverless Devs renders it (the subset rolepact uses).

Supports `${env('NAME', 'default')}` and `${vars.a.b}`; a value that is exactly one
`${vars.x}` takes the variable's structure (a map stays a map).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_EXPR = re.compile(r"\$\{([^}]+)\}")
_ENV = re.compile(r"""^env\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*(?:,\s*['"]([^'"]*)['"])?\s*\)$""")


class SyamlError(ValueError):
    pass


def render(node, variables: dict, environ: Mapping[str, str]):
    if isinstance(node, dict):
        return {key: render(value, variables, environ) for key, value in node.items()}
    if isinstance(node, list):
        return [render(item, variables, environ) for item in node]
    if not isinstance(node, str):
        return node
    whole = _EXPR.fullmatch(node.strip())
    if whole:
        return _evaluate(whole.group(1).strip(), variables, environ)
    return _EXPR.sub(lambda m: str(_evaluate(m.group(1).strip(), variables, environ)), node)


def _evaluate(expression: str, variables: dict, environ: Mapping[str, str]):
    if m := _ENV.match(expression):
        value = environ.get(m.group(1))
        return value if value is not None else (m.group(2) if m.group(2) is not None else "")
    if expression.startswith("vars."):
        value = variables
        for part in expression[len("vars."):].split("."):
            if not isinstance(value, dict) or part not in value:
                raise SyamlError(f"s.yaml: ${{{expression}}} names no variable")
            value = value[part]
        return value
    raise SyamlError(f"s.yaml: unsupported expression ${{{expression}}}")


@dataclass
class FunctionWiring:
    """One FC function as s.yaml declares it."""

    resource: str  # the services.<resource> key
    name: str
    handler: str
    runtime: str
    memory: int
    timeout: int
    environment: dict
    triggers: list[dict] = field(default_factory=list)
    max_async_retry: int = 3
    on_failure: str | None = None


@dataclass
class Wiring:
    edition: str
    service_name: str
    service_role: str | None
    region: str
    functions: list[FunctionWiring]
    raw: dict

    def function(self, name: str) -> FunctionWiring:
        for function in self.functions:
            if function.name == name:
                return function
        raise KeyError(name)


def load(path: str | Path = "s.yaml", environ: Mapping[str, str] | None = None) -> Wiring:
    document = yaml.safe_load(Path(path).read_text("utf-8"))
    environ = {} if environ is None else environ
    variables = render(document.get("vars") or {}, {}, environ)
    variables = render(document.get("vars") or {}, variables, environ)  # vars may use vars
    rendered = render({k: v for k, v in document.items() if k != "vars"}, variables, environ)
    functions, service_name, role, region = [], None, None, None
    for resource, entry in (rendered.get("services") or {}).items():
        props = entry.get("props") or {}
        service, function = props.get("service") or {}, props.get("function") or {}
        service_name, role, region = service.get("name"), service.get("role"), props.get("region")
        async_config = function.get("asyncConfiguration") or {}
        destination = (async_config.get("destination") or {}).get("onFailure")
        functions.append(FunctionWiring(
            resource=resource, name=function["name"], handler=function["handler"], runtime=function.get("runtime", ""),
            memory=int(function.get("memorySize", 512)), timeout=int(function.get("timeout", 60)),
            environment={k: str(v) for k, v in (function.get("environmentVariables") or {}).items()},
            triggers=list(props.get("triggers") or []),
            max_async_retry=int(async_config.get("maxAsyncRetryAttempts", 3)),
            on_failure=destination,
        ))
    return Wiring(str(document.get("edition")), service_name or "", role, region or "cn-hangzhou", functions, rendered)
