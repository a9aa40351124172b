"""README's description of the trust and guard policies is the documents rolepact writes (shared/documents.py).

Built for the largest agreement (a window, networks, MFA) and a deployment outside the naming scheme, every
statement of the guard and every condition of the trust policy must be named in README's paragraph "What
rolepact creates for it" — and nothing that paragraph names as denied may be missing from the guard.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from shared.agreements.parse import parse_agreement
from shared.agreements.schema import EXAMPLE_AGREEMENT
from shared.documents import CONTROL_PLANE_ACTIONS, control_plane_denials, guard_policy, trust_policy

README = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
PARAGRAPH = " ".join(README[README.index("What rolepact creates for it"):README.index("## How it runs")].split())


def _agreement(**conditions):
    doc = copy.deepcopy(EXAMPLE_AGREEMENT)
    doc["conditions"] = conditions
    return parse_agreement(json.dumps(doc).encode("utf-8"), key="agreements/x.json")


def test_every_statement_of_the_guard_is_described():
    agreement = _agreement(requireMfa=True, sourceIpRanges=["203.0.113.0/24"])
    guard = guard_policy(agreement, control_plane_denials("1234567890123456", "acme-data", "acme", "rolepact"))
    described = {
        "DateLessThan": "before `startsAt`", "DateGreaterThanEquals": "from `expiresAt`",
        "NotIpAddressIfExists": "from outside `sourceIpRanges` (or without a public source address)",
        "BoolIfExists": "with `requireMfa`, without MFA",
    }
    for statement in guard["Statement"]:
        assert statement["Effect"] == "Deny"
        if "Condition" in statement:
            [operator] = statement["Condition"]
            assert described[operator] in PARAGRAPH, operator
        elif statement["Action"] == "sts:AssumeRole":
            assert "`sts:AssumeRole` of any role of A" in PARAGRAPH
        elif statement["Action"] == "oss:*":
            assert "bucket" in PARAGRAPH and "ROLEPACT_DEPLOYMENT_PREFIX" in PARAGRAPH and "own bucket" in PARAGRAPH
        elif statement["Action"] == "fc:*":
            assert "FC functions" in PARAGRAPH and "FC service also by name" in PARAGRAPH
        else:
            assert statement["Action"] == list(CONTROL_PLANE_ACTIONS)
    named = set(re.findall(r"`([a-z]+:[A-Za-z*]+)`", PARAGRAPH)) - {"sts:ExternalId", "sts:AssumeRole", "acs:SourceIp",
                                                                      "acs:MFAPresent"}
    for action in CONTROL_PLANE_ACTIONS:
        short = action.split(":", 1)[1]
        assert f"`{action}`" in PARAGRAPH or f"`{short}`" in PARAGRAPH, action
    assert named <= set(CONTROL_PLANE_ACTIONS), named - set(CONTROL_PLANE_ACTIONS)


def test_the_trust_policy_is_described():
    plain = trust_policy(_agreement(externalId="b-7f3a9c-long"))
    [statement] = plain["Statement"]
    assert statement["Action"] == "sts:AssumeRole" and list(statement["Condition"]) == ["StringEquals"]
    assert list(statement["Condition"]["StringEquals"]) == ["sts:ExternalId"]
    assert "on the agreed `sts:ExternalId` if there is one" in PARAGRAPH
    assert "Condition" not in trust_policy(_agreement())["Statement"][0]
    extended = trust_policy(_agreement(requireMfa=True, sourceIpRanges=["203.0.113.0/24"]), extended=True)
    keys = {key for block in extended["Statement"][0]["Condition"].values() for key in block}
    assert keys == {"acs:CurrentTime", "acs:MFAPresent", "acs:SourceIp"}
    assert "`ROLEPACT_TRUST_EXTRA_CONDITIONS=true` also the window, `acs:SourceIp` and `acs:MFAPresent`" in PARAGRAPH
