"""Review: rolepact never modifies or deletes a RAM policy it did not create, even when a human gave
it a name in rolepact's `rp-<hash>-` namespace (which the service role may write)."""
from __future__ import annotations

import json

from alibabacloud_ram20150501 import models as ram_models
from conftest import (SEED_ID, SEED_KEY, attached, custom_policy_names, get_role, policy_document, ram, ram_writes,
                      seed)

from shared.documents import custom_policy_name

HUMAN_DOC = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"}]}


def human_policy(stage, name: str, *, user: str | None = "bob") -> None:
    """A's administrator creates a policy by hand (no rolepact mark) and gives it to a user."""
    client = ram(stage.owner)
    client.create_policy(ram_models.CreatePolicyRequest(policy_name=name, policy_document=json.dumps(HUMAN_DOC),
                                                        description="made by hand"))
    if user is None:
        return
    client.create_user(ram_models.CreateUserRequest(user_name=user))
    client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(policy_type="Custom", policy_name=name,
                                                                      user_name=user))


def test_review_a_hand_made_policy_with_an_agreements_policy_name_is_not_taken_over(stage):
    name = custom_policy_name(SEED_ID, "ecs-restart-web")
    human_policy(stage, name)
    writes = ram_writes(stage.cloud)

    stage.upload(SEED_KEY, seed())
    assert policy_document(stage, name) == HUMAN_DOC  # not rewritten with the agreement's document
    assert ("Custom", name) not in (attached(stage) if get_role(stage) else set())
    status = stage.status(SEED_ID)
    assert status["state"] == "rejected", status
    assert any(name in e["message"] and "not created by rolepact" in e["message"] for e in status["errors"])
    assert ram_writes(stage.cloud) == writes  # refused before any write


def test_review_ending_an_agreement_never_deletes_a_hand_made_policy_attached_to_its_role(stage):
    stage.upload(SEED_KEY, seed())
    extra = custom_policy_name(SEED_ID, "extra")  # a human's policy in rolepact's namespace ...
    human_policy(stage, extra, user=None)
    ram(stage.owner).attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(  # ... added to the role by hand
        policy_type="Custom", policy_name=extra, role_name=seed()["role"]["name"]))

    stage.delete(SEED_KEY)
    assert get_role(stage) is None
    assert extra in custom_policy_names(stage)  # detached from the role, but not deleted
    assert policy_document(stage, extra) == HUMAN_DOC
