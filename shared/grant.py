"""What an agreement grants, summarised by service: the text approvers read in the "granted" notice.

Built from every Allow statement of the agreed policies — custom documents from the file, system
policies as RAM returns them — so that nothing is hidden behind a policy name or a cut-off line.
Every service is always listed; within a service, actions are listed in full unless the whole
summary would not fit a message, then the broadest patterns come first and the rest is counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.agreements.model import Agreement
from shared.notify import md_code

MAX_SUMMARY_CHARS = 6000  # a granted notice also carries the onboarding pack; DingTalk takes 20 000 bytes
COMPACT_ACTIONS = 12  # per service, when the full list does not fit


@dataclass
class ServiceGrant:
    service: str  # "ecs"; "*" when a pattern reaches every service
    actions: dict[str, None] = field(default_factory=dict)  # patterns in order, deduplicated case-insensitively
    resources: dict[str, None] = field(default_factory=dict)
    sources: dict[str, None] = field(default_factory=dict)  # policy names
    conditional: bool = False  # some of it only under a Condition

    def add(self, action: str, resources: list[str], source: str, conditional: bool) -> None:
        if action.lower() not in {a.lower() for a in self.actions}:
            self.actions[action] = None
        self.resources.update(dict.fromkeys(resources))
        self.sources[source] = None
        self.conditional |= conditional

    def to_dict(self) -> dict:
        return {"service": self.service, "actions": list(self.actions), "resources": list(self.resources),
                "policies": list(self.sources), "conditional": self.conditional}


def effective_grant(agreement: Agreement, system_documents: dict[str, dict | None]) -> list[ServiceGrant]:
    """The Allow statements of every agreed policy, by service (sorted; `*` first).

    `system_documents`: name -> the document RAM returns for the system policy (None: unreadable, then
    the policy is listed by name under "(unread)")."""
    by_service: dict[str, ServiceGrant] = {}

    def add(statement: dict, source: str) -> None:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            return
        resources = string_list(statement.get("Resource")) or (
            [f"everything except {', '.join(string_list(statement.get('NotResource')))}"]
            if "NotResource" in statement else ["*"])
        conditional = bool(statement.get("Condition"))
        if "NotAction" in statement:
            grant = by_service.setdefault("*", ServiceGrant("*"))
            grant.add(f"every action except {', '.join(string_list(statement.get('NotAction')))}", resources, source,
                      conditional)
            return
        for action in string_list(statement.get("Action")):
            service = action.rpartition(":")[0].lower() or "*"
            by_service.setdefault(service, ServiceGrant(service)).add(action, resources, source, conditional)

    for policy in agreement.policies:
        if policy.type == "Custom":
            document = policy.document
        else:
            document = system_documents.get(policy.name)
            if not isinstance(document, dict):
                by_service.setdefault("(unread)", ServiceGrant("(unread)")).add(policy.name, [], policy.name, False)
                continue
        statements = document.get("Statement")
        for statement in statements if isinstance(statements, list) else [statements]:
            add(statement, policy.name)
    return sorted(by_service.values(), key=lambda g: (g.service != "*", g.service))


def grant_markdown(grants: list[ServiceGrant]) -> str:
    """One line per service: `service` (policies): actions on resources. Untrusted text is code-quoted."""
    full = _render(grants, compact=False)
    return full if len(full) <= MAX_SUMMARY_CHARS else _render(grants, compact=True)


def _render(grants: list[ServiceGrant], *, compact: bool) -> str:
    if not grants:
        return "- (nothing)"
    lines = []
    for grant in grants:
        actions = sorted(grant.actions, key=lambda a: ("*" not in a and "?" not in a, a.lower()))
        shown = actions[:COMPACT_ACTIONS] if compact else actions
        more = f" … and {len(actions) - len(shown)} more" if len(shown) < len(actions) else ""
        resources = list(grant.resources)
        where = "" if resources in ([], ["*"]) else " on " + ", ".join(f"`{md_code(r)}`" for r in resources[:5]) + (
            f" and {len(resources) - 5} more" if len(resources) > 5 else "")
        condition = " (some only under conditions)" if grant.conditional else ""
        name = "every service" if grant.service == "*" else grant.service
        lines.append(f"- **{md_code(name)}** ({', '.join(md_code(s) for s in grant.sources)}): "
                     f"{len(actions)} action pattern{'s' if len(actions) != 1 else ''}: "
                     + ", ".join(f"`{md_code(a)}`" for a in shown) + more + where + condition)
    return "\n".join(lines)


def string_list(value) -> list[str]:
    """A policy field's strings: RAM takes one string or a list; anything else in it is ignored."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
