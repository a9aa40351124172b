"""Shared setup of the gateway tests: an owner account, its Settings, and identities.

Everything the gateways do goes through the official SDKs into fakecloud; these helpers
only create accounts, users and roles the way an administrator would.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.models import Config

from fakecloud import mock_cloud
from shared.gateways import Gateways
from shared.settings import Credentials, Settings

OWNER = "1234567890123456"
PARTNER = "1345678901234567"
BUCKET = "rolepact-data"

__all__ = ["OWNER", "PARTNER", "BUCKET", "Sleeps", "settings_for", "make_user", "trust", "allow", "owner",
           "cloud", "ram_models"]


class Sleeps(list):
    """Settings.sleep that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def settings_for(creds, account_id: str = OWNER, **overrides) -> Settings:
    settings = Settings(account_id=account_id,
                        credentials=Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token),
                        sleep=Sleeps())
    return replace(settings, **overrides) if overrides else settings


def make_user(root, name: str, *system_policies: str):
    """A RAM user of root's account with an access key and the given system policies."""
    client = RamClient(Config(access_key_id=root.access_key_id, access_key_secret=root.access_key_secret,
                              region_id="cn-hangzhou"))
    client.create_user(ram_models.CreateUserRequest(user_name=name))
    for policy in system_policies:
        client.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="System", policy_name=policy, user_name=name))
    key = client.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    return Credentials(key.access_key_id, key.access_key_secret)


def trust(*principals: str, condition: dict | None = None) -> dict:
    statement = {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"RAM": list(principals)}}
    if condition:
        statement["Condition"] = condition
    return {"Version": "1", "Statement": [statement]}


def allow(action, resource="*") -> dict:
    return {"Version": "1", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}


@pytest.fixture
def cloud():
    with mock_cloud() as cloud:
        yield cloud


@pytest.fixture
def owner(cloud):
    """(root credentials, Settings, Gateways) of the owner account, with its data bucket."""
    root = cloud.add_account(OWNER, "owner-co")
    cloud.backend("oss").create_bucket_direct(OWNER, BUCKET)
    settings = settings_for(root)
    return root, settings, Gateways.connect(settings)
