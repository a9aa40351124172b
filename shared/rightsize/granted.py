"""What an agreement grants: its policies' documents, the actions they allow, counted.

System policies are judged by the document RAM returns for them (GetPolicy, the default
version), custom ones by the document as written in the agreement. For "used 2 of N":

- N of a policy = the known actions (catalog.py) its Allow statements grant, plus every
  exact action name it lists, minus what a Deny statement of the same policy takes away
  everywhere (no Condition, Resource `*`). Resources and conditions do not change N: an
  action granted on one instance is granted.
- Patterns that cannot be counted (a wildcard on a service without a catalogue, NotAction)
  are listed as uncounted, so a report says "of at least N".
- N of the agreement = the same over the union of its policies.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.agreements.guardrails import _matches as matches  # RAM's wildcard match, linear time
from shared.agreements.model import Agreement
from shared.grant import string_list as as_list
from shared.rightsize.catalog import expand, known_actions


def statements(document: dict | None) -> list[dict]:
    """The well-formed statements of a policy document (RAM's may hold one statement, not a list)."""
    if not isinstance(document, dict):
        return []
    found = document.get("Statement")
    return [s for s in (found if isinstance(found, list) else [found])
            if isinstance(s, dict) and s.get("Effect") in ("Allow", "Deny")]


def names_action(statement: dict, action: str) -> bool:
    """True when the statement's Action (or NotAction) covers `action`."""
    if "NotAction" in statement:
        return not any(matches(p, action) for p in as_list(statement["NotAction"]))
    return any(matches(p, action) for p in as_list(statement.get("Action")))


def _denies_everywhere(statement: dict) -> bool:
    return (statement["Effect"] == "Deny" and "Condition" not in statement and "NotAction" not in statement
            and "*" in as_list(statement.get("Resource")))


@dataclass(frozen=True)
class GrantedPolicy:
    type: str  # System | Custom
    name: str
    document: dict | None  # None: RAM did not return it (unknown, or not readable)
    known: frozenset[str]  # the counted actions it grants
    uncounted: tuple[str, ...]  # patterns it grants that cannot be counted

    @property
    def count(self) -> int:
        return len(self.known)

    def allowing(self, action: str) -> list[dict]:
        return [s for s in statements(self.document) if s["Effect"] == "Allow" and names_action(s, action)]

    def denying(self, action: str) -> list[dict]:
        return [s for s in statements(self.document) if s["Effect"] == "Deny" and names_action(s, action)]

    def grants(self, action: str) -> bool:
        return bool(self.allowing(action))

    def to_dict(self) -> dict:
        return {"type": self.type, "name": self.name, "actions": self.count, "uncounted": list(self.uncounted),
                "readable": self.document is not None}


def count_document(document: dict | None) -> tuple[frozenset[str], tuple[str, ...]]:
    """(known actions granted, uncounted patterns) of one document."""
    known: set[str] = set()
    uncounted: list[str] = []
    found = statements(document)
    for statement in found:
        if statement["Effect"] != "Allow":
            continue
        if "NotAction" in statement:
            everything = {a for actions in known_actions().values() for a in actions}
            known |= {a for a in everything if names_action(statement, a)}
            uncounted.append("NotAction " + ",".join(as_list(statement["NotAction"])))
            continue
        for pattern in as_list(statement.get("Action")):
            actions, open_ended = expand(pattern)
            known |= actions
            if open_ended and pattern not in uncounted:
                uncounted.append(pattern)
    removed = {a for a in known for s in found if _denies_everywhere(s) and names_action(s, a)}
    return frozenset(known - removed), tuple(uncounted)


def granted_policies(agreement: Agreement, system_documents: Mapping[str, dict | None]) -> list[GrantedPolicy]:
    """The agreement's policies in file order; `system_documents`: name -> the document RAM returned."""
    granted = []
    for policy in agreement.policies:
        document = policy.document if policy.type == "Custom" else system_documents.get(policy.name)
        known, uncounted = count_document(document)
        if document is None:
            uncounted = ("(document not readable)",)
        granted.append(GrantedPolicy(policy.type, policy.name, document, known, uncounted))
    return granted


def total(policies: Iterable[GrantedPolicy]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(known actions any of the policies grants, uncounted patterns of any), for the whole agreement."""
    policies = list(policies)
    known = frozenset().union(*(p.known for p in policies)) if policies else frozenset()
    uncounted = tuple(dict.fromkeys(u for p in policies for u in p.uncounted))
    return known, uncounted
