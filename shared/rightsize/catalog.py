"""The known RAM actions of a service, so that "used 2 of N" can count what a wildcard grants.

`ecs:*` grants every ECS action; how many that is depends on the service. The list kept in
`actions.json` is every API operation of the service's official Python SDK (one RAM action
per API operation, named like it: `ecs:StopInstance` for StopInstance — the rule of Alibaba's
"RAM authorization" tables, with few exceptions). It is data, shipped with the package, so
the functions need no SDK they do not otherwise use. A test compares it with the installed
SDKs; `python -m shared.rightsize.catalog` rewrites it from them.

A pattern of a service that is not listed (e.g. `oss:*`, `vpc:Describe*`) cannot be counted:
it is reported as uncounted, never guessed. An exact action name (`vpc:DescribeVpcs`) always
counts as one.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from shared.agreements.guardrails import _matches as matches  # RAM's wildcard match, linear time

CATALOG_FILE = Path(__file__).with_name("actions.json")
# RAM service code -> the official SDK module whose API operations are that service's actions.
SDK_MODULES = {
    "ecs": "alibabacloud_ecs20140526",
    "ram": "alibabacloud_ram20150501",
    "sts": "alibabacloud_sts20150401",
    "actiontrail": "alibabacloud_actiontrail20200706",
}


@lru_cache(maxsize=1)
def known_actions() -> dict[str, tuple[str, ...]]:
    """RAM service code -> its actions (`ecs:StopInstance`, ...), sorted."""
    data = json.loads(CATALOG_FILE.read_text("utf-8"))
    return {service: tuple(f"{service}:{name}" for name in names) for service, names in data["services"].items()}


def expand(pattern: str) -> tuple[frozenset[str], bool]:
    """(known actions the pattern grants, whether it may grant actions that cannot be counted).

    Matching is RAM's: case-insensitive, `*` and `?` wildcards, service and name together.
    """
    service, _, name = pattern.rpartition(":")
    wild = any(ch in pattern for ch in "*?")
    if not wild:
        return frozenset({pattern}), False
    catalog = known_actions()
    found = frozenset(action for code, actions in catalog.items() if matches(service or "*", code)
                      for action in actions if matches(pattern, action))
    service_is_known = bool(service) and not any(ch in service for ch in "*?") and service.lower() in catalog
    return found, not service_is_known


# ----------------------------------------------------------------------------------------- refresh
def from_sdks() -> dict[str, list[str]]:
    """Every API operation of each installed SDK in SDK_MODULES (development only)."""
    import importlib
    import inspect
    import re

    services = {}
    for code, module in SDK_MODULES.items():
        source = inspect.getsource(importlib.import_module(f"{module}.client"))
        services[code] = sorted(set(re.findall(r"action\s*=\s*'([A-Za-z0-9]+)'", source)))
    return services


def sdk_versions() -> dict[str, str]:
    from importlib import metadata

    return {module: metadata.version(module.replace("_", "-")) for module in SDK_MODULES.values()}


def main() -> None:
    CATALOG_FILE.write_text(json.dumps({"source": sdk_versions(), "services": from_sdks()}, indent=1) + "\n", "utf-8")
    print(f"wrote {CATALOG_FILE}")


if __name__ == "__main__":
    main()
