"""Grammar of RAM policy documents: what RAM's CreatePolicy / CreateRole would reject.

Validation is strict on purpose: a fake that accepts documents the real service
refuses lets broken policies pass tests.  Every error names the element at fault,
e.g. ``Statement[1].Effect must be Allow or Deny``.

Document kinds:

* ``identity`` -- custom/system policies attached to users, groups and roles.
* ``session``  -- the Policy parameter of AssumeRole; same grammar as identity.
* ``trust``    -- a role's AssumeRolePolicyDocument: statements name a Principal and
  have no Resource (RAM rejects Resource/NotResource there, and so do we).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fakecloud.iam.policy.conditions import Condition, ConditionError, compile_conditions

__all__ = [
    "KINDS",
    "PolicyGrammarError",
    "PrincipalSpec",
    "StatementSpec",
    "check_policy",
    "load_document",
    "validate_policy_document",
]

KINDS = ("identity", "trust", "session")

_TOP_LEVEL_KEYS = {"Version", "Statement"}
_STATEMENT_KEYS = {"Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "Condition"}
_PRINCIPAL_KEYS = ("RAM", "Service", "Federated")

# "ecs:StopInstance", "ecs:Describe*", "*"; service and name non-empty, one colon.
_ACTION_RE = re.compile(r"\*|[^:\s]+:[^:\s]+")
# RAM principal: "*", a bare account id, or acs:ram:<region?>:<account>:<root|user/..|role/..>
_RAM_PRINCIPAL_RE = re.compile(r"\*|[0-9*?]+|acs:ram:[^:]*:[^:]+:\S+", re.IGNORECASE)


class PolicyGrammarError(ValueError):
    """The document is not a valid RAM policy; str(error) says which element and why."""


@dataclass(frozen=True)
class PrincipalSpec:
    """The Principal element of a trust statement, normalised to tuples of patterns."""

    ram: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatementSpec:
    """One validated statement, normalised: scalars become 1-tuples, conditions compiled."""

    index: int
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None  # None in trust statements
    not_resource: bool
    principal: PrincipalSpec | None  # only in trust statements
    conditions: tuple[Condition, ...]


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """json object hook: a repeated key would silently drop a statement element."""
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise PolicyGrammarError(f"duplicate key {key!r} in policy document")
        result[key] = value
    return result


def load_document(document: str | bytes | dict, *, max_length: int | None = None) -> dict:
    """JSON-parse a document (dicts pass through) and check its length and top-level type."""
    if isinstance(document, (bytes, bytearray)):
        document = document.decode("utf-8")
    if not isinstance(document, (str, dict)):
        raise PolicyGrammarError(f"policy document must be a JSON string or dict, got {type(document).__name__}")
    if max_length is not None:
        text = document if isinstance(document, str) else json.dumps(document, separators=(",", ":"),
                                                                      ensure_ascii=False)
        if len(text) > max_length:
            raise PolicyGrammarError(
                f"policy document is {len(text)} characters, exceeding the limit of {max_length}")
    if isinstance(document, dict):
        return document
    if not document.strip():
        raise PolicyGrammarError("policy document is empty")
    try:
        doc = json.loads(document, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise PolicyGrammarError(f"policy document is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PolicyGrammarError("policy document must be a JSON object")
    return doc


def _string_list(value: object, where: str) -> tuple[str, ...]:
    """A string or non-empty list of non-empty strings, as a tuple."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyGrammarError(f"{where} must not be an empty list")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            label = f"{where}[{i}]" if isinstance(value, list) else where
            raise PolicyGrammarError(f"{label} must be a non-empty string, got {item!r}")
    return tuple(items)


def _one_of(stmt: dict, plain: str, negated: str, where: str) -> tuple[str, bool] | None:
    """Which of e.g. Action/NotAction the statement uses; both at once is an error."""
    if plain in stmt and negated in stmt:
        raise PolicyGrammarError(f"{where} must have exactly one of {plain} or {negated}, not both")
    if plain in stmt:
        return plain, False
    if negated in stmt:
        return negated, True
    return None


def _check_principal(value: object, where: str) -> PrincipalSpec:
    if not isinstance(value, dict) or not value:
        raise PolicyGrammarError(f"{where} must be an object with RAM, Service or Federated")
    found: dict[str, tuple[str, ...]] = {}
    for key, entries in value.items():
        if key not in _PRINCIPAL_KEYS:
            raise PolicyGrammarError(f"{where}: unknown principal type {key!r} (expected RAM, Service or Federated)")
        found[key] = _string_list(entries, f"{where}.{key}")
    for entry in found.get("RAM", ()):
        if not _RAM_PRINCIPAL_RE.fullmatch(entry):
            raise PolicyGrammarError(
                f"{where}.RAM: invalid principal {entry!r} "
                "(expected an account id or acs:ram::<account-id>:root|user/<name>|role/<name>)")
    return PrincipalSpec(found.get("RAM", ()), found.get("Service", ()), found.get("Federated", ()))


def _check_statement(stmt: object, index: int, kind: str) -> StatementSpec:
    where = f"Statement[{index}]"
    if not isinstance(stmt, dict):
        raise PolicyGrammarError(f"{where} must be an object")
    for key in stmt:
        if key not in _STATEMENT_KEYS:
            raise PolicyGrammarError(f"{where}: unknown key {key!r}")

    if "Effect" not in stmt:
        raise PolicyGrammarError(f"{where}.Effect is required")
    effect = stmt["Effect"]
    if effect not in ("Allow", "Deny"):
        raise PolicyGrammarError(f"{where}.Effect must be Allow or Deny, got {effect!r}")

    action_key = _one_of(stmt, "Action", "NotAction", where)
    if action_key is None:
        raise PolicyGrammarError(f"{where} must have exactly one of Action or NotAction")
    name, not_action = action_key
    actions = _string_list(stmt[name], f"{where}.{name}")
    for action in actions:
        if not _ACTION_RE.fullmatch(action):
            raise PolicyGrammarError(f"{where}.{name}: invalid action {action!r} (expected \"service:Action\" or \"*\")")

    resource_key = _one_of(stmt, "Resource", "NotResource", where)
    resources: tuple[str, ...] | None = None
    not_resource = False
    if kind == "trust":
        if resource_key is not None:
            raise PolicyGrammarError(f"{where}.{resource_key[0]} is not allowed in a trust policy")
    else:
        if resource_key is None:
            raise PolicyGrammarError(f"{where} must have exactly one of Resource or NotResource")
        name, not_resource = resource_key
        resources = _string_list(stmt[name], f"{where}.{name}")
        for resource in resources:
            if resource.strip("*") and not resource.startswith("acs:"):
                raise PolicyGrammarError(
                    f"{where}.{name}: invalid resource {resource!r} (expected \"*\" or an ARN starting with acs:)")

    principal: PrincipalSpec | None = None
    if kind == "trust":
        if "Principal" not in stmt:
            raise PolicyGrammarError(f"{where}.Principal is required in a trust policy")
        principal = _check_principal(stmt["Principal"], f"{where}.Principal")
    elif "Principal" in stmt:
        raise PolicyGrammarError(f"{where}.Principal is only allowed in a trust policy")

    conditions: tuple[Condition, ...] = ()
    if "Condition" in stmt:
        try:
            conditions = compile_conditions(stmt["Condition"])
        except ConditionError as exc:
            raise PolicyGrammarError(f"{where}.Condition: {exc}") from None

    return StatementSpec(index, effect, actions, not_action, resources, not_resource, principal, conditions)


def check_policy(doc: dict, kind: str = "identity") -> tuple[StatementSpec, ...]:
    """Validate a parsed document of the given kind; return its normalised statements."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not isinstance(doc, dict):
        raise PolicyGrammarError("policy document must be a JSON object")
    for key in doc:
        if key not in _TOP_LEVEL_KEYS:
            raise PolicyGrammarError(f"unknown top-level key {key!r} (expected Version and Statement)")
    if "Version" not in doc:
        raise PolicyGrammarError('Version must be "1" (missing)')
    if doc["Version"] != "1":
        raise PolicyGrammarError(f'Version must be "1", got {doc["Version"]!r}')
    if "Statement" not in doc:
        raise PolicyGrammarError("Statement is required")
    statements = doc["Statement"]
    if not isinstance(statements, list):
        raise PolicyGrammarError("Statement must be a list of statement objects")
    if not statements:
        raise PolicyGrammarError("Statement must not be an empty list")
    return tuple(_check_statement(stmt, i, kind) for i, stmt in enumerate(statements))


def validate_policy_document(document: str | dict, *, kind: str = "identity",
                             max_length: int | None = None) -> dict:
    """Parse and validate a document as RAM would on CreatePolicy/CreateRole; return the dict.

    `max_length` is the caller's quota (RAM counts characters of the submitted text).
    Raises `PolicyGrammarError` with a message naming the problem.
    """
    doc = load_document(document, max_length=max_length)
    check_policy(doc, kind)
    return doc
