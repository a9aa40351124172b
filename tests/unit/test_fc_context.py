"""shared.fc_context reads the contexts FC 2.0 and FC 3.0 pass (as the fake builds them for each runtime)."""
from __future__ import annotations

import json

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.models import Config

from fakecloud import mock_cloud
from shared.fc_context import account_id_of, credentials_of, function_name_of, request_id_of

ACCOUNT = "1234567890123456"
ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.env", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s",
       "ALIBABA_CLOUD_SECURITY_TOKEN": "t"}


@pytest.fixture
def fc():
    with mock_cloud() as cloud:
        root = cloud.add_account(ACCOUNT)
        trust = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": ["fc.aliyuncs.com"]}}]}
        RamClient(Config(access_key_id=root.access_key_id, access_key_secret=root.access_key_secret,
                         region_id="cn-hangzhou")).create_role(ram_models.CreateRoleRequest(
            role_name="fn-role", assume_role_policy_document=json.dumps(trust)))
        yield cloud.backend("fc")


@pytest.mark.parametrize("platform", ["fc2", "fc3-python3.10"])
def test_role_credentials_come_from_the_context(fc, platform):
    if platform == "fc2":
        spec = fc.register_function(ACCOUNT, "rolepact", "worker", print, service_role="fn-role")
    else:
        spec = fc.create_function(ACCOUNT, "worker", print, role="fn-role")
    context = fc.context_for(spec, "req-1")
    creds = credentials_of(context, ENV)
    assert creds.access_key_id.startswith("STS.") and creds.access_key_id != "STS.env" and creds.security_token
    assert (request_id_of(context), function_name_of(context, "x"), account_id_of(context)) == (
        "req-1", "worker", ACCOUNT)


def test_python312_on_fc3_reads_the_credentials_from_the_environment(fc):
    spec = fc.create_function(ACCOUNT, "worker", print, role="fn-role", runtime="python3.12")
    context = fc.context_for(spec, "req-2")
    assert not hasattr(context, "credentials") and not hasattr(context, "service")
    assert credentials_of(context, ENV).access_key_id == "STS.env"
    assert credentials_of(context, {}) is None
    assert (request_id_of(context), function_name_of(context, "x"), account_id_of(context)) == (
        "req-2", "worker", ACCOUNT)
