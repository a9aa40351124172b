"""The kill switch: an object `control/revoke-partner/<uid>` bans partner `<uid>`.

One parser for every reader (the enforcer ends the partner's live agreements; intake refuses new
ones; `rolepact revoke` writes the canonical spelling), so that no spelling bans in one place and
not in the other. These all mean the same ban of partner 1345678901234567:

    control/revoke-partner/1345678901234567          (canonical, what `rolepact revoke` writes)
    control/revoke-partner/1345678901234567/         (a "folder", as consoles create)
    control/revoke-partner/1345678901234567/why.txt  (anything inside that folder)
    control//revoke-partner///1345678901234567       (repeated slashes anywhere)
    control/Revoke-Partner/1345678901234567.json     (any case, an extension)

The `control/` folder itself is spelled exactly so (OSS lists keys case-sensitively).
"""
from __future__ import annotations

import re

from shared.records import CONTROL_REVOKE

CONTROL = "control/"
_UID = re.compile(r"[0-9]{1,32}")


def banned_partner(key: str) -> str | None:
    """The partner account a control object bans, or None if the key is no kill switch."""
    parts = [part for part in key.split("/") if part]
    if len(parts) < 3 or parts[0] != "control" or parts[1].lower() != "revoke-partner":
        return None
    uid = parts[2].split(".", 1)[0].strip()
    return uid if _UID.fullmatch(uid) else None


def kill_switches(store) -> dict[str, list[str]]:
    """Every banned partner -> the control objects that ban it (sorted), from one listing of `control/`."""
    found: dict[str, list[str]] = {}
    for key in store.iter_keys(CONTROL):
        partner = banned_partner(key)
        if partner is not None:
            found.setdefault(partner, []).append(key)
    return found


def is_banned(store, partner_account_id: str) -> bool:
    return partner_account_id in kill_switches(store)


def canonical_key(partner_account_id: str) -> str:
    return f"{CONTROL_REVOKE}{partner_account_id}"
