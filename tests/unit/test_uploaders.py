"""The bucket-policy lock of approved uploaders, judged from plain data (shared.uploaders.judge_lock)."""
from __future__ import annotations

import pytest

from shared.settings import Guardrails, Settings
from shared.uploaders import WRITE_ACTIONS, judge_lock, lock_policy

ACCOUNT = "1234567890123456"
SETTINGS = Settings(account_id=ACCOUNT, bucket="rolepact-data",
                    guardrails=Guardrails(approved_uploaders=frozenset({"200000000000000001"})))
USERS = [("carol", "200000000000000001"), ("mallory", "200000000000000002")]
AGREEMENTS = f"acs:oss:*:{ACCOUNT}:rolepact-data/agreements/*"


def test_the_printed_lock_is_enforced_and_names_only_the_unapproved():
    policy = lock_policy(SETTINGS, [uid for _, uid in USERS])
    assert judge_lock(SETTINGS, policy, USERS).enforced
    assert policy["Statement"][0]["Principal"] == ["200000000000000002"]


def test_a_new_ram_user_makes_the_lock_stale():
    policy = lock_policy(SETTINGS, [uid for _, uid in USERS])
    check = judge_lock(SETTINGS, policy, USERS + [("eve", "200000000000000003")])
    assert not check.enforced and any("eve" in p for p in check.problems)


def deny(principals, actions=WRITE_ACTIONS, **more) -> dict:
    return {"Effect": "Deny", "Action": list(actions), "Principal": principals, "Resource": [AGREEMENTS], **more}


@pytest.mark.parametrize("statements, words", [
    ([], "no unconditional bucket-policy Deny keeps role sessions"),
    ([deny(["arn:sts::*:*/*/*"])], "mallory"),
    ([deny(["200000000000000002"]), deny(["arn:sts::*:assumed-role/ops/*"])], "role sessions"),
    ([deny(["200000000000000002", "arn:sts::*:*/*/*"], actions=("oss:PutObject", "oss:DeleteObject"))], "mallory"),
    ([deny(["*"], Condition={"StringNotEquals": {"acs:PrincipalArn": ["acs:ram::1:user/carol"]}})], "mallory"),
    ([deny(["200000000000000002", "arn:sts::*:*/*/*"]),
      {"Effect": "Allow", "Action": "oss:*", "Principal": ["*"], "Resource": AGREEMENTS}], "Allow"),
])
def test_incomplete_or_conditional_locks_are_not_enforced(statements, words):
    check = judge_lock(SETTINGS, {"Version": "1", "Statement": statements}, USERS)
    assert not check.enforced and any(words in p for p in check.problems), check.problems


@pytest.mark.parametrize("policy", [None, [], "x", {"Statement": "x"}, {"Statement": [1, None, "s"]},
                                    {"Statement": [{"Effect": "Deny", "Principal": {"RAM": ["x"]}, "Action": 3}]},
                                    {"Statement": [{"Effect": "Allow", "Principal": [{"x": 1}], "Action": "oss:*",
                                                    "Resource": "*"}]}])
def test_any_policy_shape_is_judged_without_crashing(policy):
    assert not judge_lock(SETTINGS, policy, USERS).enforced


def test_wildcards_cover_the_actions_and_the_agreements():
    policy = {"Version": "1", "Statement": [{"Effect": "Deny", "Action": ["oss:Put*", "oss:Delete*"],
                                             "Principal": ["200000000000000002", "arn:sts::*:*/*/*"],
                                             "Resource": "acs:oss:*:*:rolepact-data/*"}]}
    assert judge_lock(SETTINGS, policy, USERS).enforced
