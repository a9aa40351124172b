"""The kill switch: an object `control/revoke-partner/<uid>` bans partner `<uid>`.

One parser for every reader (the enforcer ends the partner's live agreements; intake refuses new
ones; `rolepact revoke` writes the canonical spelling), so that no spelling bans in one place and
not in the other. These all mean the same ban of partner 1345678901234567:

    control/revoke-partner/1345678901234567          (canonical, what `rolepact revoke` writes)
    control/revoke-partner/1345678901234567/         (a "folder", as consoles create)
    control/revoke-partner/1345678901234567/why.txt  (anything inside that folder)
    control//revoke-partner///1345678901234567       (repeated slashes anywhere)
    Control/Revoke-Partner/1345678901234567.json     (any case, an extension)
    control/revoke-partner/1345678901234567-company-b (the account id, then anything but a digit)

An object under `control/revoke-partner/` (any case) whose name does not start with a 16-digit account
id — an alias, a typo — bans nobody, since rolepact cannot know whom it means; it is *unreadable*, and
the enforcer tells the owner at once instead of letting them believe the partner is out.
"""
from __future__ import annotations

import re

from shared.records import CONTROL_REVOKE

CONTROL = "control/"
_UID = re.compile(r"\s*([0-9]{16})(?![0-9])")  # an Alibaba Cloud account id, as agreements name partners
_LISTED = ("c", "C")  # every letter case of `control/` starts so; rolepact writes nothing else there


def _parse(key: str) -> tuple[bool, str | None]:
    """(is an object inside control/revoke-partner/ in any spelling, the partner it bans or None)."""
    parts = [part for part in key.split("/") if part]
    if len(parts) < 3 or parts[0].lower() != "control" or parts[1].lower() != "revoke-partner":
        return False, None
    found = _UID.match(parts[2])
    return True, (found.group(1) if found else None)


def banned_partner(key: str) -> str | None:
    """The partner account a control object bans, or None if the key is no kill switch."""
    return _parse(key)[1]


def scan(store) -> tuple[dict[str, list[str]], list[str]]:
    """(every banned partner -> the control objects that ban it (sorted), the kill-switch objects that ban
    nobody because their name holds no account id), from one listing per letter case of `control/`."""
    found: dict[str, list[str]] = {}
    unreadable: list[str] = []
    for prefix in _LISTED:
        for key in store.iter_keys(prefix):
            is_switch, partner = _parse(key)
            if partner is not None:
                found.setdefault(partner, []).append(key)
            elif is_switch:
                unreadable.append(key)
    return {partner: sorted(keys) for partner, keys in found.items()}, sorted(unreadable)


def kill_switches(store) -> dict[str, list[str]]:
    """Every banned partner -> the control objects that ban it (sorted)."""
    return scan(store)[0]


def is_banned(store, partner_account_id: str) -> bool:
    return partner_account_id in kill_switches(store)


def canonical_key(partner_account_id: str) -> str:
    return f"{CONTROL_REVOKE}{partner_account_id}"
